import ipaddr from "ipaddr.js";

/**
 * Address conversions on the route programming hot path (100k routes per
 * sync): IPv4 by hand, character by character (ipaddr.js costs tens of
 * microseconds per call, a regular expression a few); IPv6 through ipaddr.js.
 */

/**
 * Dotted-quad IPv4 text from `start` to `end` as an unsigned 32-bit number; -1 when it is not
 * one (IPv6, junk, an octet over 255). `canonical` is cleared when an octet has a leading zero.
 */
function parseV4(s: string, start: number, end: number, out: { canonical: boolean }): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 1 && octet === 0) out.canonical = false;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46 && digits > 0 && dots < 3) {
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

const v4Bytes = (v: number): Buffer => {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
};

export function addrBytes(s: string): Buffer {
  const v = parseV4(s, 0, s.length, { canonical: true });
  if (v >= 0) return v4Bytes(v);
  if (!s.includes(":")) throw new Error(`invalid IPv4 address ${s}`);
  return Buffer.from(ipaddr.IPv6.parse(s).toByteArray());
}

export function addrString(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  return ipaddr.fromByteArray([...b]).toString();
}

const PREFIX_LEN = /^\d{1,3}$/;

/** Parses `addr/len` into its bytes with host bits cleared; throws on anything else. */
export function parseCidr(cidr: string): { bytes: Buffer; len: number; v6: boolean } {
  const p = parseCidrFast(cidr);
  return { bytes: p.bytes, len: p.len, v6: p.bytes.length === 16 };
}

/** parseCidr, and whether the text already is the canonical form (IPv4 only; IPv6 says false). */
function parseCidrFast(cidr: string): { bytes: Buffer; len: number; canonical: boolean } {
  const slash = cidr.indexOf("/");
  if (slash < 0) throw new Error(`${cidr} is not a CIDR`);
  const lenText = cidr.slice(slash + 1);
  const len = Number(lenText);
  if (!PREFIX_LEN.test(lenText)) throw new Error(`${cidr} has a bad prefix length`);
  const flags = { canonical: lenText.length === 1 || lenText[0] !== "0" };
  const v = parseV4(cidr, 0, slash, flags);
  if (v >= 0) {
    if (len > 32) throw new Error(`${cidr} has a bad prefix length`);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    const net = (v & mask) >>> 0;
    return { bytes: v4Bytes(net), len, canonical: flags.canonical && net === v };
  }
  const bytes = addrBytes(cidr.slice(0, slash));
  if (len > bytes.length * 8) throw new Error(`${cidr} has a bad prefix length`);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    bytes[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return { bytes, len, canonical: false };
}

/** Canonical CIDR: host bits cleared, the address in its shortest form. */
export function canonicalCidr(cidr: string): string {
  const p = parseCidrFast(cidr);
  // Most callers pass canonical IPv4 already: keep their string rather than build another.
  return p.canonical ? cidr : `${addrString(p.bytes)}/${p.len}`;
}
