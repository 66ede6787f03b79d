/**
 * The BFD Control packet (RFC 5880 §4.1), mandatory section only: tortie does not
 * authenticate BFD (a packet with the A bit is discarded, §6.8.6). Intervals are microseconds
 * on the wire and here.
 */

export const BFD_VERSION = 1;
export const CONTROL_LENGTH = 24;

/** bfd.SessionState (§4.1 "Sta"). */
export enum BfdState {
  AdminDown = 0,
  Down = 1,
  Init = 2,
  Up = 3,
}

/** Diagnostic codes (§4.1 "Diag"): why the session last left Up. */
export enum BfdDiag {
  None = 0,
  ControlDetectionTimeExpired = 1,
  EchoFunctionFailed = 2,
  NeighborSignaledSessionDown = 3,
  ForwardingPlaneReset = 4,
  PathDown = 5,
  ConcatenatedPathDown = 6,
  AdministrativelyDown = 7,
  ReverseConcatenatedPathDown = 8,
}

export interface ControlPacket {
  readonly version: number;
  readonly diag: BfdDiag;
  readonly state: BfdState;
  readonly poll: boolean;
  readonly final: boolean;
  readonly controlPlaneIndependent: boolean;
  readonly authPresent: boolean;
  readonly demand: boolean;
  readonly multipoint: boolean;
  readonly detectMult: number;
  readonly length: number;
  readonly myDiscriminator: number;
  readonly yourDiscriminator: number;
  readonly desiredMinTxInterval: number;
  readonly requiredMinRxInterval: number;
  readonly requiredMinEchoRxInterval: number;
}

type Field = {
  readonly [K in keyof ControlPacket]: {
    readonly name: K;
    /** Byte offset, and for bit fields the shift and width within that byte. */
    readonly offset: number;
    readonly bits?: { readonly shift: number; readonly width: number };
    /** Whole-byte or whole-word fields: 1 or 4 bytes. */
    readonly bytes?: 1 | 4;
  };
}[keyof ControlPacket];

/** One descriptor per field of §4.1, in wire order. */
const FIELDS: readonly Field[] = [
  { name: "version", offset: 0, bits: { shift: 5, width: 3 } },
  { name: "diag", offset: 0, bits: { shift: 0, width: 5 } },
  { name: "state", offset: 1, bits: { shift: 6, width: 2 } },
  { name: "poll", offset: 1, bits: { shift: 5, width: 1 } },
  { name: "final", offset: 1, bits: { shift: 4, width: 1 } },
  { name: "controlPlaneIndependent", offset: 1, bits: { shift: 3, width: 1 } },
  { name: "authPresent", offset: 1, bits: { shift: 2, width: 1 } },
  { name: "demand", offset: 1, bits: { shift: 1, width: 1 } },
  { name: "multipoint", offset: 1, bits: { shift: 0, width: 1 } },
  { name: "detectMult", offset: 2, bytes: 1 },
  { name: "length", offset: 3, bytes: 1 },
  { name: "myDiscriminator", offset: 4, bytes: 4 },
  { name: "yourDiscriminator", offset: 8, bytes: 4 },
  { name: "desiredMinTxInterval", offset: 12, bytes: 4 },
  { name: "requiredMinRxInterval", offset: 16, bytes: 4 },
  { name: "requiredMinEchoRxInterval", offset: 20, bytes: 4 },
];

export function encodeControl(p: Omit<ControlPacket, "version" | "length">): Buffer {
  const full: ControlPacket = { ...p, version: BFD_VERSION, length: CONTROL_LENGTH };
  const b = Buffer.alloc(CONTROL_LENGTH);
  for (const f of FIELDS) {
    const v = full[f.name];
    const n = typeof v === "boolean" ? (v ? 1 : 0) : v;
    if (f.bits) {
      const mask = (1 << f.bits.width) - 1;
      b[f.offset] = (b[f.offset] ?? 0) | ((n & mask) << f.bits.shift);
    } else if (f.bytes === 1) b.writeUInt8(n & 0xff, f.offset);
    else b.writeUInt32BE(n >>> 0, f.offset);
  }
  return b;
}

/** Why a received packet is discarded (§6.8.6): never answered, only counted. */
export type DiscardReason =
  | "short packet"
  | "bad version"
  | "bad length"
  | "zero detect multiplier"
  | "multipoint set"
  | "zero my discriminator"
  | "authentication not configured";

export function decodeControl(b: Buffer): ControlPacket | { discard: DiscardReason } {
  if (b.length < CONTROL_LENGTH) return { discard: "short packet" };
  const out: Record<string, number | boolean> = {};
  for (const f of FIELDS) {
    let v: number;
    if (f.bits) v = ((b[f.offset] ?? 0) >> f.bits.shift) & ((1 << f.bits.width) - 1);
    else if (f.bytes === 1) v = b.readUInt8(f.offset);
    else v = b.readUInt32BE(f.offset);
    out[f.name] = f.bits?.width === 1 && f.name !== "diag" ? v === 1 : v;
  }
  const p = out as unknown as ControlPacket;
  if (p.version !== BFD_VERSION) return { discard: "bad version" };
  if (p.authPresent) return { discard: "authentication not configured" };
  if (p.length < CONTROL_LENGTH || p.length > b.length) return { discard: "bad length" };
  if (p.detectMult === 0) return { discard: "zero detect multiplier" };
  if (p.multipoint) return { discard: "multipoint set" };
  if (p.myDiscriminator === 0) return { discard: "zero my discriminator" };
  return p;
}
