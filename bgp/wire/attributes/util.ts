import { AS_TRANS, UpdateSubcode } from "../constants.js";
import { ipv4ToString, parseIpv4 } from "../reader.js";
import {
  AsSegmentType,
  type Aggregator,
  type AsPath,
  type AsPathSegment,
  type AttributeProblem,
} from "./types.js";

export function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

export function ipv4Bytes(s: string, what: string): Buffer {
  const n = parseIpv4(s);
  if (n === undefined) throw new RangeError(`${what} ${JSON.stringify(s)} is not an IPv4 address`);
  return u32(n);
}

export function lengthProblem(name: string, len: number): AttributeProblem {
  return { subcode: UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, reason: `${name} length ${len}` };
}

const segmentTypes: ReadonlySet<number> = new Set(Object.values(AsSegmentType));

/** Decodes AS_PATH / AS4_PATH segments with `asSize`-octet AS numbers; a string says why not. */
export function decodeAsPath(v: Buffer, asSize: 2 | 4): AsPath | string {
  const out: AsPathSegment[] = [];
  for (let off = 0; off < v.length;) {
    if (v.length - off < 2) return "segment header is cut short";
    const type = v[off] ?? 0;
    const count = v[off + 1] ?? 0;
    if (!segmentTypes.has(type)) return `segment type ${type}`;
    if (count === 0) return "empty segment";
    off += 2;
    if (v.length - off < count * asSize) return `segment of ${count} AS numbers overruns the attribute`;
    const asns: number[] = new Array<number>(count);
    for (let i = 0; i < count; i++)
      asns[i] = asSize === 4 ? v.readUInt32BE(off + 4 * i) : v.readUInt16BE(off + 2 * i);
    off += count * asSize;
    out.push({ type: type as AsSegmentType, asns });
  }
  return out;
}

/** Encodes segments, splitting any longer than 255; 2-octet encoding maps 4-octet ASes to AS_TRANS. */
export function encodeAsPath(path: AsPath, asSize: 2 | 4): Buffer {
  const parts: Buffer[] = [];
  for (const seg of path) {
    for (let i = 0; i < seg.asns.length; i += 255) {
      const chunk = seg.asns.slice(i, i + 255);
      const b = Buffer.allocUnsafe(2 + chunk.length * asSize);
      b[0] = seg.type;
      b[1] = chunk.length;
      chunk.forEach((asn, j) => {
        if (asSize === 4) b.writeUInt32BE(asn >>> 0, 2 + 4 * j);
        else b.writeUInt16BE(asn > 0xffff ? AS_TRANS : asn, 2 + 2 * j);
      });
      parts.push(b);
    }
  }
  return Buffer.concat(parts);
}

export function isConfed(seg: AsPathSegment): boolean {
  return seg.type === AsSegmentType.AS_CONFED_SEQUENCE || seg.type === AsSegmentType.AS_CONFED_SET;
}

export function hasFourOctetAs(path: AsPath | undefined): boolean {
  return (path ?? []).some((s) => s.asns.some((a) => a > 0xffff));
}

export function formatAsPath(path: AsPath): string {
  return path
    .map((s) => {
      const xs = s.asns.join(" ");
      switch (s.type) {
        case AsSegmentType.AS_SEQUENCE:
          return xs;
        case AsSegmentType.AS_SET:
          return `{${s.asns.join(",")}}`;
        case AsSegmentType.AS_CONFED_SEQUENCE:
          return `(${xs})`;
        case AsSegmentType.AS_CONFED_SET:
          return `[${s.asns.join(",")}]`;
      }
    })
    .join(" ");
}

export function decodeAggregator(v: Buffer, asSize: 2 | 4): Aggregator {
  const asn = asSize === 4 ? v.readUInt32BE(0) : v.readUInt16BE(0);
  return { asn, address: ipv4ToString(v.readUInt32BE(asSize)) };
}

export function encodeAggregator(a: Aggregator, asSize: 2 | 4): Buffer {
  const b = Buffer.allocUnsafe(asSize + 4);
  if (asSize === 4) b.writeUInt32BE(a.asn >>> 0, 0);
  else b.writeUInt16BE(a.asn > 0xffff ? AS_TRANS : a.asn, 0);
  ipv4Bytes(a.address, "AGGREGATOR address").copy(b, asSize);
  return b;
}

/** A non-zero multiple of `unit` (RFC 7606's wording for list attributes). */
export function nonZeroMultipleOf(unit: number): (len: number) => boolean {
  return (len) => len > 0 && len % unit === 0;
}
