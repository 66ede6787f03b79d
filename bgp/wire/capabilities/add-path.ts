import type { AddPathCapability, AddPathFamily, CapabilityDescriptor } from "./types.js";

/** RFC 7911 §4: AFI (2), SAFI (1), Send/Receive (1) per family. */
export const addPath: CapabilityDescriptor<AddPathCapability> = {
  code: 69,
  kind: "add-path",
  decode(v) {
    if (v.length === 0 || v.length % 4 !== 0) return `ADD-PATH capability length ${v.length}, want 4n`;
    const families: AddPathFamily[] = [];
    for (let off = 0; off < v.length; off += 4) {
      const sr = v[off + 3] ?? 0;
      if (sr !== 1 && sr !== 2 && sr !== 3) return `ADD-PATH Send/Receive value ${sr}`;
      families.push({ afi: v.readUInt16BE(off), safi: v[off + 2] ?? 0, sendReceive: sr });
    }
    return { kind: "add-path", families };
  },
  encode(c) {
    const b = Buffer.alloc(4 * c.families.length);
    c.families.forEach((f, i) => {
      b.writeUInt16BE(f.afi, 4 * i);
      b[2 + 4 * i] = f.safi;
      b[3 + 4 * i] = f.sendReceive;
    });
    return b;
  },
};
