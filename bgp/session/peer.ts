import { connect, Socket } from "node:net";
import { connectSecure } from "../native/index.js";
import type { Logger } from "../../core/log.js";
import {
  initialState,
  nextTimer,
  dueEvent,
  step,
  type Action,
  type BgpEvent,
  type Clock,
  type FsmConfig,
  type FsmState,
} from "../fsm/index.js";
import { ipv4ToNumber } from "../rib/decision.js";
import { loopReason } from "../rib/loops.js";
import { AdjRibOut, type LocRib, type SourceId } from "../rib/rib.js";
import type { PrefixKey } from "../rib/prefix.js";
import type { BfdTimers } from "../bfd/session.js";
import {
  AttributeCache,
  BgpError,
  actionName,
  ErrorCode,
  MessageType,
  OpenSubcode,
  buildCease,
  buildOpen,
  decodeNotification,
  decodeOpen,
  decodeRouteRefresh,
  encodeKeepalive,
  encodeNotification,
  encodeOpen,
  errorName,
  negotiate,
  parseIpv4,
  shutdownCommunication,
  validateOpen,
  type Frame,
  type Negotiated,
  type OpenMessage,
  type GracefulRestartCapability,
  Afi,
  Safi,
  afiSafiKey,
  encodeRouteRefresh,
} from "../wire/index.js";
import { Connection } from "./connection.js";
import {
  decodeRoutes,
  encodeEndOfRib,
  encodeRoutes,
  localCapabilities,
  type DecodedRoutes,
  type GracefulRestartSettings,
  type ExportSession,
  type RouteAttrs,
  type RouteAttrsTable,
} from "./routes.js";

/** A peer as the speaker runs it: the config it needs, resolved with defaults. */
export interface PeerSettings {
  readonly address: string;
  readonly asn: number;
  readonly port: number;
  readonly localAddress?: string;
  readonly password?: string;
  /** GTSM: the peer is at most this many hops away. */
  readonly ttlSecurity?: number;
  /** BFD timers when the session is watched by BFD. */
  readonly bfd?: BfdTimers;
  readonly fsm: FsmConfig;
}

/** What a peer needs from the speaker it belongs to. */
export interface PeerHost {
  readonly localAs: number;
  readonly routerId: string;
  /** Set when this speaker is a route reflector (RFC 4456). */
  readonly clusterId?: string | undefined;
  readonly clock: Clock;
  readonly rib: LocRib<RouteAttrs>;
  readonly log: Logger;
  /** Interned route attributes, shared by every peer. */
  readonly attrs: RouteAttrsTable;
  /** Routes this peer should carry in its Adj-RIB-Out right now. */
  exportable(peer: Peer): Iterable<[PrefixKey, RouteAttrs]>;
  /** A received route after import policy, or undefined when it is rejected. */
  importFor(peer: Peer, k: PrefixKey, attrs: RouteAttrs): RouteAttrs | undefined;
  /** Our RFC 4724 settings; undefined: graceful restart is off (neither role). */
  readonly gracefulRestart: GracefulRestartSettings | undefined;
  /** The peer sent End-of-RIB for every family of the session. */
  synced(peer: Peer): void;
  /** The session reached Established over a connection from this local address. */
  established?(peer: Peer, localAddress: string): void;
}

const CEASE_COLLISION = 7;

/**
 * The shell around one peer's FSM: it turns socket events and received
 * messages into RFC 4271 events, steps the pure FSM, and performs the actions
 * it returns. Exactly one timeout is armed at a time, for the earliest FSM
 * timer.
 */
export class Peer {
  fsm: FsmState;
  private conn: Connection | undefined;
  /** An outgoing connection still being set up. */
  private dialing: Socket | undefined;
  /** A second connection from the peer during OpenSent/OpenConfirm (§6.8), waiting for its OPEN. */
  private second: Connection | undefined;
  private timer: unknown;
  private localOpen: OpenMessage | undefined;
  private negotiated: Negotiated | undefined;
  private establishedWallClock: number | undefined;
  /** The peer's BGP Identifier from its OPEN, as a number (the decision process's tie-breaker). */
  remoteRouterId = 0;
  remoteRouterIdText = "";
  readonly adjOut = new AdjRibOut<RouteAttrs>();
  /** Changes waiting for the socket to take them: attrs to announce, null to withdraw. */
  private readonly exportQueue = new Map<PrefixKey, RouteAttrs | null>();
  private endOfRibPending = false;
  /** A pump is due at the end of this event-loop turn (changes queued since are sent together). */
  private pumpScheduled = false;
  /** The state and event of the step being performed (graceful restart depends on how a session ended). */
  private dropCause: { from: string; event: string } = { from: "Idle", event: "" };
  /** RFC 4724 helper: the peer's GR capability from its last OPEN. */
  private peerGr: GracefulRestartCapability | undefined;
  /** RFC 4724 helper: routes kept from the peer's previous session, not yet refreshed. */
  private stale: Set<PrefixKey> | undefined;
  private staleTimer: unknown;
  /** Families the peer closed with End-of-RIB in this session. */
  private readonly endOfRibSeen = new Set<string>();
  /** Attribute sets this session decoded, by their bytes (bgp/wire shares equal sets). */
  private attrCache = new AttributeCache();
  readonly log: Logger;

  constructor(
    readonly id: SourceId,
    readonly settings: PeerSettings,
    private readonly host: PeerHost,
  ) {
    this.fsm = initialState(settings.fsm);
    this.log = host.log.child({ peer: settings.address });
    host.rib.addSource(id);
  }

  get state(): string {
    return this.fsm.state;
  }
  get uptimeSeconds(): number {
    return this.establishedWallClock === undefined
      ? 0
      : Math.floor((Date.now() - this.establishedWallClock) / 1000);
  }
  get prefixesReceived(): number {
    return this.host.rib.adjIn(this.id)?.size ?? 0;
  }
  get prefixesAdvertised(): number {
    return this.adjOut.size;
  }
  get isEbgp(): boolean {
    return this.settings.asn !== this.host.localAs;
  }

  start(): void {
    this.dispatch({
      type: this.settings.fsm.passive ? "ManualStart_with_PassiveTcpEstablishment" : "ManualStart",
    });
  }

  /**
   * Administrative stop: Cease, then the peer's routes go. A graceful stop (RFC 4724) sends no
   * NOTIFICATION and keeps the RIB as it is: the transport just goes, so a peer that negotiated
   * graceful restart keeps our routes as stale, and whatever we installed stays installed.
   */
  stop(opts: { graceful?: boolean } = {}): void {
    if (opts.graceful) {
      this.dialing?.destroy();
      this.dialing = undefined;
      this.conn?.close();
      this.conn = undefined;
      this.second?.close();
      this.second = undefined;
      this.disarm();
      this.dropStale("stopped");
      return;
    }
    this.dispatch({ type: "ManualStop" });
    this.second?.close();
    this.second = undefined;
    this.disarm();
  }

  /**
   * Something faster than the hold timer (BFD) saw the forwarding path die: the session goes
   * now, and its routes with it — no graceful-restart grace, the path is what failed (RFC 5882
   * §4.3). The session is started again and comes back when the path does.
   */
  pathDown(why: string): void {
    if (this.fsm.state !== "Established") return;
    this.log.warn({ why }, "forwarding path down: closing the session");
    this.dispatch({ type: "AutomaticStop" });
    this.start();
  }

  dispatch(ev: BgpEvent): void {
    const from = this.fsm.state;
    this.dropCause = { from, event: ev.type };
    const r = step(this.fsm, ev, this.host.clock.now());
    this.fsm = r.state;
    if (r.state.state !== from) {
      this.log.info({ from, to: r.state.state, event: ev.type }, `${from} -> ${r.state.state}: ${r.reason}`);
    } else {
      this.log.trace({ state: from, event: ev.type }, r.reason);
    }
    for (const a of r.actions) this.perform(a);
    this.arm();
  }

  private arm(): void {
    this.disarm();
    const next = nextTimer(this.fsm);
    if (!next) return;
    const delay = Math.max(0, next.at - this.host.clock.now());
    this.timer = this.host.clock.setTimeout(() => {
      this.timer = undefined;
      const ev = dueEvent(this.fsm, this.host.clock.now());
      if (ev) this.dispatch(ev);
      else this.arm();
    }, delay);
  }

  private disarm(): void {
    if (this.timer !== undefined) this.host.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private perform(a: Action): void {
    switch (a.type) {
      case "ConnectTcp":
        this.dial();
        return;
      case "DropTcp":
        // A dial still in flight when the ConnectRetry timer fires is given up, not failed: say so,
        // or an unreachable or key-mismatched peer looks as if we never tried again.
        if (this.dialing) this.log.debug("connect attempt abandoned");
        this.dialing?.destroy();
        this.dialing = undefined;
        this.conn?.close();
        this.conn = undefined;
        return;
      case "SendOpen":
        this.localOpen = buildOpen({
          asn: this.host.localAs,
          holdTime: this.settings.fsm.holdTime,
          bgpId: this.host.routerId,
          capabilities: localCapabilities(this.host.gracefulRestart),
        });
        this.conn?.send(encodeOpen(this.localOpen));
        return;
      case "SendKeepalive":
        this.conn?.send(encodeKeepalive());
        return;
      case "SendNotification": {
        const data = Buffer.from(a.error.data ?? new Uint8Array(0));
        this.log.warn(
          { code: a.error.code, subcode: a.error.subcode },
          `sending NOTIFICATION ${errorName(a.error.code, a.error.subcode)}`,
        );
        this.conn?.send(
          encodeNotification({ kind: "notification", code: a.error.code, subcode: a.error.subcode, data }),
        );
        return;
      }
      case "ReleaseResources": {
        if (this.helpRestart()) {
          // Keep the routes (and what forwards by them); they are stale until refreshed.
        } else if (this.stale && this.dropCause.event !== "ManualStop") {
          // A failed attempt while the peer restarts: its stale routes wait for the timer or End-of-RIB.
        } else {
          this.dropStale("session ended without graceful restart");
          const n = this.host.rib.flush(this.id);
          if (n > 0) this.log.info({ routes: n }, "routes from the peer removed");
        }
        this.adjOut.clear();
        this.exportQueue.clear();
        this.endOfRibPending = false;
        this.endOfRibSeen.clear();
        this.negotiated = undefined;
        this.attrCache = new AttributeCache();
        this.establishedWallClock = undefined;
        this.second?.close();
        this.second = undefined;
        return;
      }
      case "ProcessUpdate":
        // Applied by onUpdate right after the step that allowed it.
        return;
      case "SessionEstablished":
        this.establishedWallClock = Date.now();
        this.host.established?.(this, this.conn?.localAddress ?? "");
        if (this.second) this.reject(this.second, "session already established");
        this.second = undefined;
        for (const [k, attrs] of this.host.exportable(this)) this.exportQueue.set(k, attrs);
        this.endOfRibPending = true;
        this.pumpExport();
        if (this.stale) {
          const keep = this.peerGr?.families.some((f) => f.forwardingState) ?? false;
          if (!keep) this.purgeStale("the peer kept no forwarding state across its restart");
          else this.armStaleTimer(this.host.gracefulRestart?.restartTime ?? 120, "End-of-RIB did not come");
        }
        return;
    }
  }

  /**
   * RFC 4724 §4.2, helper role: the transport of an Established session failed (no NOTIFICATION
   * either way) and both sides do graceful restart: keep the peer's routes as stale for its
   * restart time. Returns whether the routes are kept.
   */
  private helpRestart(): boolean {
    const gr = this.peerGr;
    const { from, event } = this.dropCause;
    if (!this.host.gracefulRestart || !gr || gr.restartTime === 0 || gr.families.length === 0) return false;
    if (from !== "Established" || event !== "TcpConnectionFails") return false;
    const t = this.host.rib.adjIn(this.id);
    this.stale = new Set(t ? t.keys() : []);
    this.log.info(
      { routes: this.stale.size, restartTime: gr.restartTime },
      "graceful restart: keeping the peer's routes as stale",
    );
    this.armStaleTimer(gr.restartTime, "restart time ran out");
    return true;
  }

  private armStaleTimer(seconds: number, why: string): void {
    if (this.staleTimer !== undefined) this.host.clock.clearTimeout(this.staleTimer);
    this.staleTimer = this.host.clock.setTimeout(() => {
      this.staleTimer = undefined;
      this.purgeStale(why);
    }, seconds * 1000);
  }

  /** Withdraws every route still stale (End-of-RIB arrived, or time ran out). */
  private purgeStale(why: string): void {
    const stale = this.stale;
    this.dropStale(why);
    if (!stale) return;
    for (const k of stale) this.host.rib.withdraw(this.id, k);
    this.log.info({ routes: stale.size, why }, "graceful restart: stale routes purged");
  }

  private dropStale(_why: string): void {
    if (this.staleTimer !== undefined) this.host.clock.clearTimeout(this.staleTimer);
    this.staleTimer = undefined;
    this.stale = undefined;
  }

  private dial(): void {
    const s = this.settings;
    if (s.password !== undefined || s.ttlSecurity !== undefined) {
      this.dialSecure();
      return;
    }
    const sock = connect({
      host: s.address,
      port: s.port,
      ...(s.localAddress !== undefined ? { localAddress: s.localAddress } : {}),
    });
    this.dialing = sock;
    const c = new Connection(sock, "outgoing");
    sock.once("connect", () => {
      if (this.dialing !== sock) return;
      this.dialing = undefined;
      this.adopt(c);
      this.dispatch({ type: "Tcp_CR_Acked" });
    });
    sock.once("error", (err) => {
      if (this.dialing !== sock) return;
      this.dialing = undefined;
      this.log.debug({ err: err.message }, "connect failed");
      this.dispatch({ type: "TcpConnectionFails" });
    });
  }

  /**
   * TCP-MD5 (RFC 2385) and GTSM (RFC 5082) must be on the socket before the SYN leaves, which
   * node:net cannot do: the native addon connects and hands back the descriptor.
   */
  private dialSecure(): void {
    const s = this.settings;
    const token = new Socket();
    this.dialing = token;
    const hops = s.ttlSecurity;
    connectSecure({
      peer: s.address,
      port: s.port,
      ...(s.localAddress !== undefined ? { localAddress: s.localAddress } : {}),
      ...(s.password !== undefined ? { md5Key: s.password } : {}),
      ...(hops !== undefined ? { ttl: 255, minTtl: 256 - hops } : {}),
      timeoutMs: Math.max(1000, s.fsm.connectRetryTime * 1000),
    }).then(
      (sock) => {
        if (this.dialing !== token) {
          sock.destroy();
          return;
        }
        this.dialing = undefined;
        this.adopt(new Connection(sock, "outgoing"));
        this.dispatch({ type: "Tcp_CR_Acked" });
      },
      (err: Error) => {
        if (this.dialing !== token) return;
        this.dialing = undefined;
        this.log.debug({ err: err.message }, "secure connect failed");
        this.dispatch({ type: "TcpConnectionFails" });
      },
    );
  }

  /** A connection the peer opened to us (the listener found this peer by address). */
  incoming(c: Connection): void {
    switch (this.fsm.state) {
      case "Idle":
        // §8.2.2: Idle refuses connections; the back-off or an operator decides when we talk again.
        this.log.debug("refusing a connection while Idle");
        c.socket.destroy();
        return;
      case "Connect":
      case "Active":
        this.dialing?.destroy();
        this.dialing = undefined;
        this.adopt(c);
        this.dispatch({ type: "TcpConnectionConfirmed" });
        return;
      case "OpenSent":
      case "OpenConfirm":
        if (this.second) {
          c.socket.destroy();
          return;
        }
        this.second = c;
        this.log.info("connection collision: a second connection from the peer, waiting for its OPEN");
        c.attach({
          onFrame: (f) => this.onSecondFrame(c, f),
          onFramingError: () => this.dropSecond(c),
          onClose: () => this.dropSecond(c),
          onDrain: () => undefined,
        });
        return;
      case "Established":
        this.reject(c, "session already established");
        return;
    }
  }

  private reject(c: Connection, why: string): void {
    this.log.info(`closing a colliding connection: ${why}`);
    c.attach({
      onFrame: () => undefined,
      onFramingError: () => undefined,
      onClose: () => undefined,
      onDrain: () => undefined,
    });
    c.send(encodeNotification(buildCease(CEASE_COLLISION)));
    c.close();
  }

  private dropSecond(c: Connection): void {
    if (this.second === c) this.second = undefined;
    c.close();
  }

  /**
   * §6.8: the connection opened by the speaker with the higher BGP Identifier
   * survives. Until the second connection's OPEN arrives we cannot compare.
   */
  private onSecondFrame(c: Connection, f: Frame): void {
    if (this.second !== c || f.type !== MessageType.OPEN) return;
    let open: OpenMessage;
    try {
      open = decodeOpen(f.body);
    } catch {
      this.dropSecond(c);
      return;
    }
    const local = parseIpv4(this.host.routerId) ?? 0;
    const remote = parseIpv4(open.bgpId) ?? 0;
    const survivor = local > remote ? "outgoing" : "incoming";
    const primary = this.conn;
    if (!primary || primary.direction === survivor) {
      this.second = undefined;
      this.reject(c, `our ${survivor} connection wins (identifiers ${this.host.routerId} vs ${open.bgpId})`);
      return;
    }
    this.log.info(
      { local: this.host.routerId, remote: open.bgpId },
      "connection collision: the peer's connection wins, dumping ours",
    );
    this.second = undefined;
    primary.send(encodeNotification(buildCease(CEASE_COLLISION)));
    primary.close();
    this.conn = undefined;
    // Start over on the surviving connection, without the back-off a failure would bring.
    this.disarm();
    this.fsm = { ...initialState(this.settings.fsm), idleHoldTime: this.fsm.idleHoldTime };
    this.dispatch({ type: "ManualStart_with_PassiveTcpEstablishment" });
    this.adopt(c);
    this.dispatch({ type: "TcpConnectionConfirmed" });
    this.onOpen(open);
  }

  private adopt(c: Connection): void {
    this.conn = c;
    c.attach({
      onFrame: (f) => {
        if (this.conn === c) this.onFrame(f);
      },
      onFramingError: (err) => {
        if (this.conn === c) this.dispatch({ type: "BGPHeaderErr", error: err });
      },
      onClose: (hadError, err) => {
        if (this.conn !== c) return;
        this.log.info({ hadError, err: err?.message }, "connection closed");
        this.conn = undefined;
        this.dispatch({ type: "TcpConnectionFails" });
      },
      onDrain: () => {
        if (this.conn === c) this.pumpExport();
      },
    });
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case MessageType.OPEN: {
        let open: OpenMessage;
        try {
          open = decodeOpen(f.body);
        } catch (err) {
          if (err instanceof BgpError) return this.dispatch({ type: "BGPOpenMsgErr", error: err });
          throw err;
        }
        this.onOpen(open);
        return;
      }
      case MessageType.KEEPALIVE:
        this.dispatch({ type: "KeepAliveMsg" });
        return;
      case MessageType.UPDATE:
        this.onUpdate(f.body);
        return;
      case MessageType.NOTIFICATION: {
        const n = decodeNotification(f.body);
        const comm = shutdownCommunication(n);
        this.log.warn(
          { code: n.code, subcode: n.subcode, data: n.data.toString("hex"), communication: comm },
          `received NOTIFICATION ${errorName(n.code, n.subcode)}`,
        );
        const verErr =
          n.code === ErrorCode.OPEN_MESSAGE && n.subcode === OpenSubcode.UNSUPPORTED_VERSION_NUMBER;
        this.dispatch({ type: verErr ? "NotifMsgVerErr" : "NotifMsg" });
        return;
      }
      case MessageType.ROUTE_REFRESH:
        try {
          decodeRouteRefresh(f.body);
        } catch (err) {
          // RFC 7313 §5: a malformed ROUTE-REFRESH resets the session with 7/1.
          if (err instanceof BgpError) return this.dispatch({ type: "UpdateMsgErr", error: err });
          throw err;
        }
        if (this.fsm.state === "Established") {
          // RFC 2918: send the whole Adj-RIB-Out again.
          this.adjOut.clear();
          for (const [k, attrs] of this.host.exportable(this)) this.exportQueue.set(k, attrs);
          this.pumpExport();
        }
        return;
    }
  }

  private onOpen(open: OpenMessage): void {
    try {
      validateOpen(open, {
        peerAs: this.settings.asn,
        localBgpId: this.host.routerId,
        localAs: this.host.localAs,
      });
    } catch (err) {
      if (err instanceof BgpError) return this.dispatch({ type: "BGPOpenMsgErr", error: err });
      throw err;
    }
    // With DelayOpen our OPEN is built in the same step that accepts theirs.
    const local =
      this.localOpen ??
      buildOpen({
        asn: this.host.localAs,
        holdTime: this.settings.fsm.holdTime,
        bgpId: this.host.routerId,
        capabilities: localCapabilities(this.host.gracefulRestart),
      });
    this.negotiated = negotiate(local, open);
    this.remoteRouterId = ipv4ToNumber(open.bgpId);
    this.remoteRouterIdText = open.bgpId;
    this.peerGr = open.capabilities.find(
      (c): c is GracefulRestartCapability => c.kind === "graceful-restart",
    );
    this.conn?.framer.setExtendedMessage(this.negotiated.context.extendedMessage);
    this.log.info(
      { peerAs: this.negotiated.peerAs, bgpId: open.bgpId, holdTime: this.negotiated.holdTime },
      "OPEN received",
    );
    this.dispatch({ type: "BGPOpen", holdTime: open.holdTime });
  }

  private onUpdate(body: Buffer): void {
    const neg = this.negotiated;
    if (this.fsm.state !== "Established" || !neg) {
      // Not yet Established: the FSM answers with an FSM error.
      this.dispatch({ type: "UpdateMsg" });
      return;
    }
    let decoded: DecodedRoutes;
    try {
      decoded = decodeRoutes(body, neg.context, this.attrCache, this.host.attrs);
    } catch (err) {
      if (err instanceof BgpError) {
        this.log.warn({ error: err.toJSON() }, "malformed UPDATE: session reset (RFC 7606)");
        return this.dispatch({ type: "UpdateMsgErr", error: err });
      }
      throw err;
    }
    this.dispatch({ type: "UpdateMsg" });
    if (this.fsm.state !== "Established") return;
    for (const e of decoded.errors) {
      this.log.warn({ error: e.toJSON() }, `UPDATE error handled by ${actionName(e.action)} (RFC 7606)`);
    }
    const rib = this.host.rib;
    const stale = this.stale;
    for (const k of decoded.withdrawn) {
      stale?.delete(k);
      rib.withdraw(this.id, k);
    }
    for (const g of decoded.announced) {
      const loop = loopReason(g.attrs.attributes, this.host);
      if (loop !== undefined) {
        // A looped path is as good as withdrawn: it may replace one we held from this peer.
        this.log.debug({ loop, routes: g.keys.length }, "routes dropped: loop");
        for (const k of g.keys) rib.withdraw(this.id, k);
        continue;
      }
      for (const k of g.keys) {
        stale?.delete(k);
        const attrs = this.host.importFor(this, k, g.attrs);
        if (attrs) rib.announce(this.id, k, attrs);
        else rib.withdraw(this.id, k);
      }
    }
    if (decoded.endOfRib) {
      this.log.info({ family: decoded.endOfRib, routes: this.prefixesReceived }, "End-of-RIB received");
      this.endOfRibSeen.add(decoded.endOfRib);
      if (this.stale && this.endOfRibSeen.size >= neg.families.size) this.purgeStale("End-of-RIB received");
      if (this.endOfRibSeen.size >= neg.families.size) this.host.synced(this);
    }
  }

  private exportSession(c: Connection, neg: Negotiated): ExportSession {
    return {
      context: neg.context,
      families: neg.families,
      localAs: this.host.localAs,
      ebgp: this.isEbgp,
      localAddress: c.localAddress,
    };
  }

  /** RFC 2918: asks the peer to send its routes again (our import policy changed). */
  requestRefresh(): void {
    const neg = this.negotiated;
    if (this.fsm.state !== "Established" || !neg || !this.conn) return;
    if (!neg.routeRefresh) {
      this.log.warn("import policy changed but the peer cannot refresh: resetting the session");
      this.dispatch({ type: "AutomaticStop" });
      this.dispatch({ type: "ManualStart" });
      return;
    }
    for (const [afi, safi] of [
      [Afi.IPV4, Safi.UNICAST],
      [Afi.IPV6, Safi.UNICAST],
    ] as const) {
      if (neg.families.has(afiSafiKey(afi, safi)))
        this.conn.send(encodeRouteRefresh({ kind: "route-refresh", afi, safi, subtype: 0 }));
    }
    this.log.info("import policy changed: ROUTE-REFRESH sent");
  }

  /** Export policy changed: re-evaluates every route for this peer, withdrawing what no longer goes. */
  resendAll(): void {
    if (this.fsm.state !== "Established") return;
    const want = new Map<PrefixKey, RouteAttrs>();
    for (const [k, attrs] of this.host.exportable(this)) want.set(k, attrs);
    for (const k of this.adjOut.keys()) if (!want.has(k)) this.exportQueue.set(k, null);
    for (const [k, attrs] of want) this.exportQueue.set(k, attrs);
    this.pumpExport();
  }

  /** Queues one change for this peer (the speaker calls it when the exportable set changes). */
  queueExport(k: PrefixKey, attrs: RouteAttrs | undefined): void {
    if (this.fsm.state !== "Established") return;
    // Most changes are routes we do not export: nothing to withdraw if we never sent it.
    if (attrs === undefined && !this.adjOut.has(k) && !this.exportQueue.has(k)) return;
    this.exportQueue.set(k, attrs ?? null);
    // One received UPDATE changes many prefixes one by one: send them together, not one UPDATE
    // each (a reflector of 200 clients otherwise encodes ten times the messages).
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pumpExport();
    });
  }

  /**
   * Turns queued changes into UPDATEs while the socket takes them; stops when
   * `send` says the buffer is full and resumes on drain.
   */
  private pumpExport(): void {
    const c = this.conn;
    const neg = this.negotiated;
    if (!c || !neg || this.fsm.state !== "Established") return;
    while (this.exportQueue.size > 0 && c.writable) {
      const batch: [PrefixKey, RouteAttrs | null][] = [];
      for (const e of this.exportQueue) {
        batch.push(e);
        if (batch.length >= 512) break;
      }
      const announce: [PrefixKey, RouteAttrs][] = [];
      const withdraw: PrefixKey[] = [];
      for (const [k, attrs] of batch) {
        this.exportQueue.delete(k);
        const change = this.adjOut.update(k, attrs ?? undefined);
        if (change === null) withdraw.push(k);
        else if (change !== undefined) announce.push([k, change]);
      }
      const { messages, unsent } = encodeRoutes(this.exportSession(c, neg), announce, withdraw);
      // What the session cannot carry (a family without a next hop) is not in its Adj-RIB-Out.
      for (const k of unsent) this.adjOut.update(k, undefined);
      c.sendAll(messages);
    }
    if (this.exportQueue.size === 0 && this.endOfRibPending && c.writable) {
      this.endOfRibPending = false;
      for (const m of encodeEndOfRib(this.exportSession(c, neg))) c.send(m);
      this.log.info({ advertised: this.adjOut.size }, "initial table sent, End-of-RIB");
    }
  }
}
