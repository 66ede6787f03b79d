import type { CapabilityDescriptor, MultiprotocolCapability } from "./types.js";

/** RFC 4760 §8: AFI (2), reserved (1), SAFI (1). */
export const multiprotocol: CapabilityDescriptor<MultiprotocolCapability> = {
  code: 1,
  kind: "multiprotocol",
  decode(v) {
    if (v.length !== 4) return `multiprotocol capability length ${v.length}, want 4`;
    return { kind: "multiprotocol", afi: v.readUInt16BE(0), safi: v[3] ?? 0 };
  },
  encode(c) {
    const b = Buffer.alloc(4);
    b.writeUInt16BE(c.afi, 0);
    b[3] = c.safi;
    return b;
  },
};
