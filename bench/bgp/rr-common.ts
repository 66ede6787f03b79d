/** Addresses and prefixes of the reflector fan-out benchmark, shared by its two processes. */

/** Client i: 127.0.1.1 ... 127.0.1.200, then 127.0.2.1 ...; the reflector is 127.0.0.1. */
export function clientAddress(i: number): string {
  return `127.0.${1 + Math.floor(i / 200)}.${1 + (i % 200)}`;
}

export function clientPrefixes(i: number, per: number): string[] {
  const out: string[] = [];
  for (let j = 0; j < per; j++) {
    const a = 0x0a000000 + (i * per + j) * 64;
    out.push(`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/26`);
  }
  return out;
}
