import type { WireContext } from "../context.js";
import type { ErrorAction } from "../errors.js";
import type { Prefixes } from "../nlri.js";

/** Attribute Flags bits (RFC 4271 §4.3). */
export const AttrFlag = {
  OPTIONAL: 0x80,
  TRANSITIVE: 0x40,
  PARTIAL: 0x20,
  EXTENDED_LENGTH: 0x10,
} as const;

/** Path attribute type codes (IANA). */
export const AttrType = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MULTI_EXIT_DISC: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  ORIGINATOR_ID: 9,
  CLUSTER_LIST: 10,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  EXTENDED_COMMUNITIES: 16,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
  LARGE_COMMUNITY: 32,
} as const;

export const Origin = { IGP: 0, EGP: 1, INCOMPLETE: 2 } as const;
export type Origin = (typeof Origin)[keyof typeof Origin];

export const AsSegmentType = { AS_SET: 1, AS_SEQUENCE: 2, AS_CONFED_SEQUENCE: 3, AS_CONFED_SET: 4 } as const;
export type AsSegmentType = (typeof AsSegmentType)[keyof typeof AsSegmentType];

export interface AsPathSegment {
  readonly type: AsSegmentType;
  readonly asns: readonly number[];
}
export type AsPath = readonly AsPathSegment[];

export interface Aggregator {
  readonly asn: number;
  readonly address: string;
}

/** RFC 8092. */
export interface LargeCommunity {
  readonly globalAdmin: number;
  readonly localData1: number;
  readonly localData2: number;
}

/** An attribute we do not implement, carried as received. */
export interface RawAttribute {
  readonly flags: number;
  readonly code: number;
  readonly value: Buffer;
}

/**
 * The path attributes of an UPDATE except the MP_REACH/MP_UNREACH NLRI, which are per message.
 * Decoded once per UPDATE and shared by all its prefixes (and, with an AttributeCache, by every
 * UPDATE carrying the same bytes): never mutate one.
 * AS numbers are always 4-octet here: on a session with an OLD (2-octet) speaker, AS_PATH and
 * AGGREGATOR are already merged with AS4_PATH/AS4_AGGREGATOR (RFC 6793 §4.2.3).
 */
export interface PathAttributes {
  readonly origin?: Origin;
  readonly asPath?: AsPath;
  /** IPv4 NEXT_HOP attribute (IPv4 NLRI); MP next hops are on MpReach. */
  readonly nextHop?: string;
  readonly med?: number;
  readonly localPref?: number;
  readonly atomicAggregate?: boolean;
  readonly aggregator?: Aggregator;
  /** RFC 1997, each as a 32-bit number. */
  readonly communities?: readonly number[];
  readonly originatorId?: string;
  readonly clusterList?: readonly string[];
  /** RFC 4360, each 8 octets as a bigint. */
  readonly extendedCommunities?: readonly bigint[];
  readonly largeCommunities?: readonly LargeCommunity[];
  /** Optional transitive attributes we do not implement, passed on with the Partial bit. */
  readonly unknown?: readonly RawAttribute[];
}

/** MP_REACH_NLRI (RFC 4760 §3). IPv6 next hops: [global] or [global, link-local]. */
export interface MpReach {
  readonly afi: number;
  readonly safi: number;
  readonly nextHop: readonly string[];
  readonly nlri: Prefixes;
}

/** MP_UNREACH_NLRI (RFC 4760 §4). */
export interface MpUnreach {
  readonly afi: number;
  readonly safi: number;
  readonly withdrawn: Prefixes;
}

/** Everything an attribute encoder may read. */
export interface AttributeInput extends PathAttributes {
  readonly mpReach?: MpReach;
  readonly mpUnreach?: MpUnreach;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** What decoders fill in; only the common code reads it back. */
export interface AttributeBuilder extends Mutable<PathAttributes> {
  unknown?: RawAttribute[];
  as4Path?: AsPath;
  as4Aggregator?: Aggregator;
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
}

/** A decoder's verdict on a value it cannot accept. `action` overrides the descriptor's. */
export interface AttributeProblem {
  readonly subcode: number;
  readonly reason: string;
  readonly action?: ErrorAction;
  readonly afi?: number;
  readonly safi?: number;
}

/** Returned by a decoder to drop the attribute without calling it an error (e.g. LOCAL_PREF from eBGP). */
export const IGNORE = "ignore" as const;

/**
 * One row of the attribute table (BIRD's bgp_attr_table, one file per attribute). The shared
 * code checks flags against `flags`, the length with `lengthOk`, and duplicates, before `decode`
 * runs; `decode` checks only its own value and writes into the builder only when it accepts it.
 */
export interface AttributeDescriptor {
  readonly code: number;
  readonly name: string;
  /** The expected Optional and Transitive bits. */
  readonly flags: number;
  /** RFC 7606 §7: what a malformed instance costs. */
  readonly action: ErrorAction;
  /** RFC 7606 §7.5, §7.9, §7.10: from an eBGP peer the attribute is discarded before any check. */
  readonly ebgpDiscard?: boolean;
  lengthOk?(length: number, ctx: WireContext): boolean;
  decode(
    value: Buffer,
    into: AttributeBuilder,
    ctx: WireContext,
  ): AttributeProblem | typeof IGNORE | undefined;
  /** The value to send, or null when this attribute is not sent. */
  encode(a: AttributeInput, ctx: WireContext): Buffer | null;
  /** Human form for logs and `tortie bgp routes`; undefined when absent. */
  format?(a: PathAttributes): string | undefined;
}
