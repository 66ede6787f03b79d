import ipaddr from "ipaddr.js";

/**
 * A prefix as a compact map key. IPv4 keys are numbers (length * 2^32 + address,
 * the same key bgp/wire's Prefixes.key gives), so a million-route table holds no
 * per-route strings; IPv6 keys are the canonical "addr/len" text. Both families
 * share one Map per table.
 */
export type PrefixKey = number | string;
export type Afi = "ipv4" | "ipv6";

const TWO_32 = 2 ** 32;

export function afiOf(k: PrefixKey): Afi {
  return typeof k === "number" ? "ipv4" : "ipv6";
}

export function ipv4Key(addr: number, len: number): number {
  return len * TWO_32 + (addr >>> 0);
}

export function ipv4KeyParts(k: number): { addr: number; len: number } {
  return { addr: k % TWO_32, len: Math.floor(k / TWO_32) };
}

export function ipv6Key(bytes: Uint8Array, len: number): string {
  const full = new Uint8Array(16);
  full.set(bytes.subarray(0, Math.ceil(len / 8)));
  return `${ipaddr.fromByteArray(Array.from(full)).toString()}/${len}`;
}

export type ParsedPrefix = { readonly key: PrefixKey } | { readonly error: string };

/** Parses "a.b.c.d/n" or "x::/n" into a key; host bits must be zero. */
export function parsePrefix(text: string): ParsedPrefix {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(text);
  } catch {
    return { error: `${JSON.stringify(text)} is not a prefix (want a.b.c.d/n or x::/n)` };
  }
  const [addr, len] = parsed;
  const bytes = addr.toByteArray();
  for (let bit = len; bit < bytes.length * 8; bit++) {
    if (((bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) {
      return { error: `${text} has host bits set (did you mean ${networkOf(addr, len)}?)` };
    }
  }
  if (addr.kind() === "ipv4") {
    const b = bytes;
    return {
      key: ipv4Key((((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0, len),
    };
  }
  return { key: ipv6Key(Uint8Array.from(bytes), len) };
}

function networkOf(addr: ipaddr.IPv4 | ipaddr.IPv6, len: number): string {
  const bytes = addr.toByteArray();
  for (let bit = len; bit < bytes.length * 8; bit++)
    bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) & ~(1 << (7 - (bit & 7)));
  return `${ipaddr.fromByteArray(bytes).toString()}/${len}`;
}

export function formatPrefix(k: PrefixKey): string {
  if (typeof k === "string") return k;
  const { addr, len } = ipv4KeyParts(k);
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}/${len}`;
}

/** The prefix's address bytes, only as many as its length needs (NLRI encoding, RFC 4271 §4.3). */
export function prefixBytes(k: PrefixKey): { len: number; bytes: Uint8Array } {
  if (typeof k === "number") {
    const { addr, len } = ipv4KeyParts(k);
    const all = Uint8Array.of(addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255);
    return { len, bytes: all.subarray(0, Math.ceil(len / 8)) };
  }
  const [addr, len] = ipaddr.parseCIDR(k);
  return { len, bytes: Uint8Array.from(addr.toByteArray()).subarray(0, Math.ceil(len / 8)) };
}
