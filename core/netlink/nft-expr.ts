/**
 * nf_tables expressions (the kernel's register machine), one descriptor per kind: its name and how
 * its fields become NFTA_<KIND>_* attributes (linux/netfilter/nf_tables.h). A rule is a list of
 * these inside NFTA_RULE_EXPRESSIONS, each wrapped as NFTA_LIST_ELEM { NFTA_EXPR_NAME, NFTA_EXPR_DATA }.
 */
import { NFTA_LIST_ELEM, be32, dataValue, dataVerdict, nested, str, type VerdictKind } from "./nft-wire.js";

const EXPR_NAME = 1;
const EXPR_DATA = 2;

/** Registers: 0 is the verdict; 1..4 are 16 bytes each; 8..23 address the same space in 4-byte words. */
export const REG_VERDICT = 0;
export const REG_1 = 1;
export const REG32_00 = 8;

export const PayloadBase = { link: 0, network: 1, transport: 2 } as const;
export const CmpOp = { eq: 0, neq: 1, lt: 2, lte: 3, gt: 4, gte: 5 } as const;
export const RangeOp = { eq: 0, neq: 1 } as const;
export const MetaKey = { mark: 3, iifname: 6, oifname: 7, nfproto: 15, l4proto: 16 } as const;
export const CtKey = { state: 0 } as const;
export const LOOKUP_F_INV = 1;
export const BITWISE_MASK_XOR = 0;

/** Every expression tortie emits, as a tagged union. */
export type Expr =
  | {
      readonly kind: "payload";
      readonly dreg: number;
      readonly base: number;
      readonly offset: number;
      readonly len: number;
    }
  | { readonly kind: "cmp"; readonly sreg: number; readonly op: number; readonly data: Buffer }
  | {
      readonly kind: "range";
      readonly sreg: number;
      readonly op: number;
      readonly from: Buffer;
      readonly to: Buffer;
    }
  | { readonly kind: "meta"; readonly key: number; readonly dreg: number }
  | { readonly kind: "meta-set"; readonly key: number; readonly sreg: number }
  | { readonly kind: "ct"; readonly key: number; readonly dreg: number }
  | {
      readonly kind: "bitwise";
      readonly sreg: number;
      readonly dreg: number;
      readonly mask: Buffer;
      readonly xor: Buffer;
      /** NFTA_BITWISE_OP: nft gives it (MASK_XOR, 0) for a value it computes, not for a match. */
      readonly op?: number;
    }
  | {
      readonly kind: "lookup";
      readonly set: string;
      readonly sreg: number;
      readonly dreg?: number;
      readonly setId?: number;
      readonly invert?: boolean;
    }
  | { readonly kind: "immediate"; readonly verdict: VerdictKind; readonly chain?: string }
  | { readonly kind: "counter" }
  | { readonly kind: "log"; readonly prefix?: string };

type Of<K extends Expr["kind"]> = Extract<Expr, { kind: K }>;

interface Descriptor<K extends Expr["kind"]> {
  /** The kernel's name of the expression type. */
  readonly name: string;
  readonly attrs: (e: Of<K>) => Buffer[];
}

const DESCRIPTORS: { readonly [K in Expr["kind"]]: Descriptor<K> } = {
  // NFTA_PAYLOAD_DREG 1, BASE 2, OFFSET 3, LEN 4
  payload: {
    name: "payload",
    attrs: (e) => [be32(1, e.dreg), be32(2, e.base), be32(3, e.offset), be32(4, e.len)],
  },
  // NFTA_CMP_SREG 1, OP 2, DATA 3
  cmp: { name: "cmp", attrs: (e) => [be32(1, e.sreg), be32(2, e.op), dataValue(3, e.data)] },
  // NFTA_RANGE_SREG 1, OP 2, FROM_DATA 3, TO_DATA 4
  range: {
    name: "range",
    attrs: (e) => [be32(1, e.sreg), be32(2, e.op), dataValue(3, e.from), dataValue(4, e.to)],
  },
  // NFTA_META_DREG 1, KEY 2, SREG 3
  meta: { name: "meta", attrs: (e) => [be32(2, e.key), be32(1, e.dreg)] },
  "meta-set": { name: "meta", attrs: (e) => [be32(2, e.key), be32(3, e.sreg)] },
  // NFTA_CT_DREG 1, KEY 2
  ct: { name: "ct", attrs: (e) => [be32(2, e.key), be32(1, e.dreg)] },
  // NFTA_BITWISE_SREG 1, DREG 2, LEN 3, MASK 4, XOR 5, OP 6
  bitwise: {
    name: "bitwise",
    attrs: (e) => {
      if (e.mask.length !== e.xor.length) throw new Error("bitwise: mask and xor differ in length");
      const op = e.op === undefined ? [] : [be32(6, e.op)];
      return [
        be32(1, e.sreg),
        be32(2, e.dreg),
        ...op,
        be32(3, e.mask.length),
        dataValue(4, e.mask),
        dataValue(5, e.xor),
      ];
    },
  },
  // NFTA_LOOKUP_SET 1, SREG 2, DREG 3, SET_ID 4, FLAGS 5 (in libnftnl's order: registers first)
  lookup: {
    name: "lookup",
    attrs: (e) => {
      const a = [be32(2, e.sreg)];
      if (e.dreg !== undefined) a.push(be32(3, e.dreg));
      a.push(str(1, e.set));
      if (e.setId !== undefined) a.push(be32(4, e.setId));
      if (e.invert) a.push(be32(5, LOOKUP_F_INV));
      return a;
    },
  },
  // NFTA_IMMEDIATE_DREG 1, DATA 2
  immediate: {
    name: "immediate",
    attrs: (e) => [be32(1, REG_VERDICT), dataVerdict(2, e.verdict, e.chain)],
  },
  // NFTA_COUNTER_BYTES 1, PACKETS 2: nft sends neither, and the kernel starts both at zero
  counter: { name: "counter", attrs: () => [] },
  // NFTA_LOG_PREFIX 2
  log: { name: "log", attrs: (e) => (e.prefix === undefined ? [] : [str(2, e.prefix)]) },
};

/** One expression as an NFTA_LIST_ELEM attribute. */
export function encodeExpr(e: Expr): Buffer {
  // The union's kinds and the descriptor table's keys are the same, which TypeScript cannot follow.
  const d = DESCRIPTORS[e.kind] as unknown as Descriptor<Expr["kind"]> & { attrs: (e: Expr) => Buffer[] };
  return nested(NFTA_LIST_ELEM, [str(EXPR_NAME, d.name), nested(EXPR_DATA, d.attrs(e))]);
}

/** A value in host byte order (marks, ct state bits, bitwise masks over them). */
export function hostU32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

/** Field `i` of a concatenation starting `offset` bytes into the registers: 4-byte words after the first. */
export function concatReg(offset: number): number {
  return offset === 0 ? REG_1 : REG32_00 + offset / 4;
}
