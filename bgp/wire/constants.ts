/** Numbers from the IANA BGP registries, named as the RFCs name them. */

export const BGP_MARKER_LENGTH = 16;
export const HEADER_LENGTH = 19;
/** RFC 4271 §4.1: the largest message without Extended Message. */
export const MAX_MESSAGE_LENGTH = 4096;
/** RFC 8654: the largest message once both sides advertised Extended Message. */
export const MAX_EXTENDED_MESSAGE_LENGTH = 65535;
export const BGP_VERSION = 4;
/** RFC 6793: the 2-octet AS a 4-octet AS is replaced by towards an OLD speaker. */
export const AS_TRANS = 23456;

export const MessageType = {
  OPEN: 1,
  UPDATE: 2,
  NOTIFICATION: 3,
  KEEPALIVE: 4,
  ROUTE_REFRESH: 5,
} as const;
export type MessageTypeCode = (typeof MessageType)[keyof typeof MessageType];

/** RFC 4271 §4.1 and §6.1: the smallest legal length of each message type, header included. */
export const MIN_LENGTH: Readonly<Record<MessageTypeCode, number>> = {
  [MessageType.OPEN]: 29,
  [MessageType.UPDATE]: 23,
  [MessageType.NOTIFICATION]: 21,
  [MessageType.KEEPALIVE]: 19,
  [MessageType.ROUTE_REFRESH]: 23,
};

/** NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313 for 7). */
export const ErrorCode = {
  MESSAGE_HEADER: 1,
  OPEN_MESSAGE: 2,
  UPDATE_MESSAGE: 3,
  HOLD_TIMER_EXPIRED: 4,
  FSM: 5,
  CEASE: 6,
  ROUTE_REFRESH: 7,
} as const;

/** RFC 4271 §6.1. */
export const HeaderSubcode = {
  CONNECTION_NOT_SYNCHRONIZED: 1,
  BAD_MESSAGE_LENGTH: 2,
  BAD_MESSAGE_TYPE: 3,
} as const;

/** RFC 4271 §6.2 (5 is deprecated), RFC 5492 for 7. */
export const OpenSubcode = {
  UNSPECIFIC: 0,
  UNSUPPORTED_VERSION_NUMBER: 1,
  BAD_PEER_AS: 2,
  BAD_BGP_IDENTIFIER: 3,
  UNSUPPORTED_OPTIONAL_PARAMETER: 4,
  UNACCEPTABLE_HOLD_TIME: 6,
  UNSUPPORTED_CAPABILITY: 7,
} as const;

/** RFC 4271 §6.3 (7 is deprecated). */
export const UpdateSubcode = {
  MALFORMED_ATTRIBUTE_LIST: 1,
  UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: 2,
  MISSING_WELL_KNOWN_ATTRIBUTE: 3,
  ATTRIBUTE_FLAGS_ERROR: 4,
  ATTRIBUTE_LENGTH_ERROR: 5,
  INVALID_ORIGIN_ATTRIBUTE: 6,
  INVALID_NEXT_HOP_ATTRIBUTE: 8,
  OPTIONAL_ATTRIBUTE_ERROR: 9,
  INVALID_NETWORK_FIELD: 10,
  MALFORMED_AS_PATH: 11,
} as const;

/** RFC 6608. */
export const FsmSubcode = {
  UNSPECIFIED: 0,
  UNEXPECTED_MESSAGE_IN_OPENSENT: 1,
  UNEXPECTED_MESSAGE_IN_OPENCONFIRM: 2,
  UNEXPECTED_MESSAGE_IN_ESTABLISHED: 3,
} as const;

/** RFC 4486 (1–8), RFC 8538 (9). */
export const CeaseSubcode = {
  MAXIMUM_NUMBER_OF_PREFIXES_REACHED: 1,
  ADMINISTRATIVE_SHUTDOWN: 2,
  PEER_DE_CONFIGURED: 3,
  ADMINISTRATIVE_RESET: 4,
  CONNECTION_REJECTED: 5,
  OTHER_CONFIGURATION_CHANGE: 6,
  CONNECTION_COLLISION_RESOLUTION: 7,
  OUT_OF_RESOURCES: 8,
  HARD_RESET: 9,
} as const;

/** RFC 7313. */
export const RouteRefreshSubcode = {
  INVALID_MESSAGE_LENGTH: 1,
} as const;

/** Address Family Numbers (IANA) used here. */
export const Afi = { IPV4: 1, IPV6: 2 } as const;
export type AfiCode = (typeof Afi)[keyof typeof Afi];
/** Subsequent Address Family Identifiers used here. */
export const Safi = { UNICAST: 1, MULTICAST: 2 } as const;

/** One number per AFI/SAFI pair, so sets and maps of families need no objects. */
export function afiSafiKey(afi: number, safi: number): number {
  return afi * 256 + safi;
}
export function afiSafiName(afi: number, safi: number): string {
  const a = afi === 1 ? "ipv4" : afi === 2 ? "ipv6" : `afi${afi}`;
  const s = safi === 1 ? "unicast" : safi === 2 ? "multicast" : `safi${safi}`;
  return `${a}-${s}`;
}

const codeNames: Record<number, [string, Record<number, string>]> = {
  1: [
    "Message Header Error",
    { 1: "Connection Not Synchronized", 2: "Bad Message Length", 3: "Bad Message Type" },
  ],
  2: [
    "OPEN Message Error",
    {
      0: "Unspecific",
      1: "Unsupported Version Number",
      2: "Bad Peer AS",
      3: "Bad BGP Identifier",
      4: "Unsupported Optional Parameter",
      6: "Unacceptable Hold Time",
      7: "Unsupported Capability",
    },
  ],
  3: [
    "UPDATE Message Error",
    {
      1: "Malformed Attribute List",
      2: "Unrecognized Well-known Attribute",
      3: "Missing Well-known Attribute",
      4: "Attribute Flags Error",
      5: "Attribute Length Error",
      6: "Invalid ORIGIN Attribute",
      8: "Invalid NEXT_HOP Attribute",
      9: "Optional Attribute Error",
      10: "Invalid Network Field",
      11: "Malformed AS_PATH",
    },
  ],
  4: ["Hold Timer Expired", {}],
  5: [
    "Finite State Machine Error",
    {
      1: "Receive Unexpected Message in OpenSent State",
      2: "Receive Unexpected Message in OpenConfirm State",
      3: "Receive Unexpected Message in Established State",
    },
  ],
  6: [
    "Cease",
    {
      1: "Maximum Number of Prefixes Reached",
      2: "Administrative Shutdown",
      3: "Peer De-configured",
      4: "Administrative Reset",
      5: "Connection Rejected",
      6: "Other Configuration Change",
      7: "Connection Collision Resolution",
      8: "Out of Resources",
      9: "Hard Reset",
    },
  ],
  7: ["ROUTE-REFRESH Message Error", { 1: "Invalid Message Length" }],
};

/** "Cease / Administrative Shutdown": the names the RFCs give a code and subcode, for logs and the CLI. */
export function errorName(code: number, subcode: number): string {
  const entry = codeNames[code];
  if (!entry) return `Unknown error code ${code} / subcode ${subcode}`;
  const sub = entry[1][subcode] ?? (subcode === 0 ? "Unspecific" : `subcode ${subcode}`);
  return `${entry[0]} / ${sub}`;
}
