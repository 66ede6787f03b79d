/**
 * nf_tables over nfnetlink: the attribute numbers (linux/netfilter/nf_tables.h) and the builders of
 * the messages tortie sends for chains, rules and sets. Everything is plain bytes; a transaction is
 * a list of `Request`s between BATCH_BEGIN and BATCH_END, sent in one sendmsg (core/netlink/socket.ts).
 */
import { NlFlags } from "./message.js";
import type { Request } from "./socket.js";

export const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 16;
const NFNL_MSG_BATCH_END = 17;
export const NLA_F_NESTED = 0x8000;

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
 * Attributes are many and small (a rule is dozens): they come from Node's shared buffer pool
 * (allocUnsafe) rather than one ArrayBuffer each, which made encoding the main source of garbage on
 * the incremental path. Every byte is written, padding included.
 */
export function attr(type: number, value: Buffer): Buffer {
  const len = 4 + value.length;
  const size = (len + 3) & ~3;
  const b = Buffer.allocUnsafe(size);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  value.copy(b, 4);
  b.fill(0, len, size);
  return b;
}

/** One buffer for the header and the parts (attributes, so already padded): no intermediate concat. */
export function nested(type: number, parts: readonly Buffer[]): Buffer {
  let len = 4;
  for (const p of parts) len += p.length;
  const b = Buffer.allocUnsafe((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type | NLA_F_NESTED, 2);
  let off = 4;
  for (const p of parts) off += p.copy(b, off);
  b.fill(0, len);
  return b;
}

/** A NUL-terminated string attribute, written in place. */
export function str(type: number, s: string): Buffer {
  const n = Buffer.byteLength(s);
  const len = 4 + n + 1;
  const b = Buffer.allocUnsafe((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  b.write(s, 4);
  b.fill(0, 4 + n);
  return b;
}

export function be32(type: number, v: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt16LE(8, 0);
  b.writeUInt16LE(type, 2);
  b.writeUInt32BE(v >>> 0, 4);
  return b;
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

/**
 * Writes attributes one after another into one growing buffer, a nest closed by patching its length:
 * a rule is dozens of attributes, and one small Buffer each (and a copy per nesting level) was the
 * bulk of the garbage of a policy change. Reused: `take()` copies the message out and starts over.
 */
export class AttrWriter {
  private buf = Buffer.allocUnsafe(4096);
  private len = 0;

  private room(n: number): number {
    if (this.len + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  private header(at: number, len: number, type: number): void {
    this.buf.writeUInt16LE(len, at);
    this.buf.writeUInt16LE(type, at + 2);
  }

  raw(bytes: Buffer): this {
    bytes.copy(this.buf, this.room(bytes.length));
    return this;
  }

  u32be(type: number, v: number): this {
    const at = this.room(8);
    this.header(at, 8, type);
    this.buf.writeUInt32BE(v >>> 0, at + 4);
    return this;
  }

  bytes(type: number, value: Buffer): this {
    const len = 4 + value.length;
    const at = this.room((len + 3) & ~3);
    this.header(at, len, type);
    value.copy(this.buf, at + 4);
    this.buf.fill(0, at + len, this.len);
    return this;
  }

  str(type: number, s: string): this {
    const n = Buffer.byteLength(s);
    const len = 4 + n + 1;
    const at = this.room((len + 3) & ~3);
    this.header(at, len, type);
    this.buf.write(s, at + 4);
    this.buf.fill(0, at + 4 + n, this.len);
    return this;
  }

  /** The nfgenmsg header that starts every nf_tables message (NFNETLINK_V0). */
  nfgenmsg(family: number, resId = 0): this {
    const at = this.room(4);
    this.buf.writeUInt8(family, at);
    this.buf.writeUInt8(0, at + 1);
    this.buf.writeUInt16BE(resId, at + 2);
    return this;
  }

  /** An attribute holding one userdata TLV: `tlvType`, then `n` bytes: the text and a NUL. */
  userdata(type: number, tlvType: number, text: string, n: number): this {
    const len = 4 + 2 + n;
    const at = this.room((len + 3) & ~3);
    this.header(at, len, type);
    this.buf.writeUInt8(tlvType, at + 4);
    this.buf.writeUInt8(n, at + 5);
    this.buf.write(text, at + 6);
    this.buf.fill(0, at + 6 + n - 1, this.len);
    return this;
  }

  /** Opens a nested attribute; `end` with the returned position closes it. */
  begin(type: number): number {
    const at = this.room(4);
    this.header(at, 0, type | NLA_F_NESTED);
    return at;
  }

  end(at: number): this {
    this.buf.writeUInt16LE(this.len - at, at);
    return this;
  }

  /** NFTA_DATA_VALUE with the bytes, inside `type`. */
  value(type: number, bytes: Buffer): this {
    const at = this.begin(type);
    this.bytes(DATA.VALUE, bytes);
    return this.end(at);
  }

  /** A verdict as NFTA_DATA_VERDICT inside `type`. */
  verdict(type: number, kind: VerdictKind, chain?: string): this {
    const outer = this.begin(type);
    const inner = this.begin(DATA.VERDICT);
    this.u32be(VERDICT.CODE, Verdict[kind]);
    if (chain !== undefined) this.str(VERDICT.CHAIN, chain);
    return this.end(inner).end(outer);
  }

  take(): Buffer {
    const out = Buffer.allocUnsafe(this.len);
    this.buf.copy(out, 0, 0, this.len);
    this.len = 0;
    return out;
  }
}

/** A data attribute's payload: NFTA_DATA_VALUE with the bytes (both headers in one buffer). */
export function dataValue(type: number, bytes: Buffer): Buffer {
  const inner = 4 + bytes.length;
  const len = 4 + ((inner + 3) & ~3);
  const b = Buffer.allocUnsafe(len);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type | NLA_F_NESTED, 2);
  b.writeUInt16LE(inner, 4);
  b.writeUInt16LE(DATA.VALUE, 6);
  bytes.copy(b, 8);
  b.fill(0, 4 + inner);
  return b;
}

/** A verdict as NFTA_DATA_VERDICT (immediate data, verdict map element data). */
export function dataVerdict(type: number, kind: VerdictKind, chain?: string): Buffer {
  const v = [be32(VERDICT.CODE, Verdict[kind])];
  if (chain !== undefined) v.push(str(VERDICT.CHAIN, chain));
  return nested(type, [nested(DATA.VERDICT, v)]);
}

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
function writeComment(w: AttrWriter, type: number, comment: string): void {
  const n = Buffer.byteLength(comment) + 1;
  if (n > 255) throw new Error(`rule comment longer than 254 bytes: ${comment}`);
  w.userdata(type, 0, comment, n);
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
  w.nfgenmsg(FAMILY[family]);
  w.str(RULE.TABLE, table).str(RULE.CHAIN, chain);
  const at = w.begin(RULE.EXPRESSIONS);
  expressions(w);
  w.end(at);
  if (comment !== undefined) writeComment(w, RULE.USERDATA, comment);
  return {
    type: (NFNL_SUBSYS_NFTABLES << 8) | NftMsg.NEWRULE,
    flags: NlFlags.CREATE | NlFlags.APPEND,
    payload: w.take(),
  };
}
const ruleWriter = new AttrWriter();

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
