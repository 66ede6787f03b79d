import {
  ErrorCode,
  HEADER_LENGTH,
  HeaderSubcode,
  MAX_EXTENDED_MESSAGE_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  MIN_LENGTH,
  type MessageTypeCode,
} from "./constants.js";
import { BgpError } from "./errors.js";

/** One complete message cut out of the stream: its type and its body (the bytes after the header). */
export interface Frame {
  readonly type: MessageTypeCode;
  /** A view into the received chunk: copy anything kept beyond decoding. */
  readonly body: Buffer;
}

function isMessageType(t: number): t is MessageTypeCode {
  return t >= MessageType.OPEN && t <= MessageType.ROUTE_REFRESH;
}

/**
 * RFC 4271 §6.1 checks of a header at `off` (19 bytes present). Returns the message length.
 * `maxLength` is 4096, or 65535 once Extended Message is negotiated; RFC 8654 §4 keeps OPEN
 * and KEEPALIVE at 4096 regardless.
 */
export function checkHeader(buf: Buffer, off: number, maxLength: number): number {
  for (let i = 0; i < 16; i++) {
    if (buf[off + i] !== 0xff) {
      throw new BgpError(
        ErrorCode.MESSAGE_HEADER,
        HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED,
        "marker is not all ones",
      );
    }
  }
  const length = buf.readUInt16BE(off + 16);
  const type = buf[off + 18] ?? 0;
  const lengthField = buf.subarray(off + 16, off + 18);
  if (!isMessageType(type)) {
    throw new BgpError(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_TYPE,
      `unknown message type ${type}`,
      {
        data: Buffer.from([type]),
      },
    );
  }
  const max = type === MessageType.OPEN || type === MessageType.KEEPALIVE ? MAX_MESSAGE_LENGTH : maxLength;
  if (
    length < MIN_LENGTH[type] ||
    length > max ||
    (type === MessageType.KEEPALIVE && length !== HEADER_LENGTH)
  ) {
    throw new BgpError(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_LENGTH,
      `length ${length} is not valid for message type ${type} (maximum ${max})`,
      { data: lengthField },
    );
  }
  return length;
}

/** Writes the header in front of a body: marker, length, type. */
export function frameMessage(type: MessageTypeCode, body: Buffer | readonly Buffer[]): Buffer {
  const parts = Buffer.isBuffer(body) ? [body] : body;
  let bodyLength = 0;
  for (const p of parts) bodyLength += p.length;
  const out = Buffer.allocUnsafe(HEADER_LENGTH + bodyLength);
  out.fill(0xff, 0, 16);
  out.writeUInt16BE(HEADER_LENGTH + bodyLength, 16);
  out[18] = type;
  let off = HEADER_LENGTH;
  for (const p of parts) {
    p.copy(out, off);
    off += p.length;
  }
  return out;
}

/**
 * Cuts a TCP byte stream into BGP messages. Pure and incremental: `push` any chunk, split at any
 * byte, and get back every message it completes. Bytes are only copied when a message spans
 * chunks, and then once (chunks are gathered until the message is whole, so a 64 KB message fed
 * a byte at a time costs O(n), not O(n²)).
 *
 * After it throws, the stream is out of sync: the caller sends `notificationFor(err)` and closes.
 */
export class Framer {
  private maxLength = MAX_MESSAGE_LENGTH;
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** Bytes needed before looking again: a header, or the whole message once the header is known. */
  private need = HEADER_LENGTH;
  private failed: BgpError | undefined;

  /** RFC 8654: call once both sides advertised Extended Message. */
  setExtendedMessage(on: boolean): void {
    this.maxLength = on ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH;
  }

  /** Bytes received but not yet part of a complete message. */
  get buffered(): number {
    return this.pendingLength;
  }

  push(chunk: Buffer): Frame[] {
    if (this.failed) throw this.failed;
    const out: Frame[] = [];
    if (chunk.length === 0) return out;
    let buf: Buffer;
    if (this.pendingLength === 0) {
      buf = chunk;
    } else {
      this.pending.push(chunk);
      this.pendingLength += chunk.length;
      if (this.pendingLength < this.need) return out;
      buf = Buffer.concat(this.pending, this.pendingLength);
      this.pending = [];
      this.pendingLength = 0;
    }
    let off = 0;
    try {
      while (buf.length - off >= HEADER_LENGTH) {
        const length = checkHeader(buf, off, this.maxLength);
        if (buf.length - off < length) {
          this.need = length;
          break;
        }
        out.push({
          type: buf[off + 18] as MessageTypeCode,
          body: buf.subarray(off + HEADER_LENGTH, off + length),
        });
        off += length;
        this.need = HEADER_LENGTH;
      }
    } catch (e) {
      if (e instanceof BgpError) this.failed = e;
      throw e;
    }
    if (off < buf.length) {
      // Copy the tail: keeping a view would pin the whole (possibly 64 KB) chunk.
      const rest = Buffer.from(buf.subarray(off));
      this.pending = [rest];
      this.pendingLength = rest.length;
      if (rest.length < HEADER_LENGTH) this.need = HEADER_LENGTH;
    }
    return out;
  }
}
