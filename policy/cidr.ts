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

/** Sorted, merged (overlapping or adjacent joined) intervals of one family. */
export function normalise(ivs: readonly Interval[]): Interval[] {
  const sorted = [...ivs].sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
  const out: Interval[] = [];
  for (const iv of sorted) {
    const last = out[out.length - 1];
    if (last && iv.lo <= last.hi + 1n) {
      if (iv.hi > last.hi) out[out.length - 1] = { family: last.family, lo: last.lo, hi: iv.hi };
    } else out.push(iv);
  }
  return out;
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

export function intervalsToCidrs(ivs: readonly Interval[]): Cidr[] {
  return normalise(ivs).flatMap(toPrefixes);
}

export function contains(ivs: readonly Interval[], family: Family, value: bigint): boolean {
  return ivs.some((iv) => iv.family === family && iv.lo <= value && value <= iv.hi);
}
