import type { CapabilityDescriptor, ExtendedMessageCapability } from "./types.js";

/** RFC 8654 §3: no value. */
export const extendedMessage: CapabilityDescriptor<ExtendedMessageCapability> = {
  code: 6,
  kind: "extended-message",
  decode(v) {
    if (v.length !== 0) return `extended message capability length ${v.length}, want 0`;
    return { kind: "extended-message" };
  },
  encode() {
    return Buffer.alloc(0);
  },
};
