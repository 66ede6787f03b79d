import t from "tap";
import {
  DEFAULT_FSM_CONFIG,
  ManualClock,
  dueEvent,
  initialState,
  negotiate,
  nextTimer,
  step,
  type BgpEvent,
  type EventType,
  type FsmConfig,
  type FsmState,
  type State,
} from "../../../bgp/fsm/index.js";

const cfg: FsmConfig = { ...DEFAULT_FSM_CONFIG, holdTime: 90, connectRetryTime: 5 };
const err = { code: 1, subcode: 2 };

/** One event of every type, with payloads where the type needs one. */
const EVENTS: Record<EventType, BgpEvent> = {
  ManualStart: { type: "ManualStart" },
  ManualStop: { type: "ManualStop" },
  AutomaticStart: { type: "AutomaticStart" },
  ManualStart_with_PassiveTcpEstablishment: { type: "ManualStart_with_PassiveTcpEstablishment" },
  AutomaticStart_with_PassiveTcpEstablishment: { type: "AutomaticStart_with_PassiveTcpEstablishment" },
  AutomaticStop: { type: "AutomaticStop" },
  ConnectRetryTimer_Expires: { type: "ConnectRetryTimer_Expires" },
  HoldTimer_Expires: { type: "HoldTimer_Expires" },
  KeepaliveTimer_Expires: { type: "KeepaliveTimer_Expires" },
  DelayOpenTimer_Expires: { type: "DelayOpenTimer_Expires" },
  IdleHoldTimer_Expires: { type: "IdleHoldTimer_Expires" },
  TcpConnection_Valid: { type: "TcpConnection_Valid" },
  Tcp_CR_Invalid: { type: "Tcp_CR_Invalid" },
  Tcp_CR_Acked: { type: "Tcp_CR_Acked" },
  TcpConnectionConfirmed: { type: "TcpConnectionConfirmed" },
  TcpConnectionFails: { type: "TcpConnectionFails" },
  BGPOpen: { type: "BGPOpen", holdTime: 30 },
  BGPOpen_with_DelayOpenTimer_running: { type: "BGPOpen_with_DelayOpenTimer_running", holdTime: 30 },
  BGPHeaderErr: { type: "BGPHeaderErr", error: err },
  BGPOpenMsgErr: { type: "BGPOpenMsgErr", error: err },
  OpenCollisionDump: { type: "OpenCollisionDump" },
  NotifMsgVerErr: { type: "NotifMsgVerErr" },
  NotifMsg: { type: "NotifMsg" },
  KeepAliveMsg: { type: "KeepAliveMsg" },
  UpdateMsg: { type: "UpdateMsg" },
  UpdateMsgErr: { type: "UpdateMsgErr", error: err },
};

function run(s: FsmState, types: EventType[], now = 0): FsmState {
  for (const ty of types) s = step(s, EVENTS[ty], now).state;
  return s;
}

/** Each state reached the way a real session reaches it. */
const PATHS: Record<State, EventType[]> = {
  Idle: [],
  Connect: ["ManualStart"],
  Active: ["ManualStart_with_PassiveTcpEstablishment"],
  OpenSent: ["ManualStart", "Tcp_CR_Acked"],
  OpenConfirm: ["ManualStart", "Tcp_CR_Acked", "BGPOpen"],
  Established: ["ManualStart", "Tcp_CR_Acked", "BGPOpen", "KeepAliveMsg"],
};

const reach = (st: State, c: FsmConfig = cfg): FsmState => run(initialState(c), PATHS[st]);

t.test("every state is reachable the way a session reaches it", async (t) => {
  for (const st of Object.keys(PATHS) as State[]) t.equal(reach(st).state, st);
});

/**
 * The transition table: for each state and each event, the next state and the
 * actions, written "Next: Action,Action". `*` rows give a state's default.
 * Notifications show their code/subcode. Drop = ReleaseResources,DropTcp.
 */
const DROP = "ReleaseResources,DropTcp";
const TABLE: Record<State, Partial<Record<EventType | "*", string>>> = {
  Idle: {
    "*": "Idle: ",
    ManualStart: "Connect: ConnectTcp",
    AutomaticStart: "Connect: ConnectTcp",
    ManualStart_with_PassiveTcpEstablishment: "Active: ",
    AutomaticStart_with_PassiveTcpEstablishment: "Active: ",
    IdleHoldTimer_Expires: "Connect: ConnectTcp",
  },
  Connect: {
    "*": `Idle: ${DROP}`,
    ManualStart: "Connect: ",
    AutomaticStart: "Connect: ",
    ManualStart_with_PassiveTcpEstablishment: "Connect: ",
    AutomaticStart_with_PassiveTcpEstablishment: "Connect: ",
    ConnectRetryTimer_Expires: "Connect: DropTcp,ConnectTcp",
    DelayOpenTimer_Expires: "OpenSent: SendOpen",
    Tcp_CR_Invalid: "Connect: ",
    TcpConnection_Valid: "OpenSent: SendOpen",
    Tcp_CR_Acked: "OpenSent: SendOpen",
    TcpConnectionConfirmed: "OpenSent: SendOpen",
    TcpConnectionFails: "Active: DropTcp",
    BGPOpen_with_DelayOpenTimer_running: "OpenConfirm: SendOpen,SendKeepalive",
    BGPHeaderErr: `Idle: Notify1/2,${DROP}`,
    BGPOpenMsgErr: `Idle: Notify1/2,${DROP}`,
  },
  Active: {
    "*": `Idle: ${DROP}`,
    ManualStart: "Active: ",
    AutomaticStart: "Active: ",
    ManualStart_with_PassiveTcpEstablishment: "Active: ",
    AutomaticStart_with_PassiveTcpEstablishment: "Active: ",
    ConnectRetryTimer_Expires: "Connect: ConnectTcp",
    DelayOpenTimer_Expires: "OpenSent: SendOpen",
    Tcp_CR_Invalid: "Active: ",
    TcpConnection_Valid: "OpenSent: SendOpen",
    Tcp_CR_Acked: "OpenSent: SendOpen",
    TcpConnectionConfirmed: "OpenSent: SendOpen",
    BGPOpen_with_DelayOpenTimer_running: "OpenConfirm: SendOpen,SendKeepalive",
    BGPHeaderErr: `Idle: Notify1/2,${DROP}`,
    BGPOpenMsgErr: `Idle: Notify1/2,${DROP}`,
  },
  OpenSent: {
    "*": `Idle: Notify5/0,${DROP}`,
    ManualStart: "OpenSent: ",
    AutomaticStart: "OpenSent: ",
    ManualStart_with_PassiveTcpEstablishment: "OpenSent: ",
    AutomaticStart_with_PassiveTcpEstablishment: "OpenSent: ",
    ManualStop: `Idle: Notify6/2,${DROP}`,
    AutomaticStop: `Idle: Notify6/0,${DROP}`,
    HoldTimer_Expires: `Idle: Notify4/0,${DROP}`,
    TcpConnection_Valid: "OpenSent: ",
    Tcp_CR_Invalid: "OpenSent: ",
    Tcp_CR_Acked: "OpenSent: ",
    TcpConnectionConfirmed: "OpenSent: ",
    TcpConnectionFails: "Active: DropTcp",
    BGPOpen: "OpenConfirm: SendKeepalive",
    BGPOpen_with_DelayOpenTimer_running: "OpenConfirm: SendKeepalive",
    BGPHeaderErr: `Idle: Notify1/2,${DROP}`,
    BGPOpenMsgErr: `Idle: Notify1/2,${DROP}`,
    OpenCollisionDump: `Idle: Notify6/7,${DROP}`,
    NotifMsgVerErr: `Idle: ${DROP}`,
  },
  OpenConfirm: {
    "*": `Idle: Notify5/0,${DROP}`,
    ManualStart: "OpenConfirm: ",
    AutomaticStart: "OpenConfirm: ",
    ManualStart_with_PassiveTcpEstablishment: "OpenConfirm: ",
    AutomaticStart_with_PassiveTcpEstablishment: "OpenConfirm: ",
    ManualStop: `Idle: Notify6/2,${DROP}`,
    AutomaticStop: `Idle: Notify6/0,${DROP}`,
    HoldTimer_Expires: `Idle: Notify4/0,${DROP}`,
    KeepaliveTimer_Expires: "OpenConfirm: SendKeepalive",
    TcpConnection_Valid: "OpenConfirm: ",
    Tcp_CR_Invalid: "OpenConfirm: ",
    Tcp_CR_Acked: "OpenConfirm: ",
    TcpConnectionConfirmed: "OpenConfirm: ",
    TcpConnectionFails: `Idle: ${DROP}`,
    NotifMsg: `Idle: ${DROP}`,
    NotifMsgVerErr: `Idle: ${DROP}`,
    BGPHeaderErr: `Idle: Notify1/2,${DROP}`,
    BGPOpenMsgErr: `Idle: Notify1/2,${DROP}`,
    OpenCollisionDump: `Idle: Notify6/7,${DROP}`,
    KeepAliveMsg: "Established: SessionEstablished",
  },
  Established: {
    "*": `Idle: Notify5/0,${DROP}`,
    ManualStart: "Established: ",
    AutomaticStart: "Established: ",
    ManualStart_with_PassiveTcpEstablishment: "Established: ",
    AutomaticStart_with_PassiveTcpEstablishment: "Established: ",
    ManualStop: `Idle: Notify6/2,${DROP}`,
    AutomaticStop: `Idle: Notify6/0,${DROP}`,
    HoldTimer_Expires: `Idle: Notify4/0,${DROP}`,
    KeepaliveTimer_Expires: "Established: SendKeepalive",
    TcpConnection_Valid: "Established: ",
    Tcp_CR_Invalid: "Established: ",
    Tcp_CR_Acked: "Established: ",
    TcpConnectionConfirmed: "Established: ",
    TcpConnectionFails: `Idle: ${DROP}`,
    NotifMsg: `Idle: ${DROP}`,
    NotifMsgVerErr: `Idle: ${DROP}`,
    OpenCollisionDump: `Idle: Notify6/7,${DROP}`,
    KeepAliveMsg: "Established: ",
    UpdateMsg: "Established: ProcessUpdate",
    UpdateMsgErr: `Idle: Notify1/2,${DROP}`,
    BGPHeaderErr: `Idle: Notify1/2,${DROP}`,
    BGPOpenMsgErr: `Idle: Notify1/2,${DROP}`,
  },
};

function render(r: ReturnType<typeof step>): string {
  const acts = r.actions.map((a) =>
    a.type === "SendNotification" ? `Notify${a.error.code}/${a.error.subcode}` : a.type,
  );
  return `${r.state.state}: ${acts.join(",")}`;
}

t.test("transition table: every event in every state", async (t) => {
  let rows = 0;
  for (const st of Object.keys(TABLE) as State[]) {
    for (const ev of Object.keys(EVENTS) as EventType[]) {
      const want = TABLE[st][ev] ?? TABLE[st]["*"];
      const r = step(reach(st), EVENTS[ev], 1000);
      t.equal(render(r), want, `${st} + ${ev}`);
      t.ok(r.reason.length > 0, `${st} + ${ev} has a reason`);
      rows++;
    }
  }
  t.equal(rows, 6 * 26);
});

t.test("DelayOpen: OPEN waits for the timer or the peer's OPEN", async (t) => {
  const c = { ...cfg, delayOpenTime: 2 };
  let s = run(initialState(c), ["ManualStart", "Tcp_CR_Acked"]);
  t.equal(s.state, "Connect");
  t.ok(s.timers.DelayOpen !== undefined);
  t.equal(s.timers.ConnectRetry, undefined);
  const viaOpen = step(s, EVENTS.BGPOpen, 10);
  t.equal(render(viaOpen), "OpenConfirm: SendOpen,SendKeepalive");
  t.equal(viaOpen.state.timers.DelayOpen, undefined);
  t.equal(dueEvent(s, 1999)?.type, undefined);
  t.equal(dueEvent(s, 2000)?.type, "DelayOpenTimer_Expires");
  s = step(s, EVENTS.DelayOpenTimer_Expires, 2000).state;
  t.equal(s.state, "OpenSent");
  // TCP fails while the open is delayed: back to Active, not Idle.
  const lost = step(run(initialState(c), ["ManualStart", "Tcp_CR_Acked"]), EVENTS.TcpConnectionFails, 0);
  t.equal(render(lost), "Active: DropTcp");
});

t.test("hold time negotiation", async (t) => {
  t.same(negotiate(cfg, 30), { holdTime: 30, keepaliveTime: 10 });
  t.same(negotiate(cfg, 180), { holdTime: 90, keepaliveTime: 30 });
  t.same(negotiate(cfg, 0), { holdTime: 0, keepaliveTime: 0 });
  t.same(negotiate({ ...cfg, holdTime: 0 }, 90), { holdTime: 0, keepaliveTime: 0 });
  t.same(negotiate({ ...cfg, keepalive: 3 }, 90), { holdTime: 90, keepaliveTime: 3 });
  t.same(negotiate({ ...cfg, keepalive: 60 }, 90), { holdTime: 90, keepaliveTime: 30 }, "capped at a third");
  t.same(negotiate(cfg, 3), { holdTime: 3, keepaliveTime: 1 });

  const s = run(initialState(cfg), ["ManualStart", "Tcp_CR_Acked"]);
  const r = step(s, { type: "BGPOpen", holdTime: 9 }, 1000).state;
  t.equal(r.timers.Hold, 1000 + 9000);
  t.equal(r.timers.Keepalive, 1000 + 3000);
  const zero = step(s, { type: "BGPOpen", holdTime: 0 }, 1000).state;
  t.equal(zero.timers.Hold, undefined, "hold time 0: no hold timer");
  t.equal(zero.timers.Keepalive, undefined, "hold time 0: no keepalives");
  const est = step(zero, EVENTS.KeepAliveMsg, 2000).state;
  t.equal(est.state, "Established");
  t.equal(nextTimer(est), undefined, "nothing will ever expire");
});

t.test("timers restart on traffic and fire in deadline order", async (t) => {
  let s = run(initialState(cfg), ["ManualStart", "Tcp_CR_Acked"]);
  s = step(s, { type: "BGPOpen", holdTime: 30 }, 0).state;
  s = step(s, EVENTS.KeepAliveMsg, 0).state;
  t.equal(dueEvent(s, 9_999), undefined);
  t.equal(dueEvent(s, 10_000)?.type, "KeepaliveTimer_Expires");
  s = step(s, EVENTS.KeepaliveTimer_Expires, 10_000).state;
  t.equal(s.timers.Keepalive, 20_000);
  s = step(s, EVENTS.UpdateMsg, 25_000).state;
  t.equal(s.timers.Hold, 55_000, "an UPDATE restarts the hold timer");
  s = step(s, EVENTS.KeepAliveMsg, 29_000).state;
  t.equal(s.timers.Hold, 59_000);
  const r = step(s, EVENTS.HoldTimer_Expires, 59_000);
  t.equal(render(r), `Idle: Notify4/0,${DROP}`);
  t.equal(r.state.timers.Hold, undefined);
  t.equal(r.state.timers.Keepalive, undefined);
  t.equal(r.state.connectRetryCounter, 1);
});

t.test("connect retry in Connect and Active", async (t) => {
  let s = reach("Connect");
  t.equal(s.timers.ConnectRetry, 5000);
  s = step(s, EVENTS.ConnectRetryTimer_Expires, 5000).state;
  t.equal(s.state, "Connect");
  t.equal(s.timers.ConnectRetry, 10_000);
  const a = reach("Active");
  t.equal(a.timers.ConnectRetry, 5000);
  const passive = run(initialState({ ...cfg, passive: true }), ["ManualStart"]);
  t.equal(passive.state, "Active", "a passive peer waits instead of connecting");
});

t.test("idle-hold back-off doubles on each flap, is capped, and resets after a stable session", async (t) => {
  const c = { ...cfg, idleHoldTime: 1, idleHoldMax: 8, stableTime: 60 };
  let s = initialState(c);
  let now = 0;
  const waits: number[] = [];
  for (let i = 0; i < 6; i++) {
    s = run(s, i === 0 ? ["ManualStart", "Tcp_CR_Acked"] : ["Tcp_CR_Acked"], now);
    s = step(s, EVENTS.TcpConnectionFails, now).state; // OpenSent -> Active
    s = step(s, EVENTS.TcpConnectionFails, now).state; // Active -> Idle
    t.equal(s.state, "Idle");
    const at = s.timers.IdleHold;
    t.ok(at !== undefined);
    waits.push(((at ?? 0) - now) / 1000);
    t.equal(step(s, EVENTS.AutomaticStart, now).state.state, "Idle", "automatic start waits for idle hold");
    now = at ?? 0;
    t.equal(dueEvent(s, now)?.type, "IdleHoldTimer_Expires");
    s = step(s, EVENTS.IdleHoldTimer_Expires, now).state;
    t.equal(s.state, "Connect");
  }
  t.same(waits, [1, 2, 4, 8, 8, 8]);
  // A session that stays up for stableTime starts again from the base wait.
  s = run(s, ["Tcp_CR_Acked", "BGPOpen", "KeepAliveMsg"], now);
  t.equal(s.state, "Established");
  now += 61_000;
  s = step(s, EVENTS.NotifMsg, now).state;
  t.equal(((s.timers.IdleHold ?? 0) - now) / 1000, 1);
  // ManualStop is not a flap: no automatic restart.
  const stopped = step(reach("Established", c), EVENTS.ManualStop, 0).state;
  t.equal(stopped.timers.IdleHold, undefined);
  t.equal(stopped.connectRetryCounter, 0);
  const noAuto = step(reach("Established", { ...c, automaticRestart: false }), EVENTS.NotifMsg, 0).state;
  t.equal(noAuto.timers.IdleHold, undefined, "without automatic restart the peer stays Idle");
});

t.test("a fired timer never stays due", async (t) => {
  for (const st of Object.keys(PATHS) as State[]) {
    let s = reach(st);
    let now = 0;
    for (let i = 0; i < 50; i++) {
      const next = nextTimer(s);
      if (!next) break;
      now = Math.max(now, next.at);
      const ev = dueEvent(s, now);
      t.ok(ev, `${st}: a timer is due at its deadline`);
      if (!ev) break;
      const r = step(s, ev, now);
      t.not(
        nextTimer(r.state)?.at === now && nextTimer(r.state)?.timer === next.timer,
        true,
        `${st}: ${ev.type} does not re-arm itself at the same instant`,
      );
      s = r.state;
    }
  }
});

t.test("ManualClock fires callbacks in deadline order", async (t) => {
  const c = new ManualClock();
  const seen: string[] = [];
  c.setTimeout(() => seen.push("b"), 20);
  const h = c.setTimeout(() => seen.push("x"), 5);
  c.setTimeout(() => {
    seen.push("a");
    c.setTimeout(() => seen.push("a2"), 5);
  }, 10);
  c.clearTimeout(h);
  c.advance(30);
  t.same(seen, ["a", "a2", "b"]);
  t.equal(c.now(), 30);
});
