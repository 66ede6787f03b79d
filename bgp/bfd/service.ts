import { createSocket, type Socket } from "node:dgram";
import { randomInt } from "node:crypto";
import type { Logger } from "../../core/log.js";
import { native } from "../../core/native/index.js";
import { BfdDiag, BfdState, decodeControl, encodeControl } from "./packet.js";
import {
  detectionTimeMs,
  expire,
  jittered,
  newSession,
  packetFor,
  receive,
  txIntervalMs,
  type BfdTimers,
  type SessionVars,
} from "./session.js";

/** RFC 5881 §4: single-hop control packets go to this port, from one source port per session. */
export const BFD_CONTROL_PORT = 3784;
/** RFC 5881 §5: single hop means TTL 255 both ways (GTSM). */
const SINGLE_HOP_TTL = 255;

export interface BfdSessionView {
  readonly local: string;
  readonly remote: string;
  readonly state: keyof typeof BfdState;
  readonly diag: keyof typeof BfdDiag;
  readonly localDiscriminator: number;
  readonly remoteDiscriminator: number;
  /** Negotiated: how often we send, and how long without a packet means down (ms). */
  readonly txIntervalMs: number | undefined;
  readonly detectionTimeMs: number;
  /** Valid control packets taken by this session. */
  readonly received: number;
}

export type StateListener = (state: BfdState, diag: BfdDiag) => void;

function bind(address: string, port: number): Promise<Socket> {
  const fd = native().udpSocket(address, port, SINGLE_HOP_TTL);
  const s = createSocket(address.includes(":") ? "udp6" : "udp4");
  return new Promise((resolve, reject) => {
    s.once("error", reject);
    s.bind({ fd }, () => {
      s.off("error", reject);
      resolve(s);
    });
  });
}

class Session {
  vars: SessionVars;
  tx: Socket | undefined;
  private txTimer: NodeJS.Timeout | undefined;
  private detectTimer: NodeJS.Timeout | undefined;
  closed = false;
  received = 0;

  constructor(
    readonly local: string,
    readonly remote: string,
    timers: BfdTimers,
    private readonly listener: StateListener,
    private readonly log: Logger,
  ) {
    this.vars = newSession(randomInt(1, 2 ** 32), timers);
  }

  send(final = false): void {
    if (this.closed || !this.tx) return;
    this.tx.send(encodeControl(packetFor(this.vars, final)), BFD_CONTROL_PORT, this.remote);
  }

  /** Periodic transmission (§6.8.7), re-armed after every packet so timer changes apply at once. */
  schedule(): void {
    clearTimeout(this.txTimer);
    const interval = txIntervalMs(this.vars);
    if (this.closed || interval === undefined) return;
    this.txTimer = setTimeout(
      () => {
        this.send();
        this.schedule();
      },
      jittered(interval, this.vars.timers.multiplier, Math.random()),
    );
    this.txTimer.unref();
  }

  /** Applies a new state; tells the listener and the peer at once when the state changed. */
  update(next: SessionVars): void {
    const before = this.vars;
    this.vars = next;
    if (next.state !== before.state) {
      this.log.info(
        { from: BfdState[before.state], to: BfdState[next.state], diag: BfdDiag[next.localDiag] },
        `BFD ${BfdState[before.state]} -> ${BfdState[next.state]}`,
      );
      this.send();
      this.schedule();
      this.listener(next.state, next.localDiag);
    } else if (next.desiredMinTxMs !== before.desiredMinTxMs || next.remoteMinRxMs !== before.remoteMinRxMs) {
      this.schedule();
    }
  }

  armDetection(): void {
    clearTimeout(this.detectTimer);
    if (this.closed || (this.vars.state !== BfdState.Init && this.vars.state !== BfdState.Up)) return;
    this.detectTimer = setTimeout(
      () => this.update(expire(this.vars, Date.now())),
      detectionTimeMs(this.vars),
    );
    this.detectTimer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.txTimer);
    clearTimeout(this.detectTimer);
    this.tx?.close();
    this.tx = undefined;
  }

  view(): BfdSessionView {
    const v = this.vars;
    return {
      local: this.local,
      remote: this.remote,
      state: BfdState[v.state] as keyof typeof BfdState,
      diag: BfdDiag[v.localDiag] as keyof typeof BfdDiag,
      localDiscriminator: v.localDiscr,
      remoteDiscriminator: v.remoteDiscr,
      txIntervalMs: txIntervalMs(v),
      detectionTimeMs: detectionTimeMs(v),
      received: this.received,
    };
  }
}

/**
 * BFD for directly connected peers (RFC 5880 asynchronous mode over RFC 5881 single hop): one
 * receiving socket per local address on port 3784, one sending socket per session, timers per
 * session. Datagrams that did not arrive with TTL 255 never reach us (a socket filter drops them).
 */
export class BfdService {
  private readonly receivers = new Map<string, Promise<Socket>>();
  private readonly sessions = new Map<string, Session>();
  private readonly byDiscriminator = new Map<number, Session>();
  private discarded = 0;

  constructor(private readonly log: Logger) {}

  /** Starts a session from `local` to `remote`; the listener hears every state change. */
  async add(local: string, remote: string, timers: BfdTimers, listener: StateListener): Promise<void> {
    const key = `${local}|${remote}`;
    if (this.sessions.has(key)) throw new Error(`a BFD session ${local} -> ${remote} exists already`);
    const s = new Session(local, remote, timers, listener, this.log.child({ bfd: remote }));
    this.sessions.set(key, s);
    this.byDiscriminator.set(s.vars.localDiscr, s);
    try {
      await this.receiver(local);
      s.tx = await this.sourceSocket(local);
    } catch (err) {
      this.sessions.delete(key);
      this.byDiscriminator.delete(s.vars.localDiscr);
      s.close();
      throw err;
    }
    if (s.closed) return;
    s.send();
    s.schedule();
  }

  remove(local: string, remote: string): void {
    const key = `${local}|${remote}`;
    const s = this.sessions.get(key);
    if (!s) return;
    // §6.8.16: AdminDown tells the peer this is on purpose, not a failure.
    s.vars = { ...s.vars, state: BfdState.AdminDown, localDiag: BfdDiag.AdministrativelyDown };
    s.send();
    s.close();
    this.sessions.delete(key);
    this.byDiscriminator.delete(s.vars.localDiscr);
  }

  session(local: string, remote: string): BfdSessionView | undefined {
    return this.sessions.get(`${local}|${remote}`)?.view();
  }

  sessionsView(): BfdSessionView[] {
    return [...this.sessions.values()].map((s) => s.view());
  }

  get discardedPackets(): number {
    return this.discarded;
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
    this.byDiscriminator.clear();
    for (const r of this.receivers.values()) (await r.catch(() => undefined))?.close();
    this.receivers.clear();
  }

  private receiver(local: string): Promise<Socket> {
    let r = this.receivers.get(local);
    if (!r) {
      r = bind(local, BFD_CONTROL_PORT).then((sock) => {
        sock.on("message", (msg, from) => this.onPacket(local, msg, from.address));
        sock.on("error", (err) => this.log.warn({ err, local }, "BFD receive socket error"));
        return sock;
      });
      this.receivers.set(local, r);
      r.catch(() => this.receivers.delete(local));
    }
    return r;
  }

  private async sourceSocket(local: string): Promise<Socket> {
    // RFC 5881 §4: a source port in 49152-65535, the same for the whole session.
    for (let attempt = 0; ; attempt++) {
      try {
        return await bind(local, randomInt(49152, 65536));
      } catch (err) {
        if (attempt >= 20 || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
      }
    }
  }

  private onPacket(local: string, msg: Buffer, from: string): void {
    const p = decodeControl(msg);
    if ("discard" in p) {
      this.discarded++;
      this.log.debug({ from, why: p.discard }, "BFD packet discarded");
      return;
    }
    const s =
      p.yourDiscriminator !== 0
        ? this.byDiscriminator.get(p.yourDiscriminator)
        : this.sessions.get(`${local}|${from}`);
    // A discriminator is no password: the packet must also come from the session's peer.
    const r = s && s.remote === from && s.local === local ? receive(s.vars, p, Date.now()) : undefined;
    if (!s || !r) {
      this.discarded++;
      return;
    }
    s.received++;
    s.update(r.next);
    if (r.sendFinal) s.send(true);
    s.armDetection();
  }
}
