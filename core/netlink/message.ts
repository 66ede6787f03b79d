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

/** Builds an attribute list. */
export class AttrWriter {
  private parts: Buffer[] = [];
  private size = 0;

  raw(type: number, value: Buffer): this {
    const len = 4 + value.length;
    const b = Buffer.alloc((len + 3) & ~3);
    b.writeUInt16LE(len, 0);
    b.writeUInt16LE(type, 2);
    value.copy(b, 4);
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  u32(type: number, v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return this.raw(type, b);
  }

  str(type: number, s: string): this {
    return this.raw(type, Buffer.from(`${s}\0`));
  }

  get length(): number {
    return this.size;
  }

  build(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

export function cString(b: Buffer): string {
  const z = b.indexOf(0);
  return b.toString("utf8", 0, z < 0 ? b.length : z);
}
