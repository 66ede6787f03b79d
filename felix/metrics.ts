/**
 * The agent's Prometheus metrics (prom-client, own registry). Gauges that mirror state are filled at
 * scrape time from a snapshot the agent provides, so they can never lag behind what status shows.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface MetricsSnapshot {
  readonly ready: boolean;
  readonly datastoreUp: boolean;
  readonly watchLagSeconds: number | undefined;
  readonly localEndpoints: number;
  readonly routes: { readonly local: number; readonly learned: number; readonly stale: number };
  readonly peers: readonly {
    readonly address: string;
    readonly state: string;
    readonly prefixesReceived: number;
    readonly prefixesAdvertised: number;
  }[];
  readonly policy: {
    readonly policies: number;
    readonly sets: number;
    readonly setElements: number;
    readonly rules: number;
  };
}

export const BGP_STATES = ["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"] as const;

export class FelixMetrics {
  readonly registry = new Registry();
  readonly programming: Histogram<"what">;
  readonly errors: Counter<"kind">;
  readonly repairs: Counter<"what">;
  readonly resyncs: Counter;
  private snapshot: () => MetricsSnapshot = () => ({
    ready: false,
    datastoreUp: false,
    watchLagSeconds: undefined,
    localEndpoints: 0,
    routes: { local: 0, learned: 0, stale: 0 },
    peers: [],
    policy: { policies: 0, sets: 0, setElements: 0, rules: 0 },
  });
  private drops: () => Promise<Map<string, number>> = () => Promise.resolve(new Map<string, number>());

  constructor() {
    const registers = [this.registry];
    // The process's own figures (CPU, heap, GC pauses, event-loop lag): a latency tail is read off
    // nodejs_gc_duration_seconds and nodejs_eventloop_lag_* before anyone attaches a profiler.
    collectDefaultMetrics({ register: this.registry });
    this.programming = new Histogram({
      name: "tortie_felix_programming_seconds",
      help: "From a datastore event (or resync) to the kernel programmed, by what was programmed",
      labelNames: ["what"],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers,
    });
    this.errors = new Counter({
      name: "tortie_felix_errors_total",
      help: "Errors by kind (datastore, routes, nft, nat, sysctl, bgp, validation)",
      labelNames: ["kind"],
      registers,
    });
    this.repairs = new Counter({
      name: "tortie_felix_drift_repairs_total",
      help: "Kernel state found different from the desired state at a resync and repaired",
      labelNames: ["what"],
      registers,
    });
    this.resyncs = new Counter({
      name: "tortie_felix_resyncs_total",
      help: "Periodic resyncs run",
      registers,
    });
    // prom-client calls collect() with the metric as `this`: the agent's state comes through these.
    const snap = (): MetricsSnapshot => this.snapshot();
    const drops = (): Promise<Map<string, number>> => this.drops();
    const gauge = (name: string, help: string, value: (s: MetricsSnapshot) => number | undefined): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const v = value(snap());
          if (v !== undefined) this.set(v);
        },
      });
    };
    gauge(
      "tortie_felix_ready",
      "1 when the dataplane is programmed and BGP sessions are up",
      (s) => +s.ready,
    );
    gauge("tortie_felix_datastore_up", "1 when the datastore answered the last probe", (s) => +s.datastoreUp);
    gauge(
      "tortie_felix_datastore_watch_lag_seconds",
      "From our heartbeat write to the datastore until its watch delivered it back",
      (s) => s.watchLagSeconds,
    );
    gauge("tortie_felix_local_endpoints", "Pods on this node felix programs", (s) => s.localEndpoints);
    gauge("tortie_felix_policies", "Policies known to the policy engine", (s) => s.policy.policies);
    gauge("tortie_felix_policy_sets", "IP sets (nft sets) programmed", (s) => s.policy.sets);
    gauge(
      "tortie_felix_policy_set_elements",
      "Elements across all programmed sets",
      (s) => s.policy.setElements,
    );
    gauge("tortie_felix_policy_rules", "Policy and endpoint rules programmed", (s) => s.policy.rules);
    new Gauge({
      name: "tortie_felix_routes",
      help: "Kernel routes felix owns, by kind (local: pods and blackholes; learned: BGP; stale: kept over a restart)",
      labelNames: ["kind"],
      registers,
      collect() {
        const r = snap().routes;
        for (const k of ["local", "learned", "stale"] as const) this.set({ kind: k }, r[k]);
      },
    });
    new Gauge({
      name: "tortie_felix_bgp_session_state",
      help: "1 for the RFC 4271 state each BGP session is in",
      labelNames: ["peer", "state"],
      registers,
      collect() {
        this.reset();
        for (const p of snap().peers)
          for (const st of BGP_STATES) this.set({ peer: p.address, state: st }, +(p.state === st));
      },
    });
    new Gauge({
      name: "tortie_felix_bgp_routes",
      help: "Prefixes received from and advertised to each BGP peer",
      labelNames: ["peer", "direction"],
      registers,
      collect() {
        this.reset();
        for (const p of snap().peers) {
          this.set({ peer: p.address, direction: "received" }, p.prefixesReceived);
          this.set({ peer: p.address, direction: "advertised" }, p.prefixesAdvertised);
        }
      },
    });
    new Gauge({
      name: "tortie_felix_policy_dropped_packets",
      help: "Packets dropped by each policy's deny rules and by the isolation it causes (nft counters)",
      labelNames: ["policy"],
      registers,
      async collect() {
        this.reset();
        for (const [policy, n] of await drops()) this.set({ policy }, n);
      },
    });
  }

  bind(snapshot: () => MetricsSnapshot, drops: () => Promise<Map<string, number>>): void {
    this.snapshot = snapshot;
    this.drops = drops;
  }
}
