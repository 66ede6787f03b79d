/**
 * nf_tables expressions (the kernel's register machine), one descriptor per kind: its name and how
 * its fields become NFTA_<KIND>_* attributes (linux/netfilter/nf_tables.h). A rule is a list of
 * these inside NFTA_RULE_EXPRESSIONS, each wrapped as NFTA_LIST_ELEM { NFTA_EXPR_NAME, NFTA_EXPR_DATA }.
 */
import type { AttrWriter } from "./message.js";
import { NFTA_LIST_ELEM, type VerdictKind, writeValue, writeVerdict } from "./nft-wire.js";

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
  /** Writes the NFTA_<KIND>_* attributes inside NFTA_EXPR_DATA. */
  readonly write: (e: Of<K>, w: AttrWriter) => void;
}

const DESCRIPTORS: { readonly [K in Expr["kind"]]: Descriptor<K> } = {
  // NFTA_PAYLOAD_DREG 1, BASE 2, OFFSET 3, LEN 4
  payload: {
    name: "payload",
    write: (e, w) => w.u32be(1, e.dreg).u32be(2, e.base).u32be(3, e.offset).u32be(4, e.len),
  },
  // NFTA_CMP_SREG 1, OP 2, DATA 3
  cmp: {
    name: "cmp",
    write: (e, w) => {
      w.u32be(1, e.sreg).u32be(2, e.op);
      writeValue(w, 3, e.data);
    },
  },
  // NFTA_RANGE_SREG 1, OP 2, FROM_DATA 3, TO_DATA 4
  range: {
    name: "range",
    write: (e, w) => {
      w.u32be(1, e.sreg).u32be(2, e.op);
      writeValue(w, 3, e.from);
      writeValue(w, 4, e.to);
    },
  },
  // NFTA_META_DREG 1, KEY 2, SREG 3
  meta: { name: "meta", write: (e, w) => w.u32be(2, e.key).u32be(1, e.dreg) },
  "meta-set": { name: "meta", write: (e, w) => w.u32be(2, e.key).u32be(3, e.sreg) },
  // NFTA_CT_DREG 1, KEY 2
  ct: { name: "ct", write: (e, w) => w.u32be(2, e.key).u32be(1, e.dreg) },
  // NFTA_BITWISE_SREG 1, DREG 2, LEN 3, MASK 4, XOR 5, OP 6
  bitwise: {
    name: "bitwise",
    write: (e, w) => {
      if (e.mask.length !== e.xor.length) throw new Error("bitwise: mask and xor differ in length");
      w.u32be(1, e.sreg).u32be(2, e.dreg);
      if (e.op !== undefined) w.u32be(6, e.op);
      w.u32be(3, e.mask.length);
      writeValue(w, 4, e.mask);
      writeValue(w, 5, e.xor);
    },
  },
  // NFTA_LOOKUP_SET 1, SREG 2, DREG 3, SET_ID 4, FLAGS 5 (in libnftnl's order: registers first)
  lookup: {
    name: "lookup",
    write: (e, w) => {
      w.u32be(2, e.sreg);
      if (e.dreg !== undefined) w.u32be(3, e.dreg);
      w.str(1, e.set);
      if (e.setId !== undefined) w.u32be(4, e.setId);
      if (e.invert) w.u32be(5, LOOKUP_F_INV);
    },
  },
  // NFTA_IMMEDIATE_DREG 1, DATA 2
  immediate: {
    name: "immediate",
    write: (e, w) => {
      w.u32be(1, REG_VERDICT);
      writeVerdict(w, 2, e.verdict, e.chain);
    },
  },
  // NFTA_COUNTER_BYTES 1, PACKETS 2: nft sends neither, and the kernel starts both at zero
  counter: { name: "counter", write: () => undefined },
  // NFTA_LOG_PREFIX 2
  log: {
    name: "log",
    write: (e, w) => {
      if (e.prefix !== undefined) w.str(2, e.prefix);
    },
  },
};

/** One expression as an NFTA_LIST_ELEM attribute, written into `w`. */
export function encodeExpr(e: Expr, w: AttrWriter): void {
  // The union's kinds and the descriptor table's keys are the same, which TypeScript cannot follow.
  const d = DESCRIPTORS[e.kind] as unknown as Descriptor<Expr["kind"]> & {
    write: (e: Expr, w: AttrWriter) => void;
  };
  const elem = w.begin(NFTA_LIST_ELEM);
  w.str(EXPR_NAME, d.name);
  const data = w.begin(EXPR_DATA);
  d.write(e, w);
  w.end(data).end(elem);
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
