/**
 * The BGP finite state machine of RFC 4271 §8 as plain data. Names follow the
 * RFC (§8.1 events, §8.2.2 states) so a log line can be read beside the RFC.
 */

export const STATES = ["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"] as const;
export type State = (typeof STATES)[number];

/** NOTIFICATION error codes used by the FSM itself (RFC 4271 §4.5, RFC 4486 Cease subcodes). */
export const NOTIFY = {
  holdTimerExpired: { code: 4, subcode: 0 },
  fsmError: { code: 5, subcode: 0 },
  ceaseAdminShutdown: { code: 6, subcode: 2 },
  ceaseCollision: { code: 6, subcode: 7 },
  ceaseOther: { code: 6, subcode: 0 },
} as const;

export interface NotifyError {
  readonly code: number;
  readonly subcode: number;
  readonly data?: Uint8Array;
}

/** Timers the FSM owns; each is a deadline in the injected clock's milliseconds. */
export const TIMERS = ["ConnectRetry", "Hold", "Keepalive", "DelayOpen", "IdleHold"] as const;
export type TimerName = (typeof TIMERS)[number];

export type BgpEvent =
  // administrative events (§8.1.2)
  | { readonly type: "ManualStart" }
  | { readonly type: "ManualStop" }
  | { readonly type: "AutomaticStart" }
  | { readonly type: "ManualStart_with_PassiveTcpEstablishment" }
  | { readonly type: "AutomaticStart_with_PassiveTcpEstablishment" }
  | { readonly type: "AutomaticStop" }
  // timer events (§8.1.3)
  | { readonly type: "ConnectRetryTimer_Expires" }
  | { readonly type: "HoldTimer_Expires" }
  | { readonly type: "KeepaliveTimer_Expires" }
  | { readonly type: "DelayOpenTimer_Expires" }
  | { readonly type: "IdleHoldTimer_Expires" }
  // TCP connection events (§8.1.4)
  | { readonly type: "TcpConnection_Valid" }
  | { readonly type: "Tcp_CR_Invalid" }
  | { readonly type: "Tcp_CR_Acked" }
  | { readonly type: "TcpConnectionConfirmed" }
  | { readonly type: "TcpConnectionFails" }
  // BGP message events (§8.1.5)
  | { readonly type: "BGPOpen"; readonly holdTime: number }
  | { readonly type: "BGPOpen_with_DelayOpenTimer_running"; readonly holdTime: number }
  | { readonly type: "BGPHeaderErr"; readonly error: NotifyError }
  | { readonly type: "BGPOpenMsgErr"; readonly error: NotifyError }
  | { readonly type: "OpenCollisionDump" }
  | { readonly type: "NotifMsgVerErr" }
  | { readonly type: "NotifMsg" }
  | { readonly type: "KeepAliveMsg" }
  | { readonly type: "UpdateMsg" }
  | { readonly type: "UpdateMsgErr"; readonly error: NotifyError };

export type EventType = BgpEvent["type"];

export type Action =
  | { readonly type: "ConnectTcp" }
  | { readonly type: "DropTcp" }
  | { readonly type: "SendOpen" }
  | { readonly type: "SendKeepalive" }
  | { readonly type: "SendNotification"; readonly error: NotifyError }
  /** Session state and every route learned from the peer go (RFC 4271 "release all BGP resources"). */
  | { readonly type: "ReleaseResources" }
  /** The UPDATE that caused this step is to be applied to the Adj-RIB-In. */
  | { readonly type: "ProcessUpdate" }
  /** Entered Established: send the initial table. */
  | { readonly type: "SessionEstablished" };

/** Per-peer settings the FSM reads; times in seconds as in the RFC and in configs. */
export interface FsmConfig {
  /** Proposed hold time; 0 disables keepalives and the hold timer once negotiated. */
  readonly holdTime: number;
  /** Wanted keepalive interval; capped at a third of the negotiated hold time. */
  readonly keepalive?: number;
  readonly connectRetryTime: number;
  /** Wait for the peer to connect instead of connecting. */
  readonly passive: boolean;
  /** RFC 4271 DelayOpen: wait this long for the peer's OPEN before sending ours (0: off). */
  readonly delayOpenTime: number;
  /** First idle-hold wait after a session drops; doubles on each flap up to idleHoldMax. */
  readonly idleHoldTime: number;
  readonly idleHoldMax: number;
  /** A session that stayed Established this long resets the back-off. */
  readonly stableTime: number;
  /** Restart on our own after a drop (AutomaticStart after IdleHold); off means stay Idle. */
  readonly automaticRestart: boolean;
}

export const DEFAULT_FSM_CONFIG: FsmConfig = {
  holdTime: 90,
  connectRetryTime: 5,
  passive: false,
  delayOpenTime: 0,
  idleHoldTime: 1,
  idleHoldMax: 120,
  stableTime: 60,
  automaticRestart: true,
};

/** The "large value" of §8.2.2 for the hold timer while waiting for OPEN: 4 minutes. */
export const OPEN_HOLD_TIME = 240;

export interface FsmState {
  readonly config: FsmConfig;
  readonly state: State;
  readonly connectRetryCounter: number;
  /** Negotiated hold time and keepalive interval in seconds (0: none). */
  readonly holdTime: number;
  readonly keepaliveTime: number;
  /** Current idle-hold wait in seconds (the back-off). */
  readonly idleHoldTime: number;
  /** Clock time the session last entered Established, for the back-off reset. */
  readonly establishedAt?: number;
  /** Timer deadlines in clock milliseconds; absent = stopped. */
  readonly timers: Readonly<Partial<Record<TimerName, number>>>;
}

export interface StepResult {
  readonly state: FsmState;
  readonly actions: readonly Action[];
  /** One line for the log: why this transition (or non-transition) happened. */
  readonly reason: string;
}
