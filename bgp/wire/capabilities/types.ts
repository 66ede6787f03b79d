/** BGP capabilities (RFC 5492), one variant per capability we understand. */

export interface MultiprotocolCapability {
  readonly kind: "multiprotocol";
  readonly afi: number;
  readonly safi: number;
}
export interface RouteRefreshCapability {
  readonly kind: "route-refresh";
}
export interface ExtendedMessageCapability {
  readonly kind: "extended-message";
}
export interface FourOctetAsCapability {
  readonly kind: "four-octet-as";
  readonly asn: number;
}
export interface GracefulRestartFamily {
  readonly afi: number;
  readonly safi: number;
  /** F bit: forwarding state for the family was preserved across the restart. */
  readonly forwardingState: boolean;
}
export interface GracefulRestartCapability {
  readonly kind: "graceful-restart";
  /** R bit: the sender has restarted. */
  readonly restartState: boolean;
  /** N bit (RFC 8538): the sender supports graceful NOTIFICATION. */
  readonly notification: boolean;
  /** Seconds, 12 bits. */
  readonly restartTime: number;
  readonly families: readonly GracefulRestartFamily[];
}
/** RFC 7911 Send/Receive field: 1 receive, 2 send, 3 both. */
export type AddPathDirection = 1 | 2 | 3;
export interface AddPathFamily {
  readonly afi: number;
  readonly safi: number;
  readonly sendReceive: AddPathDirection;
}
export interface AddPathCapability {
  readonly kind: "add-path";
  readonly families: readonly AddPathFamily[];
}
/** A capability we do not implement: kept byte for byte so it can be shown and compared. */
export interface UnknownCapability {
  readonly kind: "unknown";
  readonly code: number;
  readonly value: Buffer;
}

export type Capability =
  | MultiprotocolCapability
  | RouteRefreshCapability
  | ExtendedMessageCapability
  | FourOctetAsCapability
  | GracefulRestartCapability
  | AddPathCapability
  | UnknownCapability;

export type KnownCapability = Exclude<Capability, UnknownCapability>;
export type CapabilityKind = Capability["kind"];

/**
 * One row of the capability table: its code, and a decoder that only checks its own value
 * (returning a reason string when malformed) and an encoder of the value.
 */
export interface CapabilityDescriptor<C extends KnownCapability = KnownCapability> {
  readonly code: number;
  readonly kind: C["kind"];
  decode(value: Buffer): C | string;
  encode(cap: C): Buffer;
}
