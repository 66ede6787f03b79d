/**
 * nf_tables over nfnetlink: the attribute numbers (linux/netfilter/nf_tables.h) and the builders of
 * the messages tortie sends for chains, rules and sets. Everything is plain bytes; a transaction is
 * a list of `Request`s between BATCH_BEGIN and BATCH_END, sent in one sendmsg (core/netlink/socket.ts).
 */
import { AttrWriter, NlFlags } from "./message.js";
import type { Request } from "./socket.js";

export const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 16;
const NFNL_MSG_BATCH_END = 17;

export const NftMsg = {
  NEWTABLE: 0,
  GETTABLE: 1,
  DELTABLE: 2,
  NEWCHAIN: 3,
  GETCHAIN: 4,
  DELCHAIN: 5,
  NEWRULE: 6,
  GETRULE: 7,
  DELRULE: 8,
  NEWSET: 9,
  GETSET: 10,
  DELSET: 11,
  NEWSETELEM: 12,
  GETSETELEM: 13,
  DELSETELEM: 14,
} as const;

export const CHAIN = { TABLE: 1, NAME: 3 } as const;
export const RULE = { TABLE: 1, CHAIN: 2, HANDLE: 3, EXPRESSIONS: 4, USERDATA: 7 } as const;
export const SET = {
  TABLE: 1,
  NAME: 2,
  FLAGS: 3,
  KEY_TYPE: 4,
  KEY_LEN: 5,
  DATA_TYPE: 6,
  DATA_LEN: 7,
  DESC: 9,
  ID: 10,
  USERDATA: 13,
} as const;
export const SET_DESC = { SIZE: 1, CONCAT: 2 } as const;
export const SET_FIELD_LEN = 1;
export const SetFlag = { ANONYMOUS: 0x1, CONSTANT: 0x2, INTERVAL: 0x4, MAP: 0x8, CONCAT: 0x80 } as const;
export const ELEM_LIST = { TABLE: 1, SET: 2, ELEMENTS: 3, SET_ID: 4 } as const;
export const ELEM = { KEY: 1, DATA: 2, FLAGS: 3, USERDATA: 6, KEY_END: 10 } as const;
export const NFTA_LIST_ELEM = 1;
export const DATA = { VALUE: 1, VERDICT: 2 } as const;
export const VERDICT = { CODE: 1, CHAIN: 2 } as const;
export const NFT_SET_ELEM_INTERVAL_END = 1;

/** Verdict codes: netfilter's NF_DROP / NF_ACCEPT and nf_tables' own (negative) ones. */
export const Verdict = { drop: 0, accept: 1, continue: -1, jump: -3, goto: -4, return: -5 } as const;
export type VerdictKind = keyof typeof Verdict;

export type NftFamily = "inet" | "ip" | "ip6" | "bridge" | "netdev" | "arp";
export const FAMILY: Readonly<Record<NftFamily, number>> = {
  inet: 1,
  ip: 2,
  arp: 3,
  netdev: 5,
  bridge: 7,
  ip6: 10,
};

/**
 * Single attributes as Buffers (sets, chains, elements): written by one kept writer and copied out,
 * so the bytes are laid out in one place (message.ts) for rules and for these alike.
 */
const scratch = new AttrWriter();

export const attr = (type: number, value: Buffer): Buffer => scratch.raw(type, value).build();
export const str = (type: number, s: string): Buffer => scratch.str(type, s).build();
export const be32 = (type: number, v: number): Buffer => scratch.u32be(type, v).build();

/** `parts` are whole attributes (already padded). */
export function nested(type: number, parts: readonly Buffer[]): Buffer {
  const at = scratch.begin(type);
  for (const p of parts) scratch.put(p);
  return scratch.end(at).build();
}

export function be64(type: number, v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(v);
  return attr(type, b);
}

export function nfgenmsg(family: number, resId = 0): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(family, 0);
  b.writeUInt8(0, 1); // NFNETLINK_V0
  b.writeUInt16BE(resId, 2);
  return b;
}

/** NFTA_DATA_VALUE with the bytes, inside `type`. */
export function writeValue(w: AttrWriter, type: number, bytes: Buffer): AttrWriter {
  const at = w.begin(type);
  w.raw(DATA.VALUE, bytes);
  return w.end(at);
}

/** A verdict as NFTA_DATA_VERDICT inside `type` (immediate data, verdict map element data). */
export function writeVerdict(w: AttrWriter, type: number, kind: VerdictKind, chain?: string): AttrWriter {
  const outer = w.begin(type);
  const inner = w.begin(DATA.VERDICT);
  w.u32be(VERDICT.CODE, Verdict[kind]);
  if (chain !== undefined) w.str(VERDICT.CHAIN, chain);
  return w.end(inner).end(outer);
}

export const dataValue = (type: number, bytes: Buffer): Buffer => writeValue(scratch, type, bytes).build();
export const dataVerdict = (type: number, kind: VerdictKind, chain?: string): Buffer =>
  writeVerdict(scratch, type, kind, chain).build();

function message(family: NftFamily, type: number, flags: number, attrs: readonly Buffer[]): Request {
  return {
    type: (NFNL_SUBSYS_NFTABLES << 8) | type,
    flags,
    payload: Buffer.concat([nfgenmsg(FAMILY[family]), ...attrs]),
  };
}

export function batchBegin(): Request {
  return { type: NFNL_MSG_BATCH_BEGIN, flags: 0, payload: nfgenmsg(0, NFNL_SUBSYS_NFTABLES) };
}

export function batchEnd(): Request {
  return { type: NFNL_MSG_BATCH_END, flags: 0, payload: nfgenmsg(0, NFNL_SUBSYS_NFTABLES) };
}

/** A regular (non-base) chain. */
export function newChain(family: NftFamily, table: string, name: string): Request {
  return message(family, NftMsg.NEWCHAIN, NlFlags.CREATE, [str(CHAIN.TABLE, table), str(CHAIN.NAME, name)]);
}

export function delChain(family: NftFamily, table: string, name: string): Request {
  return message(family, NftMsg.DELCHAIN, 0, [str(CHAIN.TABLE, table), str(CHAIN.NAME, name)]);
}

/** Every rule of a chain (`flush chain`): DELRULE naming only the table and the chain. */
export function flushChain(family: NftFamily, table: string, chain: string): Request {
  return message(family, NftMsg.DELRULE, 0, [str(RULE.TABLE, table), str(RULE.CHAIN, chain)]);
}

/**
 * nftables' rule userdata: TLVs of a one-byte type and a one-byte length; type 0 is the comment,
 * NUL-terminated, as `nft` writes it (so `nft list` shows it).
 */
function commentUserdata(comment: string): Buffer {
  const n = Buffer.byteLength(comment) + 1;
  if (n > 255) throw new Error(`rule comment longer than 254 bytes: ${comment}`);
  const b = Buffer.allocUnsafe(2 + n);
  b[0] = 0;
  b[1] = n;
  b.write(comment, 2);
  b[1 + n] = 0;
  return b;
}

/**
 * A rule appended to its chain; `expressions` writes the NFTA_LIST_ELEM attributes (nft-expr.ts).
 * The whole message is written by one AttrWriter.
 */
export function newRule(
  family: NftFamily,
  table: string,
  chain: string,
  expressions: (w: AttrWriter) => void,
  comment?: string,
): Request {
  const w = ruleWriter;
  w.put(nfgenmsg(FAMILY[family]));
  w.str(RULE.TABLE, table).str(RULE.CHAIN, chain);
  const at = w.begin(RULE.EXPRESSIONS);
  expressions(w);
  w.end(at);
  if (comment !== undefined) w.raw(RULE.USERDATA, commentUserdata(comment));
  return {
    type: (NFNL_SUBSYS_NFTABLES << 8) | NftMsg.NEWRULE,
    flags: NlFlags.CREATE | NlFlags.APPEND,
    payload: w.build(),
  };
}
const ruleWriter = new AttrWriter(4096);

export interface SetSpec {
  readonly family: NftFamily;
  readonly table: string;
  readonly name: string;
  /** NFT_SET_* flags. */
  readonly flags: number;
  /** nftables datatype id of the key (concatenations: the ids packed 6 bits each). */
  readonly keyType: number;
  readonly keyLen: number;
  /** For maps: the data's datatype and length (verdicts: 0xffffff00, 0). */
  readonly dataType?: number;
  readonly dataLen?: number;
  /** Transaction-local id, so rules and elements of the same batch can refer to a new set. */
  readonly id: number;
  /** NFTA_SET_DESC_SIZE: how many elements (nft gives it for anonymous sets). */
  readonly size?: number;
  readonly userdata?: Buffer;
}

export function newSet(s: SetSpec): Request {
  const attrs = [
    str(SET.TABLE, s.table),
    str(SET.NAME, s.name),
    be32(SET.FLAGS, s.flags),
    be32(SET.KEY_TYPE, s.keyType),
    be32(SET.KEY_LEN, s.keyLen),
  ];
  if (s.dataType !== undefined)
    attrs.push(be32(SET.DATA_TYPE, s.dataType), be32(SET.DATA_LEN, s.dataLen ?? 0));
  attrs.push(be32(SET.ID, s.id));
  if (s.size !== undefined) attrs.push(nested(SET.DESC, [be32(SET_DESC.SIZE, s.size)]));
  if (s.userdata) attrs.push(attr(SET.USERDATA, s.userdata));
  return message(s.family, NftMsg.NEWSET, NlFlags.CREATE, attrs);
}

export function delSet(family: NftFamily, table: string, name: string): Request {
  return message(family, NftMsg.DELSET, 0, [str(SET.TABLE, table), str(SET.NAME, name)]);
}

/** One element as the kernel stores it. */
export interface SetElement {
  readonly key: Buffer;
  /** Inclusive end of a range in a concatenated interval set (pipapo). */
  readonly keyEnd?: Buffer;
  /** Marks the exclusive end of an interval in a plain interval set (rbtree). */
  readonly intervalEnd?: boolean;
  /** A verdict map's data. */
  readonly verdict?: { readonly kind: VerdictKind; readonly chain?: string };
  readonly userdata?: Buffer;
}

/** The element list's entries are numbered from 1 as libnftnl does (the kernel reads any type). */
function elementAttr(e: SetElement, i: number): Buffer {
  // In libnftnl's order (flags first), so a batch can be compared byte for byte with nft's.
  const parts = e.intervalEnd ? [be32(ELEM.FLAGS, NFT_SET_ELEM_INTERVAL_END)] : [];
  parts.push(dataValue(ELEM.KEY, e.key));
  if (e.keyEnd) parts.push(dataValue(ELEM.KEY_END, e.keyEnd));
  if (e.verdict) parts.push(dataVerdict(ELEM.DATA, e.verdict.kind, e.verdict.chain));
  if (e.userdata) parts.push(attr(ELEM.USERDATA, e.userdata));
  return nested(NFTA_LIST_ELEM + i, parts);
}

/**
 * Elements per message: a message's element list is one attribute, whose length is 16 bits, and the
 * largest element tortie writes (a verdict map entry, an IPv6 interval end) is under 100 bytes.
 */
export const ELEMENTS_PER_MESSAGE = 500;

/**
 * Adds or removes elements of a set named `set` (or, with `setId`, of a set made in the same batch):
 * one message per ELEMENTS_PER_MESSAGE elements, all for the same transaction.
 */
export function setElements(
  kind: "add" | "remove",
  family: NftFamily,
  table: string,
  set: string,
  elements: readonly SetElement[],
  setId?: number,
): Request[] {
  const head = [str(ELEM_LIST.TABLE, table), str(ELEM_LIST.SET, set)];
  if (setId !== undefined) head.push(be32(ELEM_LIST.SET_ID, setId));
  const out: Request[] = [];
  for (let i = 0; i < elements.length; i += ELEMENTS_PER_MESSAGE) {
    const chunk = elements.slice(i, i + ELEMENTS_PER_MESSAGE);
    out.push(
      message(
        family,
        kind === "add" ? NftMsg.NEWSETELEM : NftMsg.DELSETELEM,
        kind === "add" ? NlFlags.CREATE : 0,
        [...head, nested(ELEM_LIST.ELEMENTS, chunk.map(elementAttr))],
      ),
    );
  }
  return out;
}

/** A dump request for one table's rules, sets or chains (GETRULE / GETSET / GETCHAIN). */
export function dumpPayload(family: NftFamily, table: string): Buffer {
  return Buffer.concat([nfgenmsg(FAMILY[family]), str(1 /* NFTA_*_TABLE */, table)]);
}
