/**
 * The part of nftables' JSON schema (libnftables-json(5), nftables 1.0.6) that tortie writes.
 * Typed so a renderer cannot emit a shape `nft -j -f` would reject.
 */
export type NftFamily = "inet";

export interface NftPrefix {
  readonly prefix: { readonly addr: string; readonly len: number };
}
export interface NftRange {
  readonly range: readonly [NftValue, NftValue];
}
export interface NftConcatValue {
  readonly concat: readonly NftValue[];
}
export interface NftAnonSet {
  readonly set: readonly NftValue[];
}
export type NftValue = string | number | NftPrefix | NftRange | NftConcatValue;

export interface NftPayload {
  readonly payload: { readonly protocol: string; readonly field: string };
}
export interface NftMeta {
  readonly meta: { readonly key: "l4proto" | "mark" | "iifname" | "oifname" | "nfproto" };
}
export interface NftCt {
  readonly ct: { readonly key: "state" };
}
export interface NftConcatKey {
  readonly concat: readonly NftKey[];
}
export interface NftAnd {
  readonly "&": readonly [NftKey, number];
}
export interface NftOr {
  readonly "|": readonly [NftKey, number];
}
export type NftKey = NftPayload | NftMeta | NftCt | NftConcatKey | NftAnd;

export interface NftVerdictJump {
  readonly jump: { readonly target: string };
}
export interface NftVerdictGoto {
  readonly goto: { readonly target: string };
}
export type NftVerdict =
  | { readonly accept: null }
  | { readonly drop: null }
  | { readonly return: null }
  | NftVerdictJump
  | NftVerdictGoto;

export type NftStatement =
  | {
      readonly match: {
        readonly op: "==" | "!=" | "in";
        readonly left: NftKey;
        readonly right: NftValue | NftAnonSet | readonly string[];
      };
    }
  /** Values only when a full load carries the kernel's counts over (`RuleCounters`). */
  | { readonly counter: null | { readonly packets: number; readonly bytes: number } }
  | { readonly log: { readonly prefix: string } }
  | { readonly mangle: { readonly key: NftMeta; readonly value: NftAnd | NftOr } }
  | { readonly vmap: { readonly key: NftKey; readonly data: string } }
  | NftVerdict;

export interface NftTable {
  readonly family: NftFamily;
  readonly name: string;
}

export type NftSetElem = NftValue;

export interface NftSet {
  readonly family: NftFamily;
  readonly table: string;
  readonly name: string;
  readonly type: string | readonly string[];
  readonly flags?: readonly "interval"[];
  readonly elem?: readonly NftSetElem[];
}

export interface NftMap {
  readonly family: NftFamily;
  readonly table: string;
  readonly name: string;
  readonly type: string;
  readonly map: "verdict";
  readonly elem?: ReadonlyArray<readonly [string, NftVerdict]>;
}

export interface NftChain {
  readonly family: NftFamily;
  readonly table: string;
  readonly name: string;
  readonly type?: "filter";
  readonly hook?: "forward";
  readonly prio?: number;
  readonly policy?: "accept" | "drop";
}

export interface NftRule {
  readonly family: NftFamily;
  readonly table: string;
  readonly chain: string;
  readonly expr: readonly NftStatement[];
  readonly comment?: string;
}

/** `elem` lists keys (sets) or [key, verdict] pairs (maps; delete takes keys only). */
export interface NftElement {
  readonly family: NftFamily;
  readonly table: string;
  readonly name: string;
  readonly elem: readonly (NftSetElem | readonly [string, NftVerdict])[];
}

export type NftObject =
  | { readonly table: NftTable }
  | { readonly set: NftSet }
  | { readonly map: NftMap }
  | { readonly chain: NftChain }
  | { readonly rule: NftRule }
  | { readonly element: NftElement };

export type NftCommand =
  | { readonly add: NftObject }
  | { readonly delete: NftObject }
  | { readonly flush: { readonly chain: NftChain } };

/** What `nft -j -f -` reads: one batch, applied atomically by the kernel. */
export interface NftDocument {
  readonly nftables: readonly NftCommand[];
}
