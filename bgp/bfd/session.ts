import { BfdDiag, BfdState, type ControlPacket } from "./packet.js";

/**
 * One BFD session's state variables (RFC 5880 §6.8.1) and the rules that change them, as pure
 * functions of (state, input, time): reception (§6.8.6), the detection timer (§6.8.4) and
 * timer negotiation with Poll/Final (§6.8.3). Asynchronous mode only; no Demand, no Echo.
 * Times here are milliseconds; intervals on the wire are microseconds.
 */

export interface BfdTimers {
  /** bfd.DesiredMinTxInterval once Up, ms. */
  readonly minTxMs: number;
  /** bfd.RequiredMinRxInterval, ms. */
  readonly minRxMs: number;
  /** bfd.DetectMult. */
  readonly multiplier: number;
}

export const DEFAULT_TIMERS: BfdTimers = { minTxMs: 300, minRxMs: 300, multiplier: 3 };

/** §6.8.3: while not Up, packets go no faster than one a second. */
const SLOW_TX_MS = 1000;

export interface SessionVars {
  readonly state: BfdState;
  readonly remoteState: BfdState;
  readonly localDiscr: number;
  readonly remoteDiscr: number;
  readonly localDiag: BfdDiag;
  /** What we advertise as Desired Min TX now (slow until Up). */
  readonly desiredMinTxMs: number;
  readonly requiredMinRxMs: number;
  /** The peer's Required Min RX: 0 means send it nothing periodically. */
  readonly remoteMinRxMs: number;
  /** The peer's Desired Min TX from its last packet. */
  readonly remoteDesiredMinTxMs: number;
  readonly remoteDetectMult: number;
  /** A Poll Sequence of ours is running: packets carry P until the peer answers with F. */
  readonly polling: boolean;
  /** When the last valid packet arrived (ms), for the detection timer. */
  readonly lastRxMs: number | undefined;
  readonly timers: BfdTimers;
}

export function newSession(localDiscr: number, timers: BfdTimers): SessionVars {
  return {
    state: BfdState.Down,
    remoteState: BfdState.Down,
    localDiscr,
    remoteDiscr: 0,
    localDiag: BfdDiag.None,
    desiredMinTxMs: Math.max(SLOW_TX_MS, timers.minTxMs),
    requiredMinRxMs: timers.minRxMs,
    remoteMinRxMs: 1, // §6.8.1: initialised to 1 (µs): send until the peer says otherwise
    remoteDesiredMinTxMs: 0,
    remoteDetectMult: 0,
    polling: false,
    lastRxMs: undefined,
    timers,
  };
}

/** Interval between our periodic packets before jitter (§6.8.2, §6.8.7); undefined: send none. */
export function txIntervalMs(s: SessionVars): number | undefined {
  if (s.remoteMinRxMs === 0) return undefined;
  return Math.max(s.desiredMinTxMs, s.remoteMinRxMs);
}

/** §6.8.7: 75-100 % of the interval (at most 90 % with a detect multiplier of 1). */
export function jittered(intervalMs: number, detectMult: number, random: number): number {
  const top = detectMult === 1 ? 0.9 : 1;
  return intervalMs * (0.75 + (top - 0.75) * random);
}

/** §6.8.4, asynchronous mode: how long without a packet means the session is down. */
export function detectionTimeMs(s: SessionVars): number {
  return s.remoteDetectMult * Math.max(s.requiredMinRxMs, s.remoteDesiredMinTxMs);
}

const usToMs = (us: number): number => us / 1000;
const msToUs = (ms: number): number => Math.round(ms * 1000);

function enter(s: SessionVars, state: BfdState, diag: BfdDiag): SessionVars {
  if (state === s.state) return s;
  // Up: go fast, announced through a Poll Sequence (§6.8.3); anything else: back to slow.
  const desiredMinTxMs = state === BfdState.Up ? s.timers.minTxMs : Math.max(SLOW_TX_MS, s.timers.minTxMs);
  return {
    ...s,
    state,
    localDiag: diag,
    desiredMinTxMs,
    polling: desiredMinTxMs !== s.desiredMinTxMs ? true : s.polling,
  };
}

export interface Received {
  readonly next: SessionVars;
  /** The packet had P set: answer at once with F (§6.8.6). */
  readonly sendFinal: boolean;
}

/**
 * §6.8.6 after the checks that need no session (packet.ts) and the demultiplexing (the caller
 * found this session by Your Discriminator, or by addresses when it is zero). Undefined: the
 * packet is discarded.
 */
export function receive(s: SessionVars, p: ControlPacket, nowMs: number): Received | undefined {
  if (p.yourDiscriminator === 0 && p.state !== BfdState.Down && p.state !== BfdState.AdminDown)
    return undefined;
  if (p.yourDiscriminator !== 0 && p.yourDiscriminator !== s.localDiscr) return undefined;
  let next: SessionVars = {
    ...s,
    remoteDiscr: p.myDiscriminator,
    remoteState: p.state,
    remoteMinRxMs: usToMs(p.requiredMinRxInterval),
    remoteDesiredMinTxMs: usToMs(p.desiredMinTxInterval),
    remoteDetectMult: p.detectMult,
    lastRxMs: nowMs,
    polling: p.final ? false : s.polling,
  };
  if (next.state === BfdState.AdminDown) return undefined;
  if (p.state === BfdState.AdminDown) {
    if (next.state !== BfdState.Down) next = enter(next, BfdState.Down, BfdDiag.NeighborSignaledSessionDown);
  } else if (next.state === BfdState.Down) {
    if (p.state === BfdState.Down) next = enter(next, BfdState.Init, BfdDiag.None);
    else if (p.state === BfdState.Init) next = enter(next, BfdState.Up, BfdDiag.None);
  } else if (next.state === BfdState.Init) {
    if (p.state === BfdState.Init || p.state === BfdState.Up) next = enter(next, BfdState.Up, BfdDiag.None);
  } else if (p.state === BfdState.Down) {
    next = enter(next, BfdState.Down, BfdDiag.NeighborSignaledSessionDown);
  }
  return { next, sendFinal: p.poll };
}

/** The detection timer: Init or Up with no packet for the detection time goes Down (§6.8.4). */
export function expire(s: SessionVars, nowMs: number): SessionVars {
  if (s.state !== BfdState.Init && s.state !== BfdState.Up) return s;
  if (s.lastRxMs === undefined || nowMs - s.lastRxMs < detectionTimeMs(s)) return s;
  // §6.8.1: the remote discriminator is forgotten once the detection time passed.
  return { ...enter(s, BfdState.Down, BfdDiag.ControlDetectionTimeExpired), remoteDiscr: 0 };
}

/** The packet we send now (§6.8.7); `final` answers a Poll. */
export function packetFor(s: SessionVars, final: boolean): Omit<ControlPacket, "version" | "length"> {
  return {
    diag: s.localDiag,
    state: s.state,
    poll: s.polling && !final,
    final,
    controlPlaneIndependent: false,
    authPresent: false,
    demand: false,
    multipoint: false,
    detectMult: s.timers.multiplier,
    myDiscriminator: s.localDiscr,
    yourDiscriminator: s.remoteDiscr,
    desiredMinTxInterval: msToUs(s.desiredMinTxMs),
    requiredMinRxInterval: msToUs(s.requiredMinRxMs),
    requiredMinEchoRxInterval: 0,
  };
}
