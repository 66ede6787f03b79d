import { MessageType } from "./constants.js";
import { frameMessage } from "./header.js";

/** RFC 4271 §4.4: a header alone. */
export interface KeepaliveMessage {
  readonly kind: "keepalive";
}

const KEEPALIVE = frameMessage(MessageType.KEEPALIVE, Buffer.alloc(0));

export function encodeKeepalive(): Buffer {
  // A fresh copy: callers may hand it to a socket that keeps it.
  return Buffer.from(KEEPALIVE);
}
