import ipaddr from "ipaddr.js";

/** Address family: the blocks, pools and routes of each are kept apart everywhere. */
export type Family = 4 | 6;

/**
 * A CIDR as numbers: addresses are bigints so IPv4 and IPv6 share one arithmetic
 * (block ordinals, containment, the n-th block of a pool).
 */
export interface Cidr {
  readonly family: Family;
  /** The network address (host bits zero). */
  readonly base: bigint;
  readonly prefix: number;
}

export function familyBits(f: Family): number {
  return f === 4 ? 32 : 128;
}

export function parseAddr(s: string): { family: Family; value: bigint } {
  if (!ipaddr.isValid(s)) throw new Error(`not an IP address: ${JSON.stringify(s)}`);
  const a = ipaddr.parse(s);
  const family: Family = a.kind() === "ipv4" ? 4 : 6;
  let value = 0n;
  for (const b of a.toByteArray()) value = (value << 8n) | BigInt(b);
  return { family, value };
}

export function formatAddr(family: Family, value: bigint): string {
  const bytes: number[] = [];
  const n = family === 4 ? 4 : 16;
  for (let i = n - 1; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

/** Parses `a.b.c.d/n` or `x::/n`; host bits must be zero unless `loose`, when they are masked off. */
export function parseCidr(s: string, loose = false): Cidr {
  const slash = s.indexOf("/");
  if (slash < 0) throw new Error(`not a CIDR (no prefix length): ${JSON.stringify(s)}`);
  const { family, value } = parseAddr(s.slice(0, slash));
  const lenText = s.slice(slash + 1);
  const prefix = Number(lenText);
  if (!/^\d+$/.test(lenText) || prefix > familyBits(family))
    throw new Error(`bad prefix length in ${JSON.stringify(s)}`);
  const host = hostMask(family, prefix);
  if ((value & host) !== 0n && !loose)
    throw new Error(
      `${s} has host bits set (did you mean ${formatCidr({ family, base: value & ~host, prefix })}?)`,
    );
  return { family, base: value & ~host & fullMask(family), prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatAddr(c.family, c.base)}/${c.prefix}`;
}

function fullMask(f: Family): bigint {
  return (1n << BigInt(familyBits(f))) - 1n;
}

function hostMask(f: Family, prefix: number): bigint {
  return (1n << BigInt(familyBits(f) - prefix)) - 1n;
}

export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(familyBits(c.family) - c.prefix);
}

export function cidrContains(c: Cidr, family: Family, value: bigint): boolean {
  return c.family === family && value >= c.base && value < c.base + cidrSize(c);
}

/** True when the two CIDRs share at least one address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  return a.base < b.base + cidrSize(b) && b.base < a.base + cidrSize(a);
}

/** The CIDR of the given prefix length (`blockSize`) that holds `value`. */
export function enclosing(family: Family, value: bigint, prefix: number): Cidr {
  return { family, base: value & ~hostMask(family, prefix) & fullMask(family), prefix };
}

/** The address as the single-host CIDR a pod gets: /32 or /128. */
export function hostCidr(family: Family, value: bigint): string {
  return `${formatAddr(family, value)}/${familyBits(family)}`;
}
