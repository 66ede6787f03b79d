/** The line-delimited JSON the lab and its pod agents exchange over the control socket. */
export type ProbeProtocol = "TCP" | "UDP";

export interface ProbeTarget {
  readonly ip: string;
  readonly port: number;
  readonly protocol: ProbeProtocol;
}

export interface ProbeRequest {
  readonly id: number;
  readonly timeoutMs: number;
  readonly targets: readonly ProbeTarget[];
}

export interface ProbeResult {
  readonly ok: boolean;
  /** The source address the server reported for this connection. */
  readonly saw?: string;
  readonly error?: string;
}

export interface ProbeReply {
  readonly id: number;
  readonly results: readonly ProbeResult[];
}
