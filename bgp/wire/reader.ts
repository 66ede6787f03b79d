import ipaddr from "ipaddr.js";

/** Small helpers over Buffers shared by the decoders and encoders. */

export function ipv4ToString(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Parses dotted-quad IPv4; returns undefined for anything else. */
export function parseIpv4(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function ipv6ToString(b: Uint8Array, off = 0): string {
  return new ipaddr.IPv6(Array.from(b.subarray(off, off + 16))).toRFC5952String();
}

/** Parses an IPv6 address into 16 bytes; undefined for anything else (IPv4 included). */
export function parseIpv6(s: string): Buffer | undefined {
  if (!ipaddr.IPv6.isValid(s) || s.includes("%")) return undefined;
  return Buffer.from(ipaddr.IPv6.parse(s).toByteArray());
}
