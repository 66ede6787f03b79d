import type { CapabilityDescriptor, FourOctetAsCapability } from "./types.js";

/** RFC 6793 §3: the speaker's 4-octet AS number. */
export const fourOctetAs: CapabilityDescriptor<FourOctetAsCapability> = {
  code: 65,
  kind: "four-octet-as",
  decode(v) {
    if (v.length !== 4) return `4-octet AS capability length ${v.length}, want 4`;
    return { kind: "four-octet-as", asn: v.readUInt32BE(0) };
  },
  encode(c) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(c.asn >>> 0, 0);
    return b;
  },
};
