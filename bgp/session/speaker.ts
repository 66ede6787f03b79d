import ipaddr from "ipaddr.js";
import { createServer, type Server } from "node:net";
import type { Logger } from "../../core/log.js";
import type { ParsedConfig } from "../config.js";
import type { BgpPeerConfig } from "../config.js";
import { DEFAULT_FSM_CONFIG, systemClock, type Clock } from "../fsm/index.js";
import { formatPrefix, type PrefixKey } from "../rib/prefix.js";
import {
  selectBest,
  type DecisionOptions,
  type Path,
  type PathSource,
  type Selection,
} from "../rib/decision.js";
import { LOCAL_SOURCE, LocRib, type Candidate } from "../rib/rib.js";
import type { CompiledFilter } from "../policy/filter.js";
import { exportRoute, importRoute, type ExportPeer, type RouteOrigin } from "../policy/route-policy.js";
import { setMd5Key, setTtlSecurity } from "../native/index.js";
import { Connection } from "./connection.js";
import type { ControlTarget, PeerStatus, RouteView, RoutesView, StatusView } from "./control.js";
import { BfdDiag, BfdState } from "../bfd/packet.js";
import { BfdService } from "../bfd/service.js";
import { DEFAULT_TIMERS, type BfdTimers } from "../bfd/session.js";
import { Peer, type PeerHost, type PeerSettings } from "./peer.js";
import { LOCAL_ROUTE, RouteAttrsTable, attributesView, type RouteAttrs } from "./routes.js";

/** Called with a prefix ("10.0.0.0/26") and the next hops of its best learned path(s); undefined: none left. */
export type BestChangeListener = (prefix: string, nextHops: readonly string[] | undefined) => void;

/** RFC 4724 restart time when the config enables graceful restart without one (BIRD's and FRR's default). */
export const DEFAULT_RESTART_TIME = 120;

const LOCAL_ORIGIN: RouteOrigin = { local: true, ebgp: false, rrClient: false, address: "", routerId: "" };
const LOCAL_PATH_SOURCE: PathSource = { local: true, ebgp: false, peerAddress: "", routerId: 0 };

/** The canonical text of an address, so "::ffff:10.0.0.1", "10.0.0.1" and "2001:DB8::1" compare sanely. */
export function canonicalAddress(a: string): string {
  try {
    const p = ipaddr.process(a);
    return p.toString();
  } catch {
    return a;
  }
}

function bfdTimers(b: true | { minTx?: number; minRx?: number; multiplier?: number }): BfdTimers {
  if (b === true) return DEFAULT_TIMERS;
  return {
    minTxMs: b.minTx ?? DEFAULT_TIMERS.minTxMs,
    minRxMs: b.minRx ?? DEFAULT_TIMERS.minRxMs,
    multiplier: b.multiplier ?? DEFAULT_TIMERS.multiplier,
  };
}

function peerSettings(p: BgpPeerConfig, globalHold: number | undefined): PeerSettings {
  return {
    address: canonicalAddress(p.address),
    asn: p.asn,
    port: p.port ?? 179,
    ...(p.localAddress !== undefined ? { localAddress: p.localAddress } : {}),
    ...(p.password !== undefined ? { password: p.password } : {}),
    ...(p.ttlSecurity !== undefined ? { ttlSecurity: p.ttlSecurity } : {}),
    ...(p.bfd ? { bfd: bfdTimers(p.bfd) } : {}),
    fsm: {
      ...DEFAULT_FSM_CONFIG,
      holdTime: p.holdTime ?? globalHold ?? DEFAULT_FSM_CONFIG.holdTime,
      ...(p.keepalive !== undefined ? { keepalive: p.keepalive } : {}),
      passive: p.passive ?? false,
      connectRetryTime: p.connectRetryTime ?? DEFAULT_FSM_CONFIG.connectRetryTime,
      delayOpenTime: p.delayOpenTime ?? 0,
    },
  };
}

/**
 * The speaker: one Loc-RIB, one listening socket shared by every peer, and the
 * peers. It exports only what it originates; issue 4 adds transit, reflection
 * and filters on top of the same tables.
 */
export class Speaker implements ControlTarget {
  readonly rib: LocRib<RouteAttrs>;
  private readonly peers = new Map<string, Peer>();
  private readonly peersById = new Map<number, Peer>();
  /** What onBestChange listeners were last told, per prefix: the next hops joined by spaces. */
  private readonly learned = new Map<PrefixKey, readonly string[]>();
  private readonly bestListeners = new Set<BestChangeListener>();
  private readonly syncedPeers = new Set<number>();
  private readonly policyCache = new Map<number, ReturnType<Speaker["peerPolicy"]>>();
  /**
   * Export results per best route and peer class, replaced on every apply: a reflector's clients
   * share one class, so a route is evaluated once for all of them, not once per client.
   */
  private exportCache = new WeakMap<RouteAttrs, Map<RouteOrigin, (RouteAttrs | null | undefined)[]>>();
  /** Results of filter rules, interned per attribute set, origin, peer class and rule. */
  private exportInterned = new WeakMap<RouteAttrs, Map<string, RouteAttrs>>();
  private readonly exportClasses = new Map<string, number>();
  private bfd: BfdService | undefined;
  /** Peers watched by BFD, with the local address their BFD session runs from. */
  private readonly bfdWatched = new Map<Peer, string>();
  private readonly importCache = new WeakMap<RouteAttrs, Map<string, RouteAttrs>>();
  /** RFC 4724: set before start when this run follows a graceful restart (R and F bits in our OPEN). */
  restarting = false;
  private syncWaiters: (() => void)[] = [];
  private server: Server | undefined;
  private nextSource = 1;
  private originated = new Set<PrefixKey>();
  private readonly host: PeerHost;

  constructor(
    private parsed: ParsedConfig,
    readonly log: Logger,
    readonly clock: Clock = systemClock,
  ) {
    this.rib = new LocRib<RouteAttrs>(
      (a, b) => (this.decide([a, b])?.best.source === a.source ? -1 : 1),
      (cands) => {
        const s = this.decide(cands);
        const c = s && cands.find((x) => x.source === s.best.source);
        if (!c) throw new Error("decision process lost its winner");
        return c;
      },
    );
    this.rib.addSource(LOCAL_SOURCE);
    const config = (): ParsedConfig["config"] => this.parsed.config;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the host's getters read live speaker state
    const self = this;
    this.host = {
      get localAs() {
        return config().asn;
      },
      get routerId() {
        return config().routerId;
      },
      get gracefulRestart() {
        const gr = config().gracefulRestart;
        return gr
          ? { restartTime: gr.restartTime ?? DEFAULT_RESTART_TIME, restarting: self.restarting }
          : undefined;
      },
      get clusterId() {
        return config().clusterId;
      },
      clock,
      rib: this.rib,
      log,
      attrs: new RouteAttrsTable(),
      exportable: (p) => this.exportable(p),
      importFor: (p, k, attrs) => this.importFor(p, k, attrs),
      synced: (p) => {
        this.syncedPeers.add(p.id);
        this.checkSynced();
      },
      established: (p, local) => this.watchPath(p, local),
    };
    this.rib.onChange((k, best) => this.learnedChanged(k, best));
    this.rib.onChange((k, best) => {
      // Without reflection or filters only what we originate is exported: a learned route's change
      // then concerns no peer (a million arrive in a full feed, so this runs before per-peer work).
      if (!this.transit && best?.source !== LOCAL_SOURCE && !this.originated.has(k)) return;
      for (const p of this.peers.values()) p.queueExport(k, this.exportFor(p, k, best));
    });
  }

  private get decisionOptions(): DecisionOptions {
    const c = this.parsed.config;
    return { alwaysCompareMed: c.alwaysCompareMed ?? false };
  }

  private pathOf(c: Candidate<RouteAttrs>): Path {
    const peer = this.peersById.get(c.source);
    const from: PathSource =
      c.source === LOCAL_SOURCE || !peer
        ? LOCAL_PATH_SOURCE
        : {
            local: false,
            ebgp: peer.isEbgp,
            peerAddress: peer.settings.address,
            routerId: peer.remoteRouterId,
          };
    return { source: c.source, from, attributes: c.attrs.attributes, asPathLength: c.attrs.asPathLength };
  }

  /** RFC 4271 §9.1.2 over the candidates of one prefix. */
  decide(cands: readonly Candidate<RouteAttrs>[]): Selection | undefined {
    return selectBest(
      cands.map((c) => this.pathOf(c)),
      this.decisionOptions,
    );
  }

  /** The next hops to forward a prefix by: the best learned path's, or with multipath every equal one's. */
  private forwarding(k: PrefixKey, best: Candidate<RouteAttrs> | undefined): readonly string[] | undefined {
    if (!best || best.source === LOCAL_SOURCE) return undefined;
    if (!this.parsed.config.multipath)
      return best.attrs.nextHop.length > 0 ? best.attrs.nextHop.slice(0, 1) : undefined;
    const cands = this.rib.candidates(k);
    const sel = cands.length > 1 ? this.decide(cands) : undefined;
    const hops = new Set<string>();
    for (const p of sel?.multipath ?? []) {
      const attrs = cands.find((c) => c.source === p.source)?.attrs;
      const nh = attrs?.nextHop[0];
      if (nh !== undefined) hops.add(nh);
    }
    const first = best.attrs.nextHop[0];
    if (hops.size === 0 && first !== undefined) hops.add(first);
    return hops.size > 0 ? [...hops].sort() : undefined;
  }

  private learnedChanged(k: PrefixKey, best: Candidate<RouteAttrs> | undefined): void {
    // Nobody listens (a route server with a full feed): keep no per-prefix copy at all.
    if (this.bestListeners.size === 0) return;
    const want = this.forwarding(k, best);
    const had = this.learned.get(k);
    if (want === undefined) {
      if (had === undefined) return;
      this.learned.delete(k);
    } else {
      if (had !== undefined && had.length === want.length && had.every((h, i) => h === want[i])) return;
      this.learned.set(k, want);
    }
    const prefix = formatPrefix(k);
    for (const fn of this.bestListeners) fn(prefix, want);
  }

  /**
   * Tells `listener` about every change of the best learned route(s) of a prefix, starting with
   * the ones there are now. Returns the unsubscribe function.
   */
  onBestChange(listener: BestChangeListener): () => void {
    if (this.bestListeners.size === 0) {
      for (const [k, c] of this.rib.entries()) {
        const hops = this.forwarding(k, c);
        if (hops) this.learned.set(k, hops);
      }
    }
    this.bestListeners.add(listener);
    for (const [k, hops] of this.learned) listener(formatPrefix(k), hops);
    return () => {
      this.bestListeners.delete(listener);
      if (this.bestListeners.size === 0) this.learned.clear();
    };
  }

  private checkSynced(): void {
    if (this.syncWaiters.length === 0) return;
    for (const p of this.peers.values()) if (!this.syncedPeers.has(p.id)) return;
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Resolves once every configured peer has sent End-of-RIB since start (RFC 4724 §4.1: the
   * restarting speaker's cue that its RIB is whole again), or after `timeoutMs`, whichever is first.
   * Says which.
   */
  whenSynced(timeoutMs: number): Promise<"end-of-rib" | "timeout"> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => resolve("timeout"), timeoutMs);
      this.syncWaiters.push(() => {
        this.clock.clearTimeout(timer);
        resolve("end-of-rib");
      });
      this.checkSynced();
    });
  }

  /** Learned routes may leave this speaker: it reflects, or some peer has filters that may accept them. */
  private get transit(): boolean {
    if (this.transitCache === undefined) {
      const c = this.parsed.config;
      this.transitCache = c.clusterId !== undefined || c.peers.some((p) => (p.filters ?? []).length > 0);
    }
    return this.transitCache;
  }
  private transitCache: boolean | undefined;

  private originOf(source: number): RouteOrigin {
    const p = this.peersById.get(source);
    if (source === LOCAL_SOURCE || !p) return LOCAL_ORIGIN;
    const v = this.peerPolicy(p);
    // One object per peer and session (export results are cached by it): a new router id, a new one.
    if (v.origin?.routerId !== p.remoteRouterIdText)
      v.origin = {
        local: false,
        ebgp: p.isEbgp,
        rrClient: v.config?.routeReflectorClient ?? false,
        address: p.settings.address,
        routerId: p.remoteRouterIdText,
      };
    return v.origin;
  }

  private peerConfig(p: Peer): BgpPeerConfig | undefined {
    return this.peerPolicy(p).config;
  }

  /** Per-peer policy inputs, cached until the next apply (they are read once per route per peer). */
  private peerPolicy(p: Peer): {
    config: BgpPeerConfig | undefined;
    exportPeer: ExportPeer;
    filters: CompiledFilter[];
    /** Peers of one class get the same export of every route they are eligible for. */
    exportClass: number;
    origin?: RouteOrigin;
  } {
    let v = this.policyCache.get(p.id);
    if (!v) {
      const config = this.parsed.config.peers.find((c) => canonicalAddress(c.address) === p.settings.address);
      const filters = this.filtersOf(config);
      const exportPeer: ExportPeer = {
        address: p.settings.address,
        asn: p.settings.asn,
        ebgp: p.isEbgp,
        rrClient: config?.routeReflectorClient ?? false,
        nextHopMode: config?.nextHopMode ?? "Auto",
        filters,
      };
      const { address: _a, filters: _f, ...facts } = exportPeer;
      const classKey = JSON.stringify([facts, config?.filters ?? []]);
      let exportClass = this.exportClasses.get(classKey);
      if (exportClass === undefined) {
        exportClass = this.exportClasses.size;
        this.exportClasses.set(classKey, exportClass);
      }
      v = { config, filters, exportPeer, exportClass };
      this.policyCache.set(p.id, v);
    }
    return v;
  }

  private filtersOf(c: BgpPeerConfig | undefined): CompiledFilter[] {
    return (c?.filters ?? []).flatMap((n) => {
      const f = this.parsed.filters?.get(n);
      return f ? [f] : [];
    });
  }

  /** What a peer's export depends on besides the routes (a change re-evaluates them all). */
  private exportPolicyKey(p: Peer): string {
    const c = this.peerConfig(p);
    return JSON.stringify([
      c?.routeReflectorClient,
      c?.nextHopMode,
      this.parsed.config.clusterId,
      (c?.filters ?? []).map((n) => this.parsed.config.filters?.find((f) => f.name === n)),
    ]);
  }

  private importPolicyKey(p: Peer): string {
    const c = this.peerConfig(p);
    return JSON.stringify([
      this.parsed.config.pools,
      (c?.filters ?? []).map((n) => this.parsed.config.filters?.find((f) => f.name === n)),
    ]);
  }

  private exportPeer(p: Peer): ExportPeer {
    return this.peerPolicy(p).exportPeer;
  }

  /** One route as this peer gets it, interned so equal results share one object (one UPDATE). */
  private exportFor(p: Peer, k: PrefixKey, best: Candidate<RouteAttrs> | undefined): RouteAttrs | undefined {
    if (!best) return undefined;
    const origin = this.originOf(best.source);
    // Never back to where it came from: the one input of eligibility a peer's class does not hold.
    if (!origin.local && origin.address === p.settings.address) return undefined;
    const policy = this.peerPolicy(p);
    // Filters may match on the prefix: only filterless classes share a result across prefixes.
    const shared = policy.filters.length === 0;
    let byClass: (RouteAttrs | null | undefined)[] | undefined;
    if (shared) {
      let m = this.exportCache.get(best.attrs);
      if (!m) {
        m = new Map();
        this.exportCache.set(best.attrs, m);
      }
      byClass = m.get(origin);
      if (!byClass) {
        byClass = [];
        m.set(origin, byClass);
      }
      const hit = byClass[policy.exportClass];
      if (hit !== undefined) return hit ?? undefined;
    }
    const cfg = this.parsed.config;
    const r = exportRoute(k, best.attrs.attributes, origin, policy.exportPeer, {
      localAs: cfg.asn,
      routerId: cfg.routerId,
      clusterId: cfg.clusterId,
    });
    let out: RouteAttrs | null;
    if (!r) out = null;
    else if (r.attributes === best.attrs.attributes && !r.keepNextHop && best.attrs.nextHop.length === 0)
      out = best.attrs;
    else {
      // One rule's changes to one attribute set are the same for every prefix: intern the result
      // so the prefixes it applies to still share one UPDATE.
      let m = this.exportInterned.get(best.attrs);
      if (!m) {
        m = new Map();
        this.exportInterned.set(best.attrs, m);
      }
      const key = `${best.source}|${origin.routerId}|${policy.exportClass}|${r.by}|${r.keepNextHop}`;
      let interned = m.get(key);
      if (!interned) {
        interned = this.host.attrs.get(r.attributes, r.keepNextHop ? best.attrs.nextHop.slice(0, 1) : []);
        m.set(key, interned);
      }
      out = interned;
    }
    if (byClass) byClass[policy.exportClass] = out;
    return out ?? undefined;
  }

  private importFor(p: Peer, k: PrefixKey, attrs: RouteAttrs): RouteAttrs | undefined {
    const filters = this.peerPolicy(p).filters;
    const r = importRoute(
      k,
      attrs.attributes,
      { ebgp: p.isEbgp, filters },
      this.parsed.pools,
      this.parsed.config.asn,
    );
    if (!r) return undefined;
    if (r.attributes === attrs.attributes) return attrs;
    let m = this.importCache.get(attrs);
    if (!m) {
      m = new Map();
      this.importCache.set(attrs, m);
    }
    let out = m.get(r.by);
    if (!out) {
      out = this.host.attrs.get(r.attributes, attrs.nextHop);
      m.set(r.by, out);
    }
    return out;
  }

  private *exportable(p: Peer): Iterable<[PrefixKey, RouteAttrs]> {
    const transit = this.transit;
    for (const [k, c] of this.rib.entries()) {
      if (!transit && c.source !== LOCAL_SOURCE) continue;
      const attrs = this.exportFor(p, k, c);
      if (attrs) yield [k, attrs];
    }
  }

  async start(): Promise<void> {
    const { address, port } = this.parsed.config.listen;
    const server = createServer({ pauseOnConnect: true }, (sock) => {
      const remote = canonicalAddress(sock.remoteAddress ?? "");
      const peer = this.peers.get(remote);
      if (!peer) {
        this.log.info({ remote }, "refusing a connection from an unconfigured address");
        sock.destroy();
        return;
      }
      const hops = peer.settings.ttlSecurity;
      if (hops !== undefined) {
        try {
          // The handshake already passed; from here on segments from further away are dropped.
          setTtlSecurity(sock, 255, 256 - hops);
        } catch (err) {
          this.log.warn({ remote, err: (err as Error).message }, "cannot set GTSM on an accepted connection");
        }
      }
      peer.incoming(new Connection(sock, "incoming"));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: address, port, ipv6Only: false }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    this.log.info({ address, port }, "listening for BGP connections");
    this.apply(this.parsed);
  }

  /** Brings originated routes and peers in line with a (new) config; untouched peers keep their sessions. */
  apply(next: ParsedConfig): void {
    const before = new Map<Peer, [string, string]>();
    for (const p of this.peers.values()) before.set(p, [this.exportPolicyKey(p), this.importPolicyKey(p)]);
    const old = this.parsed;
    this.parsed = next;
    this.policyCache.clear();
    this.exportCache = new WeakMap();
    this.exportInterned = new WeakMap();
    this.transitCache = undefined;
    if (old.config.asn !== next.config.asn || old.config.routerId !== next.config.routerId) {
      this.log.warn("asn or routerId changed: restarting every session");
      for (const p of this.peers.values()) this.removePeer(p);
    }
    const wanted = new Set(next.originate);
    for (const k of this.originated) {
      if (!wanted.has(k)) {
        this.rib.withdraw(LOCAL_SOURCE, k);
        this.log.info({ prefix: formatPrefix(k) }, "no longer originated: withdrawn");
      }
    }
    for (const k of wanted) if (!this.originated.has(k)) this.rib.announce(LOCAL_SOURCE, k, LOCAL_ROUTE);
    this.originated = wanted;

    const settings = new Map<string, PeerSettings>();
    for (const p of next.config.peers) {
      const s = peerSettings(p, next.config.holdTime);
      settings.set(s.address, s);
    }
    for (const [addr, p] of this.peers) {
      const s = settings.get(addr);
      if (!s || JSON.stringify(s) !== JSON.stringify(p.settings)) this.removePeer(p);
    }
    for (const p of this.peers.values()) {
      const was = before.get(p);
      if (!was) continue;
      if (was[1] !== this.importPolicyKey(p)) p.requestRefresh();
      if (was[0] !== this.exportPolicyKey(p)) p.resendAll();
    }
    for (const [addr, s] of settings) {
      if (this.peers.has(addr)) continue;
      if (s.password !== undefined) this.setListenerKey(addr, s.password);
      const p = new Peer(this.nextSource++, s, this.host);
      this.peers.set(addr, p);
      this.peersById.set(p.id, p);
      p.start();
    }
  }

  /** RFC 2385 keys live on the listener per peer address: set before the peer's SYN can arrive. */
  private setListenerKey(address: string, key: string): void {
    if (!this.server) return;
    try {
      setMd5Key(this.server, address, key);
    } catch (err) {
      this.log.error(
        { peer: address, err: (err as Error).message },
        "cannot set the TCP-MD5 key on the listener",
      );
    }
  }

  /** BFD for a peer that asks for it, from the address its session uses; once per peer. */
  private watchPath(p: Peer, local: string): void {
    const timers = p.settings.bfd;
    if (!timers || this.bfdWatched.has(p) || !local) return;
    const bfd = (this.bfd ??= new BfdService(this.log));
    this.bfdWatched.set(p, canonicalAddress(local));
    let wasUp = false;
    bfd
      .add(canonicalAddress(local), p.settings.address, timers, (state, diag) => {
        if (state === BfdState.Up) wasUp = true;
        else if (state === BfdState.Down && wasUp) {
          wasUp = false;
          p.pathDown(`BFD: ${BfdDiag[diag]}`);
        }
      })
      .catch((err: unknown) => {
        this.bfdWatched.delete(p);
        p.log.error({ err }, "BFD session could not start: the session is watched by its hold timer only");
      });
  }

  private removePeer(p: Peer): void {
    const bfdLocal = this.bfdWatched.get(p);
    if (bfdLocal !== undefined) this.bfd?.remove(bfdLocal, p.settings.address);
    this.bfdWatched.delete(p);
    if (p.settings.password !== undefined) this.setListenerKey(p.settings.address, "");
    p.stop();
    this.rib.removeSource(p.id);
    this.peers.delete(p.settings.address);
    this.peersById.delete(p.id);
  }

  /**
   * Stops every session. A graceful stop (RFC 4724 restarting speaker) sends no Cease and keeps
   * the RIB, so peers keep our routes as stale and nothing learned is reported withdrawn.
   */
  async stop(opts: { graceful?: boolean } = {}): Promise<void> {
    for (const p of this.peers.values()) p.stop(opts);
    // A graceful stop must not look like a dead path to peers: AdminDown, not silence.
    for (const [p, local] of this.bfdWatched) this.bfd?.remove(local, p.settings.address);
    this.bfdWatched.clear();
    await this.bfd?.close();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  status(): StatusView {
    return {
      peers: [...this.peers.values()].map((p) => ({
        address: p.settings.address,
        asn: p.settings.asn,
        state: p.state,
        prefixesReceived: p.prefixesReceived,
        prefixesAdvertised: p.prefixesAdvertised,
        uptime: p.uptimeSeconds,
        ...this.bfdStatus(p),
      })),
    };
  }

  private bfdStatus(p: Peer): { bfd?: PeerStatus["bfd"] } {
    const local = this.bfdWatched.get(p);
    if (!p.settings.bfd) return {};
    const v = local === undefined ? undefined : this.bfd?.session(local, p.settings.address);
    return { bfd: v ?? { state: "Down", diag: "None" } };
  }

  private sourceName(id: number): string {
    if (id === LOCAL_SOURCE) return "local";
    for (const p of this.peers.values()) if (p.id === id) return p.settings.address;
    return `source ${id}`;
  }

  routes(): RoutesView {
    const received: RouteView[] = [];
    for (const p of this.peers.values()) {
      const t = this.rib.adjIn(p.id);
      if (!t) continue;
      for (const [k, attrs] of t.entries())
        received.push({
          prefix: formatPrefix(k),
          from: p.settings.address,
          attributes: attributesView(attrs),
        });
    }
    const best: RouteView[] = [];
    for (const [k, c] of this.rib.entries()) {
      const cands = this.rib.candidates(k);
      const sel = cands.length > 1 ? this.decide(cands) : undefined;
      best.push({
        prefix: formatPrefix(k),
        from: this.sourceName(c.source),
        attributes: attributesView(c.attrs),
        reason: sel?.reason ?? "only-path",
        ...(sel && sel.multipath.length > 1 && this.parsed.config.multipath
          ? { multipath: sel.multipath.map((p) => this.sourceName(p.source)) }
          : {}),
      });
    }
    return { received, best };
  }
}
