/**
 * The nft JSON transaction (render.ts) as nf_tables netlink messages, for the incremental path: the
 * same commands `nft -j -f` would send, encoded here and sent over our own socket, so a chain
 * rewrite costs a few hundred microseconds instead of an nft process that re-reads the whole table.
 *
 * The JSON stays the only description of what a rule means: each statement kind has one descriptor
 * here that lowers it to kernel expressions the way nft 1.0.6 does (same registers, same
 * dependencies — `meta nfproto` before the first ip/ip6 header field — same anonymous sets), so
 * `nft list` shows the same table whichever path wrote it. A command or statement without a
 * descriptor throws `Unsupported`; the caller then sends the whole change through `nft -j -f`.
 */
import { addrBytes } from "../../core/netlink/addr.js";
import { cidrElements, concatKey } from "../../core/netlink/nftables.js";
import {
  BITWISE_MASK_XOR,
  CmpOp,
  CtKey,
  MetaKey,
  PayloadBase,
  RangeOp,
  concatReg,
  encodeExpr,
  hostU32,
  REG_1,
  REG_VERDICT,
  type Expr,
} from "../../core/netlink/nft-expr.js";
import {
  SetFlag,
  batchBegin,
  batchEnd,
  delChain,
  delSet,
  flushChain,
  newChain,
  newRule,
  newSet,
  setElements,
  type SetElement,
  type VerdictKind,
} from "../../core/netlink/nft-wire.js";
import type { Request } from "../../core/netlink/socket.js";
import { PROTO } from "../ir.js";
import type {
  NftCommand,
  NftDocument,
  NftKey,
  NftRule,
  NftSet,
  NftSetElem,
  NftStatement,
  NftValue,
  NftVerdict,
} from "./schema.js";

/** Something the encoder has no descriptor for; the change goes through `nft -j -f` instead. */
export class Unsupported extends Error {
  constructor(readonly what: string) {
    super(`no netlink encoding for ${what}`);
    this.name = "Unsupported";
  }
}

/** nftables datatype ids (src/datatype.h) of the keys tortie uses; concatenations pack them 6 bits each. */
const Type = {
  ipv4_addr: 7,
  ipv6_addr: 8,
  inet_proto: 12,
  inet_service: 13,
  icmp_type: 14,
  mark: 19,
  ct_state: 26,
  icmpv6_type: 29,
  icmp_code: 32,
  icmpv6_code: 33,
  ifname: 41,
} as const;
const TYPE_BITS = 6;

const NFPROTO = { ip: 2, ip6: 10 } as const;
const CT_STATE: Readonly<Record<string, number>> = {
  invalid: 1,
  established: 2,
  related: 4,
  new: 8,
  untracked: 64,
};

// ---------------------------------------------------------------------------------------------
// Keys: what a JSON key loads, how long it is, which dependency it needs, how its values encode
// ---------------------------------------------------------------------------------------------

interface KeyDesc {
  readonly len: number;
  readonly type: number;
  /** Loads the key into `reg`. */
  readonly load: (reg: number) => Expr[];
  /** The protocol context the field needs first: network family, or L4 protocol. */
  readonly needs?: { readonly nfproto: number } | { readonly l4proto: number };
  readonly value: (v: NftValue) => Buffer;
}

function scalar(v: NftValue, what: string): number | string {
  if (typeof v === "number" || typeof v === "string") return v;
  throw new Unsupported(`${what} value ${JSON.stringify(v)}`);
}

function uint(len: number, be: boolean): (v: NftValue) => Buffer {
  return (v) => {
    const n = scalar(v, "integer");
    if (typeof n !== "number" || !Number.isInteger(n)) throw new Unsupported(`integer value ${n}`);
    const b = Buffer.alloc(len);
    if (len === 1) b.writeUInt8(n, 0);
    else if (len === 2) b.writeUInt16BE(n, 0);
    else if (be) b.writeUInt32BE(n >>> 0, 0);
    else b.writeUInt32LE(n >>> 0, 0);
    return b;
  };
}

const PROTO_NUMBERS: Readonly<Record<string, number>> = PROTO;

function protoNumber(v: NftValue): number {
  const p = scalar(v, "protocol");
  const n = typeof p === "number" ? p : PROTO_NUMBERS[p];
  if (n === undefined) throw new Unsupported(`protocol ${p}`);
  return n;
}

function addrValue(len: 4 | 16): (v: NftValue) => Buffer {
  return (v) => {
    const s = scalar(v, "address");
    const b = addrBytes(String(s));
    if (b.length !== len) throw new Unsupported(`address ${s} in a ${len * 8}-bit field`);
    return b;
  };
}

const payload = (base: number, offset: number, len: number) => (reg: number) =>
  [{ kind: "payload", dreg: reg, base, offset, len }] as Expr[];
const meta = (key: number) => (reg: number) => [{ kind: "meta", key, dreg: reg }] as Expr[];

const PAYLOAD_KEYS: Readonly<Record<string, KeyDesc>> = {
  "ip saddr": {
    len: 4,
    type: Type.ipv4_addr,
    load: payload(PayloadBase.network, 12, 4),
    needs: { nfproto: NFPROTO.ip },
    value: addrValue(4),
  },
  "ip daddr": {
    len: 4,
    type: Type.ipv4_addr,
    load: payload(PayloadBase.network, 16, 4),
    needs: { nfproto: NFPROTO.ip },
    value: addrValue(4),
  },
  "ip6 saddr": {
    len: 16,
    type: Type.ipv6_addr,
    load: payload(PayloadBase.network, 8, 16),
    needs: { nfproto: NFPROTO.ip6 },
    value: addrValue(16),
  },
  "ip6 daddr": {
    len: 16,
    type: Type.ipv6_addr,
    load: payload(PayloadBase.network, 24, 16),
    needs: { nfproto: NFPROTO.ip6 },
    value: addrValue(16),
  },
  "th sport": {
    len: 2,
    type: Type.inet_service,
    load: payload(PayloadBase.transport, 0, 2),
    value: uint(2, true),
  },
  "th dport": {
    len: 2,
    type: Type.inet_service,
    load: payload(PayloadBase.transport, 2, 2),
    value: uint(2, true),
  },
  "icmp type": {
    len: 1,
    type: Type.icmp_type,
    load: payload(PayloadBase.transport, 0, 1),
    needs: { l4proto: PROTO.icmp },
    value: uint(1, true),
  },
  "icmp code": {
    len: 1,
    type: Type.icmp_code,
    load: payload(PayloadBase.transport, 1, 1),
    needs: { l4proto: PROTO.icmp },
    value: uint(1, true),
  },
  "icmpv6 type": {
    len: 1,
    type: Type.icmpv6_type,
    load: payload(PayloadBase.transport, 0, 1),
    needs: { l4proto: PROTO.icmpv6 },
    value: uint(1, true),
  },
  "icmpv6 code": {
    len: 1,
    type: Type.icmpv6_code,
    load: payload(PayloadBase.transport, 1, 1),
    needs: { l4proto: PROTO.icmpv6 },
    value: uint(1, true),
  },
};

function ifnameValue(v: NftValue): Buffer {
  const s = String(scalar(v, "interface name"));
  if (Buffer.byteLength(s) > 15) throw new Unsupported(`interface name ${s}`);
  const b = Buffer.alloc(16);
  b.write(s);
  return b;
}

const META_KEYS: Readonly<Record<string, KeyDesc>> = {
  l4proto: {
    len: 1,
    type: Type.inet_proto,
    load: meta(MetaKey.l4proto),
    value: (v) => Buffer.of(protoNumber(v)),
  },
  mark: { len: 4, type: Type.mark, load: meta(MetaKey.mark), value: uint(4, false) },
  iifname: { len: 16, type: Type.ifname, load: meta(MetaKey.iifname), value: ifnameValue },
  oifname: { len: 16, type: Type.ifname, load: meta(MetaKey.oifname), value: ifnameValue },
};

function ctStateBits(v: NftValue): number {
  const s = String(scalar(v, "ct state"));
  const bit = CT_STATE[s];
  if (bit === undefined) throw new Unsupported(`ct state ${s}`);
  return bit;
}

const CT_STATE_KEY: KeyDesc = {
  len: 4,
  type: Type.ct_state,
  load: (reg) => [{ kind: "ct", key: CtKey.state, dreg: reg }],
  value: (v) => hostU32(ctStateBits(v)),
};

/** A single (non-concatenated) key. */
function keyDesc(k: NftKey): KeyDesc {
  if ("payload" in k) {
    only(k.payload, ["protocol", "field"], "payload");
    const d = PAYLOAD_KEYS[`${k.payload.protocol} ${k.payload.field}`];
    if (!d) throw new Unsupported(`payload ${k.payload.protocol} ${k.payload.field}`);
    return d;
  }
  if ("meta" in k) {
    only(k.meta, ["key"], "meta");
    const d = META_KEYS[k.meta.key];
    if (!d) throw new Unsupported(`meta ${k.meta.key}`);
    return d;
  }
  if ("ct" in k) {
    only(k.ct, ["key"], "ct");
    if (k.ct.key !== "state") throw new Unsupported(`ct ${String(k.ct.key)}`);
    return CT_STATE_KEY;
  }
  if ("&" in k) {
    // `key & mask`: the key's load followed by a bitwise and; compared values are the key's own.
    const [inner, mask] = k["&"];
    const d = keyDesc(inner);
    if (d.len !== 4) throw new Unsupported("a bitwise and of a key that is not 32 bits");
    return {
      ...d,
      load: (reg) => [
        ...d.load(reg),
        {
          kind: "bitwise",
          sreg: reg,
          dreg: reg,
          mask: d.value(mask),
          xor: Buffer.alloc(4),
          op: BITWISE_MASK_XOR,
        },
      ],
    };
  }
  throw new Unsupported(`key ${JSON.stringify(k)}`);
}

/** A key as nft lays it out: a concatenation's fields each start on a 4-byte register boundary. */
interface Loaded {
  readonly exprs: Expr[];
  readonly fields: readonly KeyDesc[];
  readonly len: number;
  readonly type: number;
}

const pad4 = (n: number): number => (n + 3) & ~3;

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/** Per-rule state: the protocol context established so far, and anonymous sets to create first. */
class RuleContext {
  nfproto: number | undefined;
  l4proto: number | undefined;
  readonly anonSets: Request[] = [];

  constructor(
    private readonly tx: Encoder,
    private readonly table: string,
  ) {}

  /** Loads a key into REG_1 (concatenations into consecutive words), with its dependencies first. */
  load(k: NftKey): Loaded {
    const parts = "concat" in k ? k.concat : [k];
    const fields = parts.map(keyDesc);
    const exprs: Expr[] = [];
    for (const f of fields) exprs.push(...this.dependency(f));
    let off = 0;
    fields.forEach((f) => {
      exprs.push(...f.load(concatReg(off)));
      off += pad4(f.len);
    });
    const type = fields.reduce((t, f) => (fields.length === 1 ? f.type : (t << TYPE_BITS) | f.type), 0);
    return { exprs, fields, len: fields.length === 1 ? (fields[0]?.len ?? 0) : off, type };
  }

  private dependency(f: KeyDesc): Expr[] {
    if (!f.needs) return [];
    if ("nfproto" in f.needs) {
      if (this.nfproto === f.needs.nfproto) return [];
      this.nfproto = f.needs.nfproto;
      return [
        { kind: "meta", key: MetaKey.nfproto, dreg: REG_1 },
        { kind: "cmp", sreg: REG_1, op: CmpOp.eq, data: Buffer.of(f.needs.nfproto) },
      ];
    }
    if (this.l4proto === f.needs.l4proto) return [];
    this.l4proto = f.needs.l4proto;
    return [
      { kind: "meta", key: MetaKey.l4proto, dreg: REG_1 },
      { kind: "cmp", sreg: REG_1, op: CmpOp.eq, data: Buffer.of(f.needs.l4proto) },
    ];
  }

  /** A constant anonymous set of the given values, created in this batch before the rule. */
  anonSet(key: Loaded, values: readonly NftValue[]): { name: string; id: number } {
    const id = this.tx.nextId();
    const name = "__set%d";
    const single = key.fields.length === 1 ? key.fields[0] : undefined;
    const interval = single !== undefined && values.some((v) => typeof v === "object" && "range" in v);
    let elements: SetElement[];
    if (single && interval) elements = intervalElements(single, values);
    else
      elements = values.map((v) => {
        if (single) return { key: single.value(v) };
        if (typeof v !== "object" || !("concat" in v)) throw new Unsupported("a concatenation's value");
        if (v.concat.length !== key.fields.length) throw new Unsupported("a concatenation of another length");
        return { key: concatKey(v.concat.map((x, i) => (key.fields[i] as KeyDesc).value(x))) };
      });
    const flags = SetFlag.ANONYMOUS | SetFlag.CONSTANT | (interval ? SetFlag.INTERVAL : 0);
    this.anonSets.push(
      newSet({
        family: "inet",
        table: this.table,
        name,
        flags,
        keyType: key.type,
        keyLen: key.len,
        id,
        size: elements.length,
      }),
      ...setElements("add", "inet", this.table, name, elements, id),
    );
    return { name, id };
  }
}

/**
 * A constant interval set as nft sends it: ranges sorted and merged when they overlap or touch, each
 * as its start and the exclusive end flagged INTERVAL_END, after an end at zero when the first range
 * does not start there.
 */
function intervalElements(d: KeyDesc, values: readonly NftValue[]): SetElement[] {
  const bits = BigInt(d.len * 8);
  const num = (v: NftValue): bigint => BigInt(`0x${d.value(v).toString("hex")}`);
  const ranges = values
    .map((v): [bigint, bigint] =>
      typeof v === "object" && "range" in v ? [num(v.range[0]), num(v.range[1])] : [num(v), num(v)],
    )
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const merged: [bigint, bigint][] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1] + 1n) last[1] = r[1] > last[1] ? r[1] : last[1];
    else merged.push([r[0], r[1]]);
  }
  const bytes = (n: bigint): Buffer => Buffer.from(n.toString(16).padStart(d.len * 2, "0"), "hex");
  const out: SetElement[] = [];
  if (merged.length > 0 && merged[0]?.[0] !== 0n) out.push({ key: Buffer.alloc(d.len), intervalEnd: true });
  for (const [a, b] of merged) {
    out.push({ key: bytes(a) });
    if (b + 1n < 1n << bits) out.push({ key: bytes(b + 1n), intervalEnd: true });
  }
  return out;
}

type Statement = NftStatement;
type StatementKind = Statement extends infer S ? (S extends unknown ? keyof S : never) : never;

/** How each statement kind lowers to expressions. */
const STATEMENTS: {
  readonly [K in StatementKind]: (s: Extract<Statement, Record<K, unknown>>, c: RuleContext) => Expr[];
} = {
  match: (s, c) => matchExprs(s.match, c),
  counter: (s) => {
    if (s.counter !== null) throw new Unsupported("a counter with values");
    return [{ kind: "counter" }];
  },
  log: (s) => {
    only(s.log, ["prefix"], "log");
    return [{ kind: "log", prefix: s.log.prefix }];
  },
  mangle: (s) => {
    const { key, value } = s.mangle;
    only(value, ["|", "&"], "mangle");
    if (!("meta" in key) || key.meta.key !== "mark")
      throw new Unsupported("mangle of anything but meta mark");
    const [inner, n] = "|" in value ? value["|"] : value["&"];
    if (!("meta" in inner) || inner.meta.key !== "mark")
      throw new Unsupported("mark mangled from another key");
    // mark | n  ==  (mark & ~n) ^ n;   mark & n  ==  (mark & n) ^ 0
    const [mask, xor] = "|" in value ? [~n, n] : [n, 0];
    return [
      { kind: "meta", key: MetaKey.mark, dreg: REG_1 },
      {
        kind: "bitwise",
        sreg: REG_1,
        dreg: REG_1,
        mask: hostU32(mask),
        xor: hostU32(xor),
        op: BITWISE_MASK_XOR,
      },
      { kind: "meta-set", key: MetaKey.mark, sreg: REG_1 },
    ];
  },
  vmap: (s, c) => {
    const data = s.vmap.data;
    if (!data.startsWith("@")) throw new Unsupported("an anonymous verdict map");
    const k = c.load(s.vmap.key);
    return [...k.exprs, { kind: "lookup", set: data.slice(1), sreg: REG_1, dreg: REG_VERDICT }];
  },
  accept: () => [{ kind: "immediate", verdict: "accept" }],
  drop: () => [{ kind: "immediate", verdict: "drop" }],
  return: () => [{ kind: "immediate", verdict: "return" }],
  jump: (s) => [{ kind: "immediate", verdict: "jump", chain: s.jump.target }],
  goto: (s) => [{ kind: "immediate", verdict: "goto", chain: s.goto.target }],
};

type Match = Extract<Statement, { match: unknown }>["match"];

/** A statement with a field the descriptor does not know is not ours to encode. */
function only(o: object, known: readonly string[], what: string): void {
  // for-in, not Object.keys: this runs for every statement of every rule, and an array per call adds up.
  for (const k in o) if (!known.includes(k)) throw new Unsupported(`${what} with ${k}`);
}

/** A statement's kind: its one key. */
function kindOf(s: object): string | undefined {
  for (const k in s) return k;
  return undefined;
}

function matchExprs(m: Match, c: RuleContext): Expr[] {
  only(m, ["op", "left", "right"], "match");
  const { op, left, right } = m;
  // `ct state { established, related }` style: the bits ORed, tested for any of them being set.
  if (Array.isArray(right)) {
    if (op !== "in" && op !== "==") throw new Unsupported(`a flag list with ${op}`);
    const k = c.load(left);
    if (k.fields.length !== 1 || k.type !== Type.ct_state) throw new Unsupported("a flag list on this key");
    const bits = (right as readonly string[]).reduce((a, s) => a | ctStateBits(s), 0);
    return [
      ...k.exprs,
      { kind: "bitwise", sreg: REG_1, dreg: REG_1, mask: hostU32(bits), xor: hostU32(0) },
      { kind: "cmp", sreg: REG_1, op: CmpOp.neq, data: hostU32(0) },
    ];
  }
  if (op !== "==" && op !== "!=") throw new Unsupported(`a match with ${op}`);
  const invert = op === "!=";
  const k = c.load(left);
  if (typeof right === "string" && right.startsWith("@"))
    return [...k.exprs, { kind: "lookup", set: right.slice(1), sreg: REG_1, ...(invert ? { invert } : {}) }];
  if (typeof right === "object" && "set" in right) {
    const s = c.anonSet(k, right.set);
    return [
      ...k.exprs,
      { kind: "lookup", set: s.name, sreg: REG_1, setId: s.id, ...(invert ? { invert } : {}) },
    ];
  }
  const single = k.fields.length === 1 ? k.fields[0] : undefined;
  if (!single) throw new Unsupported("a concatenation compared with a value");
  if (typeof right === "object" && "range" in right) {
    const [from, to] = right.range.map((v) => single.value(v)) as [Buffer, Buffer];
    if (invert) return [...k.exprs, { kind: "range", sreg: REG_1, op: RangeOp.neq, from, to }];
    return [
      ...k.exprs,
      { kind: "cmp", sreg: REG_1, op: CmpOp.gte, data: from },
      { kind: "cmp", sreg: REG_1, op: CmpOp.lte, data: to },
    ];
  }
  const data = single.value(right as NftValue);
  if (left !== undefined && "meta" in left && left.meta.key === "l4proto" && !invert) c.l4proto = data[0];
  return [...k.exprs, { kind: "cmp", sreg: REG_1, op: invert ? CmpOp.neq : CmpOp.eq, data }];
}

/** The expressions of one rule plus the anonymous sets it needs (NEWSET + elements, before it). */
export function ruleMessages(r: NftRule, tx: Encoder): Request[] {
  const c = new RuleContext(tx, r.table);
  const exprs: Expr[] = [];
  for (const s of r.expr) {
    const kind = kindOf(s) as StatementKind | undefined;
    const lower =
      kind === undefined
        ? undefined
        : (STATEMENTS[kind] as ((s: Statement, c: RuleContext) => Expr[]) | undefined);
    if (!lower) throw new Unsupported(`statement ${JSON.stringify(s)}`);
    exprs.push(...lower(s, c));
  }
  return [
    ...c.anonSets,
    newRule(
      r.family,
      r.table,
      r.chain,
      (w) => {
        for (const e of exprs) encodeExpr(e, w);
      },
      r.comment,
    ),
  ];
}

// ---------------------------------------------------------------------------------------------
// Sets and their elements
// ---------------------------------------------------------------------------------------------

const SET_TYPES: Readonly<Record<string, { type: number; len: number }>> = {
  ipv4_addr: { type: Type.ipv4_addr, len: 4 },
  ipv6_addr: { type: Type.ipv6_addr, len: 16 },
  inet_proto: { type: Type.inet_proto, len: 1 },
  inet_service: { type: Type.inet_service, len: 2 },
  ifname: { type: Type.ifname, len: 16 },
};

function setType(t: string | readonly string[]): { type: number; len: number } {
  const names = typeof t === "string" ? [t] : t;
  const parts = names.map((n) => {
    const p = SET_TYPES[n];
    if (!p) throw new Unsupported(`set type ${n}`);
    return p;
  });
  if (parts.length === 1 && parts[0]) return parts[0];
  return {
    type: parts.reduce((a, p) => (a << TYPE_BITS) | p.type, 0),
    len: parts.reduce((a, p) => a + pad4(p.len), 0),
  };
}

/** An element of one of tortie's named sets: an address or CIDR (interval sets) or `addr . proto . port`. */
function namedElements(e: NftSetElem | readonly [string, NftVerdict]): SetElement[] {
  if (Array.isArray(e)) {
    const [key, v] = e as readonly [string, NftVerdict];
    return [{ key: ifnameValue(key), verdict: verdictOf(v) }];
  }
  const x = e as NftSetElem;
  if (typeof x === "string") return cidrElements(x.includes("/") ? x : `${x}/${x.includes(":") ? 128 : 32}`);
  if (typeof x === "object" && "prefix" in x) return cidrElements(`${x.prefix.addr}/${x.prefix.len}`);
  if (typeof x === "object" && "concat" in x && x.concat.length === 3) {
    const [addr, proto, port] = x.concat as [NftValue, NftValue, NftValue];
    const a = addrBytes(String(scalar(addr, "address")));
    return [{ key: concatKey([a, Buffer.of(protoNumber(proto)), uint(2, true)(port)]) }];
  }
  throw new Unsupported(`set element ${JSON.stringify(x)}`);
}

function verdictOf(v: NftVerdict): { kind: VerdictKind; chain?: string } {
  if ("goto" in v) return { kind: "goto", chain: v.goto.target };
  if ("jump" in v) return { kind: "jump", chain: v.jump.target };
  if ("accept" in v) return { kind: "accept" };
  if ("drop" in v) return { kind: "drop" };
  return { kind: "return" };
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

const MAX_BATCH_BYTES = 3 * 1024 * 1024;

/** One transaction being encoded: set ids are unique within it. */
export class Encoder {
  /** `firstId` - 1: where the transaction's set ids start counting (tests match nft's). */
  constructor(private id = 0) {}
  nextId(): number {
    return ++this.id;
  }
}

function setMessages(s: NftSet, tx: Encoder): Request[] {
  if ((s.family as string) !== "inet") throw new Unsupported(`family ${String(s.family)}`);
  const { type, len } = setType(s.type);
  const interval = (s.flags ?? []).includes("interval");
  if (interval && typeof s.type !== "string") throw new Unsupported("a concatenated interval set");
  const id = tx.nextId();
  const out = [
    newSet({
      family: "inet",
      table: s.table,
      name: s.name,
      flags: interval ? SetFlag.INTERVAL : 0,
      keyType: type,
      keyLen: len,
      id,
    }),
  ];
  const elems = (s.elem ?? []).flatMap(namedElements);
  out.push(...setElements("add", "inet", s.table, s.name, elems, id));
  return out;
}

function commandMessages(cmd: NftCommand, tx: Encoder): Request[] {
  if ("flush" in cmd)
    return [flushChain(cmd.flush.chain.family, cmd.flush.chain.table, cmd.flush.chain.name)];
  if ("add" in cmd) {
    const o = cmd.add;
    if ("rule" in o) return ruleMessages(o.rule, tx);
    if ("element" in o)
      return setElements(
        "add",
        o.element.family,
        o.element.table,
        o.element.name,
        o.element.elem.flatMap(namedElements),
      );
    if ("chain" in o) {
      if (o.chain.hook !== undefined || o.chain.type !== undefined) throw new Unsupported("a base chain");
      return [newChain(o.chain.family, o.chain.table, o.chain.name)];
    }
    if ("set" in o) return setMessages(o.set, tx);
    throw new Unsupported(`add ${Object.keys(o)[0] ?? "?"}`);
  }
  const o = cmd.delete;
  if ("element" in o) {
    const keys = o.element.elem.flatMap((e) =>
      typeof e === "string" && !e.includes(".") && !e.includes(":")
        ? [{ key: ifnameValue(e) }] // a verdict map's key (interface name)
        : namedElements(e),
    );
    return setElements("remove", o.element.family, o.element.table, o.element.name, keys);
  }
  if ("chain" in o) return [delChain(o.chain.family, o.chain.table, o.chain.name)];
  if ("set" in o) return [delSet(o.set.family, o.set.table, o.set.name)];
  throw new Unsupported(`delete ${Object.keys(o)[0] ?? "?"}`);
}

/**
 * The whole document as one nf_tables transaction (BATCH_BEGIN, the messages in the document's
 * order, BATCH_END), or an `Unsupported` error naming the first thing without an encoding.
 */
export function transactionOf(doc: NftDocument, tx = new Encoder()): Request[] {
  const msgs = doc.nftables.flatMap((c) => commandMessages(c, tx));
  // The batch goes in one sendmsg, which the socket's send buffer (4 MiB, core/native) bounds.
  const bytes = msgs.reduce((n, m) => n + 16 + m.payload.length, 0);
  if (bytes > MAX_BATCH_BYTES) throw new Unsupported(`a batch of ${bytes} bytes`);
  return msgs.length === 0 ? [] : [batchBegin(), ...msgs, batchEnd()];
}
