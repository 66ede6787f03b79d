import { Afi, type AfiCode } from "./constants.js";
import { ipv4ToString, ipv6ToString, parseIpv4, parseIpv6 } from "./reader.js";

/** A prefix as people write it, with its RFC 7911 Path Identifier when ADD-PATH is in use. */
export interface PrefixEntry {
  readonly prefix: string;
  readonly pathId?: number;
}

const TWO_32 = 2 ** 32;

/**
 * The prefixes of one UPDATE field (withdrawn routes, NLRI, or an MP attribute's NLRI), held in
 * typed arrays rather than one object per prefix: a 4096-byte UPDATE of /26s holds ~800 of them
 * and a full feed a million. IPv4 uses one 32-bit word per prefix, IPv6 four.
 * Host bits beyond the prefix length are cleared on decode, so equal prefixes compare equal.
 */
export class Prefixes {
  private constructor(
    readonly afi: AfiCode,
    readonly count: number,
    readonly lengths: Uint8Array,
    readonly words: Uint32Array,
    readonly pathIds: Uint32Array | null,
  ) {}

  static empty(afi: AfiCode): Prefixes {
    return new Prefixes(afi, 0, new Uint8Array(0), new Uint32Array(0), null);
  }

  /** Wraps arrays the caller filled (the decoder and benchmarks); `words` per the class comment. */
  static fromArrays(
    afi: AfiCode,
    lengths: Uint8Array,
    words: Uint32Array,
    pathIds: Uint32Array | null,
  ): Prefixes {
    const wordsPer = afi === Afi.IPV4 ? 1 : 4;
    if (words.length !== lengths.length * wordsPer || (pathIds && pathIds.length !== lengths.length)) {
      throw new RangeError("Prefixes.fromArrays: array lengths disagree");
    }
    return new Prefixes(afi, lengths.length, lengths, words, pathIds);
  }

  /** Parses "10.0.0.0/24" or "2001:db8::/32" (or entries with path ids); throws RangeError on bad input. */
  static from(afi: AfiCode, entries: readonly (string | PrefixEntry)[]): Prefixes {
    const n = entries.length;
    const wordsPer = afi === Afi.IPV4 ? 1 : 4;
    const lengths = new Uint8Array(n);
    const words = new Uint32Array(n * wordsPer);
    const withIds = entries.some((e) => typeof e !== "string" && e.pathId !== undefined);
    const pathIds = withIds ? new Uint32Array(n) : null;
    entries.forEach((e, i) => {
      const text = typeof e === "string" ? e : e.prefix;
      const slash = text.indexOf("/");
      const len = Number(text.slice(slash + 1));
      const max = afi === Afi.IPV4 ? 32 : 128;
      if (
        slash < 0 ||
        !Number.isInteger(len) ||
        len < 0 ||
        len > max ||
        !/^\d+$/.test(text.slice(slash + 1))
      ) {
        throw new RangeError(`bad prefix ${JSON.stringify(text)}`);
      }
      lengths[i] = len;
      if (afi === Afi.IPV4) {
        const a = parseIpv4(text.slice(0, slash));
        if (a === undefined) throw new RangeError(`bad IPv4 prefix ${JSON.stringify(text)}`);
        words[i] = maskV4(a, len);
      } else {
        const b = parseIpv6(text.slice(0, slash));
        if (!b) throw new RangeError(`bad IPv6 prefix ${JSON.stringify(text)}`);
        for (let w = 0; w < 4; w++) words[i * 4 + w] = maskWord(b.readUInt32BE(w * 4), len - w * 32);
      }
      if (pathIds && typeof e !== "string") pathIds[i] = e.pathId ?? 0;
    });
    return new Prefixes(afi, n, lengths, words, pathIds);
  }

  length(i: number): number {
    return this.lengths[i] ?? 0;
  }

  /** IPv4 only: the address as an unsigned 32-bit number. */
  ipv4(i: number): number {
    return this.words[i] ?? 0;
  }

  pathId(i: number): number | undefined {
    return this.pathIds ? this.pathIds[i] : undefined;
  }

  /**
   * A compact key that is equal exactly when the prefixes are: for IPv4 the number
   * `length * 2^32 + address` (no string, no object); for IPv6 the text form.
   */
  key(i: number): number | string {
    if (this.afi === Afi.IPV4) return (this.lengths[i] ?? 0) * TWO_32 + (this.words[i] ?? 0);
    return this.prefix(i);
  }

  prefix(i: number): string {
    const len = this.lengths[i] ?? 0;
    if (this.afi === Afi.IPV4) return `${ipv4ToString(this.words[i] ?? 0)}/${len}`;
    const b = Buffer.alloc(16);
    for (let w = 0; w < 4; w++) b.writeUInt32BE(this.words[i * 4 + w] ?? 0, w * 4);
    return `${ipv6ToString(b)}/${len}`;
  }

  toArray(): PrefixEntry[] {
    const out: PrefixEntry[] = [];
    for (let i = 0; i < this.count; i++) {
      const id = this.pathId(i);
      out.push(id === undefined ? { prefix: this.prefix(i) } : { prefix: this.prefix(i), pathId: id });
    }
    return out;
  }

  toJSON(): PrefixEntry[] {
    return this.toArray();
  }

  /** Bytes this set takes on the wire, with or without path ids. */
  wireLength(addPath: boolean): number {
    let n = addPath ? 5 * this.count : this.count;
    for (let i = 0; i < this.count; i++) n += ((this.lengths[i] ?? 0) + 7) >>> 3;
    return n;
  }

  /** Writes prefixes [from, to) at `off`; returns the new offset. */
  write(buf: Buffer, off: number, addPath: boolean, from = 0, to = this.count): number {
    const v4 = this.afi === Afi.IPV4;
    for (let i = from; i < to; i++) {
      if (addPath) {
        buf.writeUInt32BE(this.pathIds ? (this.pathIds[i] ?? 0) : 0, off);
        off += 4;
      }
      const len = this.lengths[i] ?? 0;
      buf[off++] = len;
      const nbytes = (len + 7) >>> 3;
      for (let b = 0; b < nbytes; b++) {
        const word = v4 ? (this.words[i] ?? 0) : (this.words[i * 4 + (b >>> 2)] ?? 0);
        buf[off++] = (word >>> (24 - 8 * (b & 3))) & 255;
      }
    }
    return off;
  }

  /** Bytes prefix i takes on the wire. */
  entryLength(i: number, addPath: boolean): number {
    return (addPath ? 5 : 1) + (((this.lengths[i] ?? 0) + 7) >>> 3);
  }

  /** Prefixes [from, to) as their own set (copies). */
  slice(from: number, to: number): Prefixes {
    const wp = this.afi === Afi.IPV4 ? 1 : 4;
    return new Prefixes(
      this.afi,
      to - from,
      this.lengths.slice(from, to),
      this.words.slice(from * wp, to * wp),
      this.pathIds ? this.pathIds.slice(from, to) : null,
    );
  }
}

function maskWord(w: number, bits: number): number {
  if (bits >= 32) return w >>> 0;
  if (bits <= 0) return 0;
  return (w & ~(0xffffffff >>> bits)) >>> 0;
}
const maskV4 = maskWord;

/** Why a field of prefixes does not parse. */
export class NlriSyntaxError {
  constructor(readonly reason: string) {}
}

/**
 * Decodes the prefixes in buf[start, end). Two passes: count (and validate), then fill typed
 * arrays, so nothing is allocated per prefix. Returns NlriSyntaxError instead of throwing so each
 * caller maps it to its own NOTIFICATION (Invalid Network Field, or an MP attribute error).
 */
export function decodePrefixes(
  afi: AfiCode,
  buf: Buffer,
  start: number,
  end: number,
  addPath: boolean,
): Prefixes | NlriSyntaxError {
  const max = afi === Afi.IPV4 ? 32 : 128;
  const head = addPath ? 5 : 1;
  let n = 0;
  for (let off = start; off < end;) {
    if (end - off < head) return new NlriSyntaxError(`prefix at byte ${off - start} is cut short`);
    const len = buf[off + head - 1] ?? 0;
    if (len > max) return new NlriSyntaxError(`prefix length ${len} exceeds ${max}`);
    off += head + ((len + 7) >>> 3);
    if (off > end) return new NlriSyntaxError(`prefix /${len} overruns the field`);
    n++;
  }
  if (n === 0) return Prefixes.empty(afi);
  const lengths = new Uint8Array(n);
  const v4 = afi === Afi.IPV4;
  const words = new Uint32Array(v4 ? n : n * 4);
  const pathIds = addPath ? new Uint32Array(n) : null;
  let off = start;
  for (let i = 0; i < n; i++) {
    if (pathIds) {
      pathIds[i] = buf.readUInt32BE(off);
      off += 4;
    }
    const len = buf[off++] ?? 0;
    lengths[i] = len;
    const nbytes = (len + 7) >>> 3;
    if (v4) {
      let w = 0;
      for (let b = 0; b < 4; b++) w = (w << 8) | (b < nbytes ? (buf[off + b] ?? 0) : 0);
      words[i] = maskWord(w, len);
    } else {
      for (let q = 0; q < 4; q++) {
        let w = 0;
        for (let b = 0; b < 4; b++) {
          const k = q * 4 + b;
          w = (w << 8) | (k < nbytes ? (buf[off + k] ?? 0) : 0);
        }
        words[i * 4 + q] = maskWord(w, len - q * 32);
      }
    }
    off += nbytes;
  }
  return Prefixes.fromArrays(afi, lengths, words, pathIds);
}
