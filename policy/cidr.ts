/**
 * Address arithmetic for the compiler: canonical CIDRs, interval subtraction (ipBlock.except,
 * notNets) and the minimal prefix cover that interval sets load without overlaps.
 */
import ipaddr from "ipaddr.js";
import type { Cidr, Family } from "./ir.js";

export interface Interval {
  readonly family: Family;
  /** Inclusive bounds. */
  readonly lo: bigint;
  readonly hi: bigint;
}

const bits = (f: Family): number => (f === 4 ? 32 : 128);

function toBig(addr: ipaddr.IPv4 | ipaddr.IPv6): bigint {
  let v = 0n;
  for (const b of addr.toByteArray()) v = (v << 8n) | BigInt(b);
  return v;
}

function fromBig(v: bigint, f: Family): string {
  if (f === 4) {
    const n = Number(v);
    return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  }
  const n = bits(f) / 8;
  const bytes: number[] = [];
  for (let i = 0; i < n; i++) bytes.unshift(Number((v >> BigInt(8 * i)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

type Parsed = { readonly family: Family; readonly value: bigint; readonly text: string };
const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
/** Dotted decimal as written canonically: parsed without ipaddr.js, to the same value and text. */
const V4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
/**
 * A cluster's addresses are parsed over and over (every set a pod is in, every change): the answers
 * are kept, up to a bound so a long-running agent does not grow without limit.
 */
const parsed = new Map<string, Parsed | null>();
const PARSED_MAX = 1 << 20;

/** Parses an address (no prefix); IPv4-mapped IPv6 stays IPv6. Returns null when invalid. */
export function parseAddr(text: string): Parsed | null {
  let r = parsed.get(text);
  if (r === undefined) {
    r = parseAddrUncached(text);
    if (parsed.size >= PARSED_MAX) parsed.clear();
    parsed.set(text, r);
  }
  return r;
}

function parseAddrUncached(text: string): Parsed | null {
  const m = V4.exec(text);
  if (m) {
    const v = ((Number(m[1]) << 24) >>> 0) + (Number(m[2]) << 16) + (Number(m[3]) << 8) + Number(m[4]);
    return { family: 4, value: BigInt(v), text };
  }
  if (!ipaddr.isValid(text)) return null;
  if (ipaddr.IPv4.isValid(text) && !ipaddr.IPv4.isValidFourPartDecimal(text)) return null;
  const a = ipaddr.parse(text);
  const family: Family = a.kind() === "ipv4" ? 4 : 6;
  return { family, value: toBig(a), text: a.toString() };
}

/**
 * Parses `a.b.c.d/n` or `x::/n`. Host bits may be set: the network is what counts, as Kubernetes
 * and Calico treat it. Returns null when invalid.
 */
export function parseCidr(text: string): Interval | null {
  const slash = text.indexOf("/");
  if (slash < 0) return null;
  const addr = parseAddr(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (addr === null || !/^\d{1,3}$/.test(lenText)) return null;
  const len = Number(lenText);
  const width = bits(addr.family);
  if (len > width) return null;
  const hostBits = BigInt(width - len);
  const lo = (addr.value >> hostBits) << hostBits;
  return { family: addr.family, lo, hi: lo + (1n << hostBits) - 1n };
}

export function canonicalCidr(text: string): Cidr | null {
  const iv = parseCidr(text);
  return iv === null ? null : (toPrefixes(iv)[0] ?? null);
}

export function addrInterval(text: string): Interval | null {
  const a = parseAddr(text);
  return a === null ? null : { family: a.family, lo: a.value, hi: a.value };
}

const byLo = (a: Interval, b: Interval): number => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0);

/**
 * Whether `b`, starting no earlier than `a`, overlaps or touches it. IPv4 compares in doubles
 * (exact): `a.hi + 1n` allocates a BigInt, and merging a selection of every pod of a cluster did
 * that ten thousand times per set.
 */
function joins(a: Interval, b: Interval): boolean {
  return a.family === 4 ? Number(b.lo) <= Number(a.hi) + 1 : b.lo <= a.hi + 1n;
}

/** Sorted, merged (overlapping or adjacent joined) intervals of one family. */
export function normalise(ivs: readonly Interval[]): Interval[] {
  // Sets are mostly built from lists that are already normal (a selection's merged members): a
  // linear check spares them the sort.
  if (isNormal(ivs)) return [...ivs];
  return mergeSorted(isSorted(ivs) ? ivs : [...ivs].sort(byLo));
}

/**
 * Sorted intervals merged: one interval per run of joined ones, and an interval that joins nothing
 * is the caller's object, not a copy.
 */
function mergeSorted(sorted: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  for (let i = 0; i < sorted.length;) {
    const first = sorted[i] as Interval;
    let last = first;
    let j = i + 1;
    for (; j < sorted.length; j++) {
      const next = sorted[j] as Interval;
      if (!joins(last, next)) break;
      if (next.hi > last.hi) last = next;
    }
    out.push(last === first ? first : { family: first.family, lo: first.lo, hi: last.hi });
    i = j;
  }
  return out;
}

/** Sorted, and each interval ends at least one address before the next begins. */
function isNormal(ivs: readonly Interval[]): boolean {
  for (let i = 1; i < ivs.length; i++) if (joins(ivs[i - 1] as Interval, ivs[i] as Interval)) return false;
  return true;
}

function isSorted(ivs: readonly Interval[]): boolean {
  for (let i = 1; i < ivs.length; i++)
    if ((ivs[i] as Interval).lo < (ivs[i - 1] as Interval).lo) return false;
  return true;
}

/**
 * The union of interval lists of one family. Lists that are already normal (the usual case: a
 * set's fixed part and its selections' merged members) are interleaved in one linear pass each
 * instead of a sort of everything.
 */
export function union(lists: readonly (readonly Interval[])[]): Interval[] {
  let acc: Interval[] = [];
  for (const l of lists) {
    const b = normalise(l);
    if (acc.length === 0) {
      acc = b;
      continue;
    }
    if (b.length === 0) continue;
    const interleaved: Interval[] = [];
    let i = 0;
    let j = 0;
    while (i < acc.length && j < b.length) {
      const x = acc[i] as Interval;
      const y = b[j] as Interval;
      if (x.lo <= y.lo) {
        interleaved.push(x);
        i++;
      } else {
        interleaved.push(y);
        j++;
      }
    }
    while (i < acc.length) interleaved.push(acc[i++] as Interval);
    while (j < b.length) interleaved.push(b[j++] as Interval);
    acc = mergeSorted(interleaved);
  }
  return acc;
}

/** `from` less every interval of `minus` (same family). */
export function subtract(from: readonly Interval[], minus: readonly Interval[]): Interval[] {
  let cur = normalise(from);
  for (const m of normalise(minus)) {
    const next: Interval[] = [];
    for (const iv of cur) {
      if (m.hi < iv.lo || m.lo > iv.hi) {
        next.push(iv);
        continue;
      }
      if (m.lo > iv.lo) next.push({ family: iv.family, lo: iv.lo, hi: m.lo - 1n });
      if (m.hi < iv.hi) next.push({ family: iv.family, lo: m.hi + 1n, hi: iv.hi });
    }
    cur = next;
  }
  return cur;
}

/** The fewest CIDR prefixes covering exactly one interval. */
export function toPrefixes(iv: Interval): Cidr[] {
  if (iv.family === 4) return toPrefixes4(Number(iv.lo), Number(iv.hi));
  const width = bits(iv.family);
  const out: Cidr[] = [];
  let lo = iv.lo;
  while (lo <= iv.hi) {
    let size = 0;
    while (size < width) {
      const next = size + 1;
      const block = 1n << BigInt(next);
      if (lo % block !== 0n || lo + block - 1n > iv.hi) break;
      size = next;
    }
    out.push(`${fromBig(lo, iv.family)}/${width - size}`);
    lo += 1n << BigInt(size);
  }
  return out;
}

/**
 * IPv4 in doubles (exact below 2^53): a set of 10,000 pod addresses is 10,000 calls, and BigInt
 * arithmetic made this the largest part of building a node's sets. Each prefix is as large as both
 * the start's alignment (its trailing zero bits) and the remaining span allow.
 */
function toPrefixes4(lo: number, hi: number): Cidr[] {
  const out: Cidr[] = [];
  while (lo <= hi) {
    const align = lo === 0 ? 32 : 31 - Math.clz32(lo & -lo);
    const span = hi - lo + 1;
    const fits = span >= 2 ** 32 ? 32 : 31 - Math.clz32(span);
    const size = Math.min(align, fits);
    out.push(prefix4Text(lo, 32 - size));
    lo += 2 ** size;
  }
  return out;
}

/**
 * The same pod addresses are formatted for every set and every build: one string each, kept (up to
 * a bound), so a rebuilt set neither allocates them again nor makes the renderer hash new strings.
 */
const prefix4Texts = new Map<number, Cidr>();
const PREFIX4_TEXTS_MAX = 1 << 18;

function prefix4Text(lo: number, len: number): Cidr {
  const k = lo * 64 + len;
  let t = prefix4Texts.get(k);
  if (t === undefined) {
    t = `${(lo >>> 24) & 255}.${(lo >>> 16) & 255}.${(lo >>> 8) & 255}.${lo & 255}/${len}`;
    if (prefix4Texts.size >= PREFIX4_TEXTS_MAX) prefix4Texts.clear();
    prefix4Texts.set(k, t);
  }
  return t;
}

export function intervalsToCidrs(ivs: readonly Interval[]): Cidr[] {
  return normalise(ivs).flatMap(toPrefixes);
}

export function contains(ivs: readonly Interval[], family: Family, value: bigint): boolean {
  return ivs.some((iv) => iv.family === family && iv.lo <= value && value <= iv.hi);
}
