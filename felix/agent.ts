/**
 * The node agent: datastore → cache → desired state → reconcilers, plus the in-process BGP speaker.
 * Events are coalesced: whatever arrives while a programming pass runs is handled by the next pass,
 * so a burst costs one pass. A periodic resync re-reads the kernel and repairs drift.
 */
import { networkInterfaces } from "node:os";
import { PerformanceObserver } from "node:perf_hooks";
import { Speaker } from "../bgp/session/speaker.js";
import { errorMessage } from "../core/errors.js";
import { log } from "../core/log.js";
import {
  ConflictError,
  Informer,
  NotFoundError,
  openDatastore,
  type Datastore,
  type ObjectOf,
  type StoredObject,
} from "../datastore/index.js";
import { speakerConfig } from "./bgp.js";
import { WATCHED_KINDS, objectKey, type WatchedKind } from "./calc/cache.js";
import { ANN_IPV4, DEFAULT_SECRETS_NAMESPACE, type BgpWant, type Desired } from "./calc/desired.js";
import { Calculation } from "./calc/incremental.js";
import { reconcileSysctls } from "./dataplane/interfaces.js";
import { applyNat } from "./dataplane/nat.js";
import { EnginePolicy, type PolicyProgrammer } from "./dataplane/policy.js";
import { RouteReconciler } from "./dataplane/routes.js";
import { FelixMetrics, type MetricsSnapshot } from "./metrics.js";
import { VxlanManager } from "./vxlan.js";
import type { VxlanDesired, Vtep as VxlanVtep } from "./calc/vxlan.js";

/** One event pass: queued (event to pass start) and each step's wall time, ms. */
export interface PassTiming {
  readonly totalMs: number;
  readonly waitMs: number;
  readonly steps: Readonly<Record<string, number>>;
}

export interface AgentOptions {
  readonly datastore: string;
  readonly node: string;
  /** ADDR/LEN; autodetected when absent. */
  readonly ip: string | undefined;
  readonly backend: "nft" | "iptables";
  readonly resyncSeconds: number;
  /** Namespace of the Secrets BGP passwords name; only Secrets there are watched. */
  readonly secretsNamespace?: string;
}

export interface NodeStatusView {
  readonly node: string;
  readonly ready: boolean;
  readonly notReadyReasons: readonly string[];
  readonly ip: string | undefined;
  readonly datastore: { readonly url: string; readonly up: boolean; readonly watchLagSeconds: number | null };
  readonly bgp: {
    readonly asn: number | null;
    readonly routerId: string | null;
    readonly peers: readonly {
      readonly address: string;
      readonly asn: number;
      readonly state: string;
      readonly source: string;
      readonly prefixesReceived: number;
      readonly prefixesAdvertised: number;
      readonly uptime: number;
    }[];
  };
  readonly routes: {
    readonly in: readonly { readonly prefix: string; readonly nextHops: readonly string[] }[];
    readonly out: readonly string[];
    readonly local: number;
    readonly stale: number;
  };
  /** The VXLAN overlay: this node's device and the remote VTEPs; null when no pool asks for VXLAN. */
  readonly vxlan: {
    readonly device: string;
    readonly vni: number;
    readonly address: string | null;
    readonly mac: string;
    readonly mtu: number | null;
    readonly vteps: readonly VxlanVtep[];
  } | null;
  readonly localEndpoints: readonly {
    namespace: string;
    pod: string;
    ifName: string;
    ips: readonly string[];
  }[];
  readonly policies: {
    readonly active: readonly string[];
    readonly stats: { policies: number; sets: number; setElements: number; rules: number };
  };
  readonly lastProgramming: { readonly ms: number; readonly at: string; readonly kind: string } | null;
  readonly problems: readonly string[];
}

const POLICY_KINDS: ReadonlySet<WatchedKind> = new Set([
  "Namespace",
  "ServiceAccount",
  "KubernetesNetworkPolicy",
  "AdminNetworkPolicy",
  "BaselineAdminNetworkPolicy",
  "NetworkPolicy",
  "GlobalNetworkPolicy",
  "NetworkSet",
  "GlobalNetworkSet",
  "Tier",
  "EndpointSlice",
]);

/** First global IPv4 address on an interface that is neither lo nor a pod's veth, as ADDR/LEN. */
export function autodetectIp(): string | undefined {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (name === "lo" || name.startsWith("tort")) continue;
    for (const a of addrs ?? []) if (a.family === "IPv4" && !a.internal && a.cidr) return a.cidr;
  }
  return undefined;
}

export class Agent {
  readonly metrics = new FelixMetrics();
  private ds!: Datastore;
  private calc: Calculation;
  private readonly informers: { readonly synced: Promise<void>; stop(): Promise<void> }[] = [];
  private desired: Desired | undefined;
  private speaker: Speaker | undefined;
  private bgpKey = "";
  private bgpRetry = false;
  private bgpWant: BgpWant | undefined;
  private readonly peerSource = new Map<string, string>();
  private readonly routes: RouteReconciler;
  private readonly policy: PolicyProgrammer;
  private natKey = "";
  private vxlan: VxlanManager | undefined; // VXLAN hook (felix/vxlan.ts)
  private vxlanRetry = false;
  /** The VXLAN routes last given to the route reconciler, as JSON. */
  private vxlanRoutesKey = "[]";
  private ip: string | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private pending: number | undefined;
  private running: Promise<void> | undefined;
  private rerun = false;
  private programmed = false;
  private datastoreUp = false;
  private watchLag: number | undefined;
  private lastProgramming: NodeStatusView["lastProgramming"] = null;
  private stopped = false;
  private heartbeatAt = 0;
  private adopted = 0;
  private readonly stepMs: Record<string, number> = {};
  /** Datastore event (informer delivery) → kernel programmed, ms, for the last passes (bench/felix). */
  readonly eventLatencies: number[] = [];
  /** Where each of the last event passes spent its time, so a slow tail can be attributed. */
  readonly eventPasses: PassTiming[] = [];
  /** Event passes since start; unlike the rings' lengths it never stops growing. */
  eventPassCount = 0;
  /** Garbage collection pause time since start, ms: a pass's share says whether its tail was GC. */
  private gcMs = 0;
  private readonly gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) this.gcMs += e.duration;
  });
  /** WorkloadEndpoints by namespace/pod: a pod event must not scan them all. */
  private readonly wepByPod = new Map<string, ObjectOf<"WorkloadEndpoint">>();

  constructor(private readonly opts: AgentOptions) {
    this.calc = new Calculation({ name: opts.node, ip: undefined });
    this.routes = new RouteReconciler((a) => this.peerUptime(a));
    this.policy = new EnginePolicy(opts.node, opts.backend);
    this.metrics.bind(
      () => this.metricsSnapshot(),
      () => this.policy.drops().catch(() => new Map<string, number>()),
    );
  }

  private peerUptime(address: string): number | "down" | undefined {
    const p = this.speaker?.status().peers.find((x) => x.address === address);
    if (!p) return undefined;
    return p.state === "Established" ? p.uptime : "down";
  }

  async start(): Promise<void> {
    this.gcObserver.observe({ entryTypes: ["gc"] });
    this.ds = await openDatastore(this.opts.datastore);
    this.ip = this.opts.ip ?? autodetectIp();
    this.calc = new Calculation({
      name: this.opts.node,
      ip: this.ip,
      secretsNamespace: this.opts.secretsNamespace ?? DEFAULT_SECRETS_NAMESPACE,
    });
    if (!this.ip) log().warn("no IPv4 address found for this node: BGP stays off (give --ip)");
    await this.registerNode();
    this.datastoreUp = true;
    this.vxlan = new VxlanManager(this.ds, this.opts.node, this.ip, (n) =>
      this.metrics.repairs.inc({ what: "vxlan" }, n),
    );
    this.adopted = await this.routes.adopt();
    log().info({ adopted: this.adopted }, "adopted routes a previous run left in the kernel");
    for (const kind of [...WATCHED_KINDS, "NodeStatus"] as const) {
      // Secrets only from the agent's own namespace: what its RBAC Role grants, and all BGP reads.
      const inf = new Informer(
        this.ds,
        kind,
        (ev) => this.onEvent(kind, ev.type, ev.object),
        kind === "Secret" ? { namespace: this.opts.secretsNamespace ?? DEFAULT_SECRETS_NAMESPACE } : {},
      );
      this.informers.push(inf);
      inf.start();
    }
    await Promise.all(this.informers.map((i) => i.synced));
    log().info(
      { objects: WATCHED_KINDS.map((k) => `${k}=${this.calc.cache.size(k)}`).join(" ") },
      "datastore synced",
    );
    await this.programNow(true);
    const resyncMs = Math.max(1, this.opts.resyncSeconds) * 1000;
    this.every(resyncMs, () => this.resync());
    this.every(1000, () => this.tick());
  }

  private every(ms: number, fn: () => Promise<void>): void {
    let busy = false;
    const t = setInterval(() => {
      if (busy || this.stopped) return;
      busy = true;
      fn()
        .catch((err: unknown) => log().error({ err: errorMessage(err) }, "periodic task failed"))
        .finally(() => (busy = false));
    }, ms);
    this.timers.push(t);
  }

  /** Creates or updates this node's Node object with its BGP address (CAS, retried). */
  private async registerNode(): Promise<void> {
    if (!this.ip) return;
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        const node = await this.ds.get("Node", this.opts.node);
        if (node.metadata.annotations?.[ANN_IPV4] === this.ip) return;
        const annotations = { ...(node.metadata.annotations ?? {}), [ANN_IPV4]: this.ip };
        await this.ds.update("Node", { ...node, metadata: { ...node.metadata, annotations } });
        return;
      } catch (err) {
        if (err instanceof ConflictError) continue;
        if (!(err instanceof NotFoundError)) {
          this.metrics.errors.inc({ kind: "datastore" });
          log().warn({ err: errorMessage(err) }, "cannot record this node's address in its Node object");
          return;
        }
      }
      try {
        await this.ds.create("Node", {
          apiVersion: "v1",
          kind: "Node",
          metadata: { name: this.opts.node, annotations: { [ANN_IPV4]: this.ip } },
        });
        return;
      } catch (err) {
        if (errorMessage(err).includes("exists")) continue;
        throw err;
      }
    }
  }

  private onEvent(
    kind: WatchedKind | "NodeStatus",
    type: "ADDED" | "MODIFIED" | "DELETED",
    obj: StoredObject,
  ) {
    if (kind === "NodeStatus") {
      if (obj.metadata.name === this.opts.node && type !== "DELETED") {
        const updated = (obj.status as { updated?: string } | undefined)?.updated;
        if (updated) this.watchLag = Math.max(0, (Date.now() - Date.parse(updated)) / 1000);
      }
      return;
    }
    if (!this.calc.apply(kind, type, obj)) return;
    if (POLICY_KINDS.has(kind)) this.feedPolicy(type, obj);
    if (kind === "Pod") this.feedPod(obj.metadata.namespace ?? "default", obj.metadata.name);
    if (kind === "WorkloadEndpoint") {
      const pod = (obj.spec as { pod?: string } | undefined)?.pod;
      if (pod) {
        const key = `${obj.metadata.namespace ?? "default"}/${pod}`;
        if (type === "DELETED") this.wepByPod.delete(key);
        else this.wepByPod.set(key, obj as ObjectOf<"WorkloadEndpoint">);
        this.feedPod(obj.metadata.namespace ?? "default", pod);
      }
    }
    this.schedule();
  }

  private feedPolicy(type: string, obj: StoredObject): void {
    if (type === "DELETED") {
      this.policy.remove(obj.kind, obj.metadata.namespace, obj.metadata.name);
      return;
    }
    const problems = this.policy.upsert(obj);
    if (problems.length > 0) {
      this.metrics.errors.inc({ kind: "validation" }, problems.length);
      for (const p of problems) log().warn({ object: p.object, path: p.path }, p.message);
    }
  }

  /** A pod as policy sees it: its IPs from the WorkloadEndpoint until the pod's status has them. */
  private feedPod(namespace: string, name: string): void {
    const pod = this.calc.cache.get("Pod", name, namespace);
    if (!pod) {
      this.policy.remove("Pod", namespace, name);
      return;
    }
    const wep = this.wepByPod.get(`${namespace}/${name}`);
    let view: StoredObject = pod;
    if (wep && !pod.status?.podIPs?.length && !pod.status?.podIP) {
      const podIPs = wep.spec.ipNetworks.map((c) => ({ ip: c.split("/")[0] ?? c }));
      view = { ...pod, status: { ...(pod.status ?? {}), podIPs } };
    }
    if (wep && !pod.spec.nodeName) view = { ...view, spec: { ...pod.spec, nodeName: wep.spec.node } };
    this.policy.upsert(view);
  }

  /** Coalesces events: one programming pass after the current one, whatever arrived meanwhile. */
  private schedule(): void {
    this.pending ??= performance.now();
    if (this.running) {
      this.rerun = true;
      return;
    }
    if (!this.programmed) return;
    setImmediate(() => void this.programNow(false));
  }

  private async programNow(full: boolean): Promise<void> {
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    const since = this.pending ?? performance.now();
    this.pending = undefined;
    this.running = this.pass(full, since).finally(() => {
      this.running = undefined;
      if (this.rerun && !this.stopped) {
        this.rerun = false;
        setImmediate(() => void this.programNow(false));
      }
    });
    return this.running;
  }

  private async pass(full: boolean, since: number): Promise<void> {
    const began = performance.now();
    for (const k of Object.keys(this.stepMs)) delete this.stepMs[k];
    const gcBefore = this.gcMs;
    // Only what the events since the last pass touched is recomputed and reprogrammed; a full pass
    // (start, resync) checks everything against the kernel.
    const { desired: d, changed } = this.calc.take();
    this.stepMs["calc"] = performance.now() - began;
    if (changed.bgp)
      for (const p of d.problems)
        if (!this.desired?.problems.includes(p)) log().warn({ problem: p }, "object ignored");
    this.desired = d;
    if (full || changed.localEndpoints) this.policy.setLocalEndpoints(d.localEndpoints);
    // A failed configuration (the speaker could not start) is tried again at the next pass.
    if (full || changed.bgp || this.bgpRetry)
      await this.step("bgp", async () => {
        this.bgpRetry = true;
        await this.configureBgp(d.bgp);
        this.bgpRetry = false;
      });
    // VXLAN hook: only when nodes, pools or block owners changed, or the last attempt failed.
    if (this.vxlan && (full || changed.vxlanInputs || this.vxlanRetry))
      await this.step("vxlan", async () => {
        this.vxlanRetry = true;
        await this.vxlan?.sync(this.calc.cache, full);
        this.vxlanRetry = false;
      });
    const vxlanRoutes = this.vxlan?.routes ?? []; // VXLAN hook
    const vxlanKey = JSON.stringify(vxlanRoutes); // VXLAN hook
    if (changed.routes || vxlanKey !== this.vxlanRoutesKey) {
      this.routes.setLocal(vxlanRoutes.length > 0 ? [...d.routes, ...vxlanRoutes] : d.routes);
      this.vxlanRoutesKey = vxlanKey;
    }
    if (full || this.routes.dirty)
      await this.step("routes", async () => {
        const r = await this.routes.sync();
        for (const f of r.failed) log().warn({ dst: f.dst, reason: f.reason }, "route not programmed");
        if (full && r.replaced + r.removed > 0)
          this.metrics.repairs.inc({ what: "routes" }, r.replaced + r.removed);
      });
    await this.step("nft", async () => {
      await (full ? this.policy.resync() : this.policy.program());
    });
    // A change goes in with the event's pass; the periodic repair runs outside passes (resync()).
    if (JSON.stringify(d.masquerade) !== this.natKey) await this.step("nat", () => this.applyNat(d));
    if (full || changed.newInterfaces.length > 0)
      await this.step("sysctl", () => {
        const ipv6 = d.localEndpoints.some((e) => e.ips.some((ip) => ip.includes(":")));
        const r = reconcileSysctls(ipv6, undefined, full ? undefined : changed.newInterfaces);
        if (r.repaired.length > 0 && this.programmed)
          this.metrics.repairs.inc({ what: "sysctl" }, r.repaired.length);
        if (r.failed.length > 0) throw new Error(`cannot set ${r.failed.join(", ")}`);
        return Promise.resolve();
      });
    const done = performance.now();
    // GC entries are delivered after the pause: what lands by now is most of this pass's share.
    if (this.gcMs > gcBefore) this.stepMs["gc"] = this.gcMs - gcBefore;
    if (done - since > 100)
      log().info(
        {
          full,
          totalMs: Math.round(done - since),
          passMs: Math.round(done - began),
          steps: Object.fromEntries(Object.entries(this.stepMs).map(([k, v]) => [k, Math.round(v)])),
        },
        "slow programming pass",
      );
    this.metrics.programming.observe({ what: full ? "resync" : "event" }, (done - since) / 1000);
    if (!full) {
      this.eventPassCount++;
      this.eventLatencies.push(done - since);
      if (this.eventLatencies.length > 10_000) this.eventLatencies.shift();
      this.eventPasses.push({ totalMs: done - since, waitMs: began - since, steps: { ...this.stepMs } });
      if (this.eventPasses.length > 1000) this.eventPasses.shift();
    }
    this.lastProgramming = {
      ms: Math.round((done - began) * 100) / 100,
      at: new Date().toISOString(),
      kind: full ? "full" : "incremental",
    };
    this.programmed = true;
  }

  private async step(kind: string, fn: () => Promise<void>): Promise<void> {
    const began = performance.now();
    try {
      await fn();
    } catch (err) {
      this.metrics.errors.inc({ kind });
      log().error({ kind, err: errorMessage(err) }, "programming failed; retrying at the next pass");
    }
    const ms = performance.now() - began;
    this.stepMs[kind] = ms;
    this.metrics.programming.observe({ what: kind }, ms / 1000);
  }

  private async configureBgp(want: BgpWant | undefined): Promise<void> {
    this.bgpWant = want;
    this.peerSource.clear();
    for (const p of want?.peers ?? []) this.peerSource.set(p.address, p.source);
    const key = JSON.stringify(want ?? null);
    if (key === this.bgpKey) return;
    const prev = this.bgpKey === "" ? null : (JSON.parse(this.bgpKey) as BgpWant | null);
    if (
      this.speaker &&
      want &&
      prev &&
      prev.listenPort === want.listenPort &&
      prev.routerId === want.routerId
    ) {
      // Unchanged sessions are kept; originated prefixes announced or withdrawn.
      this.speaker.apply(speakerConfig(want));
      this.bgpKey = key;
      return;
    }
    if (this.speaker) await this.speaker.stop();
    this.speaker = undefined;
    if (want) {
      const speaker = new Speaker(speakerConfig(want), log().child({ component: "bgp" }));
      speaker.restarting = this.adopted > 0;
      speaker.onBestChange((prefix, hops) => {
        this.routes.learn(prefix, hops);
        this.schedule();
      });
      await speaker.start();
      this.speaker = speaker;
    }
    this.bgpKey = key;
  }

  private async applyNat(d: Desired): Promise<void> {
    await applyNat(d.masquerade);
    this.natKey = JSON.stringify(d.masquerade);
  }

  private async resync(): Promise<void> {
    this.metrics.resyncs.inc();
    await this.programNow(true);
    // Outside the programming pass, so that events do not wait behind it (its own table: no conflict).
    const d = this.desired;
    if (d) await this.step("nat", () => this.applyNat(d));
    await this.heartbeat();
  }

  /** Every second: datastore probe, stale routes, heartbeat. */
  private async tick(): Promise<void> {
    const wasUp = this.datastoreUp;
    try {
      await withTimeout(this.ds.get("Node", this.opts.node), 2000);
      this.datastoreUp = true;
    } catch (err) {
      if (err instanceof NotFoundError) this.datastoreUp = true;
      else {
        if (wasUp)
          log().warn({ err: errorMessage(err) }, "datastore unreachable: keeping the last programmed state");
        this.datastoreUp = false;
        this.metrics.errors.inc({ kind: "datastore" });
      }
    }
    if (this.datastoreUp && !wasUp) {
      log().info("datastore reachable again: resyncing");
      await this.registerNode().catch(() => undefined);
      await this.programNow(true);
    }
    const before = this.routes.counts().stale;
    this.routes.expireStale();
    if (this.routes.counts().stale !== before) this.schedule();
    if (Date.now() - this.heartbeatAt > 10_000) await this.heartbeat();
  }

  /** Writes this node's NodeStatus; its echo through the watch measures the watch lag. */
  private async heartbeat(): Promise<void> {
    if (!this.datastoreUp) return;
    this.heartbeatAt = Date.now();
    const s = this.status();
    const obj = {
      apiVersion: "tortie.io/v1",
      kind: "NodeStatus",
      metadata: { name: this.opts.node },
      spec: { node: this.opts.node },
      status: {
        ready: s.ready,
        updated: new Date().toISOString(),
        lastProgrammingMs: Math.round(s.lastProgramming?.ms ?? 0),
        localEndpoints: s.localEndpoints.length,
        bgp: {
          peers: s.bgp.peers.map((p) => ({
            peerIP: p.address,
            asNumber: p.asn,
            state: p.state as "Idle",
            routesReceived: p.prefixesReceived,
            routesAdvertised: p.prefixesAdvertised,
          })),
        },
      },
    } as ObjectOf<"NodeStatus">;
    try {
      try {
        const cur = await this.ds.get("NodeStatus", this.opts.node);
        await this.ds.update("NodeStatus", { ...obj, metadata: { ...cur.metadata } });
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
        await this.ds.create("NodeStatus", obj);
      }
    } catch (err) {
      this.metrics.errors.inc({ kind: "datastore" });
      log().debug({ err: errorMessage(err) }, "NodeStatus not written");
    }
  }

  notReadyReasons(): string[] {
    const why: string[] = [];
    if (!this.programmed) why.push("dataplane not programmed yet");
    if (!this.datastoreUp) why.push("datastore unreachable");
    for (const p of this.speaker?.status().peers ?? [])
      if (p.state !== "Established") why.push(`BGP session with ${p.address} is ${p.state}`);
    if (this.bgpWant && this.bgpWant.peers.length > 0 && !this.speaker) why.push("BGP speaker not running");
    return why;
  }

  status(): NodeStatusView {
    const why = this.notReadyReasons();
    const peers = this.speaker?.status().peers ?? [];
    const best = this.speaker?.routes().best ?? [];
    const stats = this.policy.stats();
    return {
      node: this.opts.node,
      ready: why.length === 0,
      notReadyReasons: why,
      ip: this.ip,
      datastore: { url: this.opts.datastore, up: this.datastoreUp, watchLagSeconds: this.watchLag ?? null },
      bgp: {
        asn: this.bgpWant?.asn ?? null,
        routerId: this.bgpWant?.routerId ?? null,
        peers: peers.map((p) => ({ ...p, source: this.peerSource.get(p.address) ?? "?" })),
      },
      routes: {
        in: best
          .filter((r) => r.from !== "local")
          .map((r) => {
            const nh = r.attributes["NEXT_HOP"];
            return { prefix: r.prefix, nextHops: typeof nh === "string" ? nh.split(" ") : [] };
          }),
        out: [...(this.bgpWant?.originate ?? [])],
        local: this.desired?.routes.length ?? 0,
        stale: this.routes.counts().stale,
      },
      vxlan: vxlanView(this.vxlan?.last),
      localEndpoints: (this.desired?.localEndpoints ?? []).map((e) => ({ ...e, ips: [...e.ips] })),
      policies: {
        active: [
          ...this.calc.cache.list("KubernetesNetworkPolicy"),
          ...this.calc.cache.list("NetworkPolicy"),
          ...this.calc.cache.list("GlobalNetworkPolicy"),
        ]
          .map((p) => `${p.kind} ${objectKey(p).replace(/^\//, "")}`)
          .sort(),
        stats,
      },
      lastProgramming: this.lastProgramming,
      problems: [...(this.desired?.problems ?? []), ...(this.vxlan?.last?.problems ?? [])], // VXLAN hook
    };
  }

  private metricsSnapshot(): MetricsSnapshot {
    const s = this.status();
    return {
      ready: s.ready,
      datastoreUp: this.datastoreUp,
      watchLagSeconds: this.watchLag,
      localEndpoints: s.localEndpoints.length,
      routes: this.routes.counts(),
      peers: s.bgp.peers,
      policy: s.policies.stats,
    };
  }

  /** Leaves routes and nftables as they are: the next agent adopts them (graceful restart). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.gcObserver.disconnect();
    for (const t of this.timers) clearInterval(t);
    await Promise.all(this.informers.map((i) => i.stop()));
    await this.running?.catch(() => undefined);
    // No Cease: peers keep our routes as stale (RFC 4724) until the next agent re-announces them.
    await this.speaker?.stop({ graceful: true });
    this.routes.close();
    this.vxlan?.close(); // VXLAN hook
    this.policy.close();
    await this.ds.close();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function vxlanView(d: VxlanDesired | undefined): NodeStatusView["vxlan"] {
  if (!d?.device) return null;
  const { name, vni, address, mac, mtu } = d.device;
  return { device: name, vni, address: address ?? null, mac, mtu: mtu ?? null, vteps: d.vteps };
}
