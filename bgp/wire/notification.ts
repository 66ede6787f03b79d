import { CeaseSubcode, ErrorCode, MessageType } from "./constants.js";
import { BgpError } from "./errors.js";
import { frameMessage } from "./header.js";

/** RFC 4271 §4.5. */
export interface NotificationMessage {
  readonly kind: "notification";
  readonly code: number;
  readonly subcode: number;
  readonly data: Buffer;
}

/** RFC 9003 (which raised RFC 8203's 128) caps a shutdown communication at 255 bytes of UTF-8. */
export const MAX_SHUTDOWN_COMMUNICATION = 255;

export function decodeNotification(body: Buffer): NotificationMessage {
  if (body.length < 2) {
    // The framer already refuses this (length < 21); kept for callers decoding bodies directly.
    throw new BgpError(ErrorCode.MESSAGE_HEADER, 2, `NOTIFICATION body is ${body.length} bytes`);
  }
  return {
    kind: "notification",
    code: body[0] ?? 0,
    subcode: body[1] ?? 0,
    data: Buffer.from(body.subarray(2)),
  };
}

export function encodeNotification(n: NotificationMessage): Buffer {
  return frameMessage(MessageType.NOTIFICATION, Buffer.concat([Buffer.from([n.code, n.subcode]), n.data]));
}

/** The NOTIFICATION a BgpError maps to. */
export function notificationFor(err: BgpError): NotificationMessage {
  return { kind: "notification", code: err.code, subcode: err.subcode, data: err.data };
}

/**
 * A Cease (RFC 4486). For Administrative Shutdown and Administrative Reset a `communication`
 * becomes the RFC 8203/9003 shutdown communication: a length octet and UTF-8, truncated at a
 * character boundary to fit 255 bytes.
 */
export function buildCease(subcode: number, communication?: string): NotificationMessage {
  let data = Buffer.alloc(0);
  if (
    communication !== undefined &&
    (subcode === CeaseSubcode.ADMINISTRATIVE_SHUTDOWN || subcode === CeaseSubcode.ADMINISTRATIVE_RESET)
  ) {
    let text = Buffer.from(communication, "utf8");
    if (text.length > MAX_SHUTDOWN_COMMUNICATION) {
      let cut = MAX_SHUTDOWN_COMMUNICATION;
      while (cut > 0 && ((text[cut] ?? 0) & 0xc0) === 0x80) cut--;
      text = text.subarray(0, cut);
    }
    data = Buffer.concat([Buffer.from([text.length]), text]);
  }
  return { kind: "notification", code: ErrorCode.CEASE, subcode, data };
}

/**
 * The shutdown communication of a received Cease, or undefined when there is none or it is
 * malformed (RFC 8203 §4: a bad one is logged and otherwise ignored, never an error).
 */
export function shutdownCommunication(n: NotificationMessage): string | undefined {
  if (n.code !== ErrorCode.CEASE) return undefined;
  if (n.subcode !== CeaseSubcode.ADMINISTRATIVE_SHUTDOWN && n.subcode !== CeaseSubcode.ADMINISTRATIVE_RESET) {
    return undefined;
  }
  const len = n.data[0];
  if (len === undefined || len === 0 || n.data.length < 1 + len) return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(n.data.subarray(1, 1 + len));
  } catch {
    return undefined;
  }
}
