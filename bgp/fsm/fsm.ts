import {
  NOTIFY,
  OPEN_HOLD_TIME,
  type Action,
  type BgpEvent,
  type FsmConfig,
  type FsmState,
  type NotifyError,
  type State,
  type StepResult,
  type TimerName,
} from "./types.js";

/**
 * `step(state, event, now)` is RFC 4271 §8.2.2 as a pure function: no sockets,
 * no clocks (timer deadlines are data computed from `now`), so every row of
 * the transition table is a unit test. The shell performs the actions.
 */

export function initialState(config: FsmConfig): FsmState {
  return {
    config,
    state: "Idle",
    connectRetryCounter: 0,
    holdTime: 0,
    keepaliveTime: 0,
    idleHoldTime: config.idleHoldTime,
    timers: {},
  };
}

/** Hold time negotiation (§4.2): the smaller proposal wins; 0 means no keepalives at all. */
export function negotiate(
  config: FsmConfig,
  peerHoldTime: number,
): { holdTime: number; keepaliveTime: number } {
  const holdTime = Math.min(config.holdTime, peerHoldTime);
  if (holdTime === 0) return { holdTime: 0, keepaliveTime: 0 };
  const third = Math.floor(holdTime / 3);
  const keepaliveTime = Math.max(1, Math.min(config.keepalive ?? third, third));
  return { holdTime, keepaliveTime };
}

/** Mutable scratch for one step; the result is frozen into a new FsmState. */
class Txn {
  state: State;
  counter: number;
  holdTime: number;
  keepaliveTime: number;
  idleHoldTime: number;
  establishedAt: number | undefined;
  timers: Partial<Record<TimerName, number>>;
  readonly actions: Action[] = [];

  constructor(
    readonly s: FsmState,
    readonly now: number,
  ) {
    this.state = s.state;
    this.counter = s.connectRetryCounter;
    this.holdTime = s.holdTime;
    this.keepaliveTime = s.keepaliveTime;
    this.idleHoldTime = s.idleHoldTime;
    this.establishedAt = s.establishedAt;
    this.timers = { ...s.timers };
  }

  get cfg(): FsmConfig {
    return this.s.config;
  }

  start(t: TimerName, seconds: number): this {
    if (seconds > 0) this.timers[t] = this.now + seconds * 1000;
    else delete this.timers[t];
    return this;
  }
  stop(...ts: TimerName[]): this {
    for (const t of ts) delete this.timers[t];
    return this;
  }
  running(t: TimerName): boolean {
    return this.timers[t] !== undefined;
  }
  act(a: Action): this {
    this.actions.push(a);
    return this;
  }
  notify(error: NotifyError): this {
    return this.act({ type: "SendNotification", error });
  }
  to(state: State): this {
    this.state = state;
    return this;
  }

  /** Connect (or wait passively) from Idle, as ManualStart/AutomaticStart do. */
  startSession(passive: boolean): this {
    this.stop("IdleHold").start("ConnectRetry", this.cfg.connectRetryTime);
    if (passive) return this.to("Active");
    return this.act({ type: "ConnectTcp" }).to("Connect");
  }

  sendOpen(): this {
    return this.act({ type: "SendOpen" }).start("Hold", OPEN_HOLD_TIME).to("OpenSent");
  }

  /** OPEN accepted: send KEEPALIVE and arm the negotiated timers (none when hold time is 0). */
  acceptOpen(peerHoldTime: number): this {
    const n = negotiate(this.cfg, peerHoldTime);
    this.holdTime = n.holdTime;
    this.keepaliveTime = n.keepaliveTime;
    this.stop("ConnectRetry", "DelayOpen");
    this.act({ type: "SendKeepalive" });
    this.start("Keepalive", n.keepaliveTime).start("Hold", n.holdTime);
    return this.to("OpenConfirm");
  }

  /**
   * Every path back to Idle: release resources, drop TCP, count the failure,
   * and arm the idle-hold back-off if we restart on our own. Flapping peers
   * wait twice as long each time, up to idleHoldMax; a session that stayed up
   * for stableTime starts again from the base wait.
   */
  drop(opts: { count: "increment" | "reset" | "keep" }): this {
    this.stop("ConnectRetry", "Hold", "Keepalive", "DelayOpen");
    this.act({ type: "ReleaseResources" }).act({ type: "DropTcp" });
    if (opts.count === "increment") this.counter += 1;
    else if (opts.count === "reset") this.counter = 0;
    const stable =
      this.establishedAt !== undefined && this.now - this.establishedAt >= this.cfg.stableTime * 1000;
    const wait = stable ? this.cfg.idleHoldTime : this.idleHoldTime;
    this.holdTime = 0;
    this.keepaliveTime = 0;
    this.establishedAt = undefined;
    if (opts.count === "reset") {
      // An operator stop is not a flap: no back-off, no automatic restart.
      this.idleHoldTime = this.cfg.idleHoldTime;
      this.stop("IdleHold");
    } else {
      if (this.cfg.automaticRestart) this.start("IdleHold", wait);
      this.idleHoldTime = Math.min(wait * 2, this.cfg.idleHoldMax);
    }
    return this.to("Idle");
  }

  result(reason: string): StepResult {
    return {
      state: {
        config: this.s.config,
        state: this.state,
        connectRetryCounter: this.counter,
        holdTime: this.holdTime,
        keepaliveTime: this.keepaliveTime,
        idleHoldTime: this.idleHoldTime,
        ...(this.establishedAt !== undefined ? { establishedAt: this.establishedAt } : {}),
        timers: this.timers,
      },
      actions: this.actions,
      reason,
    };
  }
}

const ignored = (s: FsmState, e: BgpEvent): StepResult => ({
  state: s,
  actions: [],
  reason: `${e.type} ignored in ${s.state}`,
});

function isStart(e: BgpEvent): boolean {
  return (
    e.type === "ManualStart" ||
    e.type === "AutomaticStart" ||
    e.type === "ManualStart_with_PassiveTcpEstablishment" ||
    e.type === "AutomaticStart_with_PassiveTcpEstablishment"
  );
}

function isConnected(e: BgpEvent): boolean {
  return e.type === "Tcp_CR_Acked" || e.type === "TcpConnectionConfirmed" || e.type === "TcpConnection_Valid";
}

function errorOf(e: BgpEvent): NotifyError | undefined {
  if (e.type === "BGPHeaderErr" || e.type === "BGPOpenMsgErr" || e.type === "UpdateMsgErr") return e.error;
  return undefined;
}

const TIMER_EVENTS: Record<TimerName, BgpEvent> = {
  ConnectRetry: { type: "ConnectRetryTimer_Expires" },
  Hold: { type: "HoldTimer_Expires" },
  Keepalive: { type: "KeepaliveTimer_Expires" },
  DelayOpen: { type: "DelayOpenTimer_Expires" },
  IdleHold: { type: "IdleHoldTimer_Expires" },
};
const TIMER_OF: Partial<Record<BgpEvent["type"], TimerName>> = Object.fromEntries(
  Object.entries(TIMER_EVENTS).map(([t, e]) => [e.type, t as TimerName]),
);

export function step(s: FsmState, e: BgpEvent, now: number): StepResult {
  // A timer that fired is no longer running, whatever the state does with its event.
  const fired = TIMER_OF[e.type];
  if (fired !== undefined && s.timers[fired] !== undefined) {
    const timers = { ...s.timers };
    delete timers[fired];
    s = { ...s, timers };
  }
  const x = new Txn(s, now);
  switch (s.state) {
    case "Idle":
      return idle(x, e);
    case "Connect":
    case "Active":
      return connectOrActive(x, e);
    case "OpenSent":
      return openSent(x, e);
    case "OpenConfirm":
      return openConfirm(x, e);
    case "Established":
      return established(x, e);
  }
}

function idle(x: Txn, e: BgpEvent): StepResult {
  if (e.type === "ManualStart" || e.type === "ManualStart_with_PassiveTcpEstablishment") {
    const passive = e.type === "ManualStart_with_PassiveTcpEstablishment" || x.cfg.passive;
    x.counter = 0;
    x.idleHoldTime = x.cfg.idleHoldTime;
    return x.startSession(passive).result(`${e.type}: ${passive ? "waiting for the peer" : "connecting"}`);
  }
  if (e.type === "AutomaticStart" || e.type === "AutomaticStart_with_PassiveTcpEstablishment") {
    // While the idle-hold back-off runs, automatic starts wait for it (§8.1.1 DampPeerOscillations).
    if (x.running("IdleHold")) return ignored(x.s, e);
    const passive = e.type === "AutomaticStart_with_PassiveTcpEstablishment" || x.cfg.passive;
    return x.startSession(passive).result(`${e.type}: ${passive ? "waiting for the peer" : "connecting"}`);
  }
  if (e.type === "IdleHoldTimer_Expires") {
    x.stop("IdleHold");
    return x.startSession(x.cfg.passive).result("IdleHoldTimer_Expires: idle hold over, automatic restart");
  }
  // §8.2.2: any other event in Idle does not cause a change of state.
  return ignored(x.s, e);
}

/** Connect and Active differ only in ConnectRetryTimer_Expires and in how a failed connect is counted. */
function connectOrActive(x: Txn, e: BgpEvent): StepResult {
  const here = x.s.state;
  if (isStart(e)) return ignored(x.s, e);
  if (e.type === "ManualStop") {
    if (x.running("DelayOpen")) x.notify(NOTIFY.ceaseAdminShutdown);
    return x.drop({ count: "reset" }).result("ManualStop: administrative stop");
  }
  if (e.type === "ConnectRetryTimer_Expires") {
    x.stop("DelayOpen").start("ConnectRetry", x.cfg.connectRetryTime);
    if (here === "Connect") x.act({ type: "DropTcp" });
    return x
      .act({ type: "ConnectTcp" })
      .to("Connect")
      .result("ConnectRetryTimer_Expires: retrying the connection");
  }
  if (e.type === "DelayOpenTimer_Expires") {
    x.stop("ConnectRetry", "DelayOpen");
    return x.sendOpen().result("DelayOpenTimer_Expires: sending OPEN");
  }
  if (e.type === "Tcp_CR_Invalid") return ignored(x.s, e);
  if (isConnected(e)) {
    x.stop("ConnectRetry");
    if (x.cfg.delayOpenTime > 0) {
      return x.start("DelayOpen", x.cfg.delayOpenTime).result(`${e.type}: TCP up, delaying OPEN`);
    }
    return x.sendOpen().result(`${e.type}: TCP up, OPEN sent`);
  }
  if (e.type === "TcpConnectionFails") {
    if (here === "Connect") {
      // §8.2.2 sends a refused connect in Connect to Idle, where the peer's own connection would
      // be refused too. Like FRR and GoBGP we wait in Active instead: the peer may connect to us,
      // and ConnectRetry tries again. A refused SYN is not a session flap, so no back-off.
      const delaying = x.running("DelayOpen");
      x.start("ConnectRetry", x.cfg.connectRetryTime).stop("DelayOpen").act({ type: "DropTcp" });
      return x
        .to("Active")
        .result(
          `TcpConnectionFails: ${delaying ? "connection lost while delaying OPEN" : "connect failed"}, waiting`,
        );
    }
    return x.drop({ count: "increment" }).result("TcpConnectionFails: connection failed");
  }
  if ((e.type === "BGPOpen" && x.running("DelayOpen")) || e.type === "BGPOpen_with_DelayOpenTimer_running") {
    x.act({ type: "SendOpen" });
    return x.acceptOpen(e.holdTime).result(`${e.type}: peer's OPEN while delaying ours`);
  }
  const err = errorOf(e);
  if (e.type === "BGPHeaderErr" || e.type === "BGPOpenMsgErr") {
    if (err) x.notify(err);
    return x.drop({ count: "increment" }).result(`${e.type}: malformed message`);
  }
  if (e.type === "NotifMsgVerErr") {
    const delaying = x.running("DelayOpen");
    return x
      .drop({ count: delaying ? "keep" : "increment" })
      .result("NotifMsgVerErr: peer rejected our version");
  }
  return x.drop({ count: "increment" }).result(`${e.type}: unexpected in ${here}`);
}

/**
 * The rows §8.2.2 gives alike in OpenSent, OpenConfirm and Established: stops, a lost
 * collision, malformed messages and "any other event". §8.2.2 puts header and OPEN errors
 * under "any other event" (FSM Error), but §6.1 asks for the error's own code, which tells
 * the peer what was wrong; we send that.
 */
function sharedRows(x: Txn, e: BgpEvent, here: string): StepResult {
  // eslint-disable-next-line @typescript-eslint/switch-exhaustiveness-check
  switch (e.type) {
    case "ManualStop":
      return x.notify(NOTIFY.ceaseAdminShutdown).drop({ count: "reset" }).result("ManualStop: Cease sent");
    case "AutomaticStop":
      return x.notify(NOTIFY.ceaseOther).drop({ count: "increment" }).result("AutomaticStop: Cease sent");
    case "BGPHeaderErr":
    case "BGPOpenMsgErr":
      return x.notify(e.error).drop({ count: "increment" }).result(`${e.type}: malformed message`);
    case "OpenCollisionDump":
      return x
        .notify(NOTIFY.ceaseCollision)
        .drop({ count: "increment" })
        .result("OpenCollisionDump: lost the connection collision");
    default:
      return x
        .notify(NOTIFY.fsmError)
        .drop({ count: "increment" })
        .result(`${e.type}: unexpected in ${here}`);
  }
}

function openSent(x: Txn, e: BgpEvent): StepResult {
  if (isStart(e) || e.type === "Tcp_CR_Invalid") return ignored(x.s, e);
  // A second connection during OpenSent is the shell's business (§6.8 collision).
  if (isConnected(e)) return ignored(x.s, e);
  // The RFC lists the events each state handles and sends "any other event" to one row: the default.
  // eslint-disable-next-line @typescript-eslint/switch-exhaustiveness-check
  switch (e.type) {
    case "HoldTimer_Expires":
      return x
        .notify(NOTIFY.holdTimerExpired)
        .drop({ count: "increment" })
        .result("HoldTimer_Expires: no OPEN from the peer");
    case "TcpConnectionFails":
      x.act({ type: "DropTcp" }).stop("Hold").start("ConnectRetry", x.cfg.connectRetryTime);
      return x.to("Active").result("TcpConnectionFails: connection lost before the peer's OPEN");
    case "BGPOpen":
    case "BGPOpen_with_DelayOpenTimer_running":
      return x
        .acceptOpen(e.holdTime)
        .result(`BGPOpen: accepted, hold time ${negotiate(x.cfg, e.holdTime).holdTime}`);
    case "NotifMsgVerErr":
      return x.drop({ count: "keep" }).result("NotifMsgVerErr: peer rejected our version");
    default:
      return sharedRows(x, e, "OpenSent");
  }
}

function openConfirm(x: Txn, e: BgpEvent): StepResult {
  if (isStart(e) || e.type === "Tcp_CR_Invalid" || isConnected(e)) return ignored(x.s, e);
  // The RFC lists the events each state handles and sends "any other event" to one row: the default.
  // eslint-disable-next-line @typescript-eslint/switch-exhaustiveness-check
  switch (e.type) {
    case "HoldTimer_Expires":
      return x
        .notify(NOTIFY.holdTimerExpired)
        .drop({ count: "increment" })
        .result("HoldTimer_Expires: no KEEPALIVE from the peer");
    case "KeepaliveTimer_Expires":
      return x
        .act({ type: "SendKeepalive" })
        .start("Keepalive", x.keepaliveTime)
        .result("KeepaliveTimer_Expires: KEEPALIVE sent");
    case "TcpConnectionFails":
    case "NotifMsg":
      return x.drop({ count: "increment" }).result(`${e.type}: session closed by the peer`);
    case "NotifMsgVerErr":
      return x.drop({ count: "keep" }).result("NotifMsgVerErr: peer rejected our version");
    case "KeepAliveMsg":
      x.establishedAt = x.now;
      x.start("Hold", x.holdTime);
      return x
        .act({ type: "SessionEstablished" })
        .to("Established")
        .result("KeepAliveMsg: session established");
    default:
      return sharedRows(x, e, "OpenConfirm");
  }
}

function established(x: Txn, e: BgpEvent): StepResult {
  if (isStart(e) || e.type === "Tcp_CR_Invalid" || isConnected(e)) return ignored(x.s, e);
  // The RFC lists the events each state handles and sends "any other event" to one row: the default.
  // eslint-disable-next-line @typescript-eslint/switch-exhaustiveness-check
  switch (e.type) {
    case "HoldTimer_Expires":
      return x
        .notify(NOTIFY.holdTimerExpired)
        .drop({ count: "increment" })
        .result(`HoldTimer_Expires: nothing from the peer for ${x.holdTime} s`);
    case "KeepaliveTimer_Expires":
      return x
        .act({ type: "SendKeepalive" })
        .start("Keepalive", x.keepaliveTime)
        .result("KeepaliveTimer_Expires: KEEPALIVE sent");
    case "TcpConnectionFails":
    case "NotifMsg":
    case "NotifMsgVerErr":
      return x.drop({ count: "increment" }).result(`${e.type}: session closed by the peer`);
    case "KeepAliveMsg":
      return x.start("Hold", x.holdTime).result("KeepAliveMsg: hold timer restarted");
    case "UpdateMsg":
      return x.start("Hold", x.holdTime).act({ type: "ProcessUpdate" }).result("UpdateMsg: processed");
    case "UpdateMsgErr":
      return x.notify(e.error).drop({ count: "increment" }).result("UpdateMsgErr: session reset");
    default:
      return sharedRows(x, e, "Established");
  }
}

/** The earliest running timer, for the shell to arm one real timeout. */
export function nextTimer(s: FsmState): { timer: TimerName; at: number } | undefined {
  let best: { timer: TimerName; at: number } | undefined;
  for (const [timer, at] of Object.entries(s.timers) as [TimerName, number | undefined][]) {
    if (at !== undefined && (!best || at < best.at)) best = { timer, at };
  }
  return best;
}

/** The timer event due at `now`, if any (earliest first). */
export function dueEvent(s: FsmState, now: number): BgpEvent | undefined {
  const next = nextTimer(s);
  if (!next || next.at > now) return undefined;
  return TIMER_EVENTS[next.timer];
}
