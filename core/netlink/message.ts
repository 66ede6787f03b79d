/** Netlink framing (RFC 3549; linux/netlink.h): message headers, attributes, errors. Host byte order. */

export const NLMSG_HDRLEN = 16;

export const NlMsgType = { NOOP: 1, ERROR: 2, DONE: 3, OVERRUN: 4 } as const;

export const NlFlags = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP: 0x300,
  REPLACE: 0x100,
  EXCL: 0x200,
  CREATE: 0x400,
  APPEND: 0x800,
} as const;

export interface NlMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  /** The bytes after the header. */
  readonly payload: Buffer;
}

/** Splits a buffer of back-to-back netlink messages. */
export function* messages(buf: Buffer): Generator<NlMessage> {
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) return;
    yield {
      type: buf.readUInt16LE(off + 4),
      flags: buf.readUInt16LE(off + 6),
      seq: buf.readUInt32LE(off + 8),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    };
    off += (len + 3) & ~3;
  }
}

const ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  12: "ENOMEM",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  22: "EINVAL",
  95: "EOPNOTSUPP",
  101: "ENETUNREACH",
  105: "ENOBUFS",
};

export class NetlinkError extends Error {
  constructor(
    readonly errno: number,
    readonly detail?: string,
  ) {
    super(`${ERRNO_NAMES[errno] ?? `errno ${errno}`}${detail ? `: ${detail}` : ""}`);
    this.name = "NetlinkError";
  }
  get code(): string {
    return ERRNO_NAMES[this.errno] ?? `E${this.errno}`;
  }
}

const NLMSGERR_ATTR_MSG = 1;

/** The error of an NLMSG_ERROR message, or undefined for an ack (error 0). */
export function decodeError(m: NlMessage): NetlinkError | undefined {
  const code = m.payload.readInt32LE(0);
  if (code === 0) return undefined;
  // With NETLINK_CAP_ACK the refused request is echoed as its header only; extended-ack attributes follow.
  const attrs = m.payload.subarray(4 + NLMSG_HDRLEN);
  let detail: string | undefined;
  if (m.flags & 0x200 /* NLM_F_ACK_TLVS */) {
    for (const a of attributes(attrs)) if (a.type === NLMSGERR_ATTR_MSG) detail = cString(a.value);
  }
  return new NetlinkError(-code, detail);
}

export interface Attribute {
  readonly type: number;
  readonly value: Buffer;
}

/** rtattr / nlattr: u16 length, u16 type (low 14 bits), value, padded to 4. */
export function* attributes(buf: Buffer): Generator<Attribute> {
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) return;
    yield { type: buf.readUInt16LE(off + 2) & 0x3fff, value: buf.subarray(off + 4, off + len) };
    off += (len + 3) & ~3;
  }
}

export function attrMap(buf: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const a of attributes(buf)) m.set(a.type, a.value);
  return m;
}

/** Set in a nested attribute's type. */
export const NLA_F_NESTED = 0x8000;

/**
 * Builds an attribute list in one growing buffer, a nested attribute closed by patching its length,
 * and copies it out once: a rule or route is dozens of small attributes, and a Buffer each (and a
 * copy per nesting level) was most of the incremental path's garbage. `build()` starts it over, so
 * a writer can be kept and reused.
 */
export class AttrWriter {
  private buf: Buffer;
  private len = 0;

  constructor(capacity = 256) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  private room(n: number): number {
    if (this.len + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  /** A header of `n` value bytes at a 4-byte boundary; returns where the value goes. */
  private attr(type: number, n: number): number {
    const at = this.room((4 + n + 3) & ~3);
    this.buf.writeUInt16LE(4 + n, at);
    this.buf.writeUInt16LE(type, at + 2);
    this.buf.fill(0, at + 4 + n, this.len);
    return at + 4;
  }

  // Every write takes its position first and only then reads `this.buf`: `room` may have replaced
  // the buffer, and `x.copy(this.buf, this.room(n))` would write into the old one (JavaScript
  // evaluates `this.buf` before the call), leaving the bytes unset in the message sent.

  /** Bytes without an attribute header (a message's fixed header before its attributes). */
  put(bytes: Buffer): this {
    const at = this.room(bytes.length);
    bytes.copy(this.buf, at);
    return this;
  }

  raw(type: number, value: Buffer): this {
    const at = this.attr(type, value.length);
    value.copy(this.buf, at);
    return this;
  }

  u32(type: number, v: number): this {
    const at = this.attr(type, 4);
    this.buf.writeUInt32LE(v >>> 0, at);
    return this;
  }

  /** Network byte order (nf_tables' registers, lengths and ids). */
  u32be(type: number, v: number): this {
    const at = this.attr(type, 4);
    this.buf.writeUInt32BE(v >>> 0, at);
    return this;
  }

  /** NUL-terminated. */
  str(type: number, s: string): this {
    const n = Buffer.byteLength(s);
    const at = this.attr(type, n + 1);
    this.buf.write(s, at);
    this.buf[at + n] = 0;
    return this;
  }

  /** Opens a nested attribute; `end` with the returned position closes it. */
  begin(type: number): number {
    const at = this.room(4);
    this.buf.writeUInt16LE(type | NLA_F_NESTED, at + 2);
    return at;
  }

  end(at: number): this {
    this.buf.writeUInt16LE(this.len - at, at);
    return this;
  }

  get length(): number {
    return this.len;
  }

  build(): Buffer {
    const out = Buffer.allocUnsafe(this.len);
    this.buf.copy(out, 0, 0, this.len);
    this.len = 0;
    return out;
  }
}

export function cString(b: Buffer): string {
  const z = b.indexOf(0);
  return b.toString("utf8", 0, z < 0 ? b.length : z);
}
