import type { CapabilityDescriptor, GracefulRestartCapability, GracefulRestartFamily } from "./types.js";

/** RFC 4724 §3 (N bit from RFC 8538): flags+time (2), then AFI (2), SAFI (1), flags (1) per family. */
export const gracefulRestart: CapabilityDescriptor<GracefulRestartCapability> = {
  code: 64,
  kind: "graceful-restart",
  decode(v) {
    if (v.length < 2 || (v.length - 2) % 4 !== 0) {
      return `graceful restart capability length ${v.length}, want 2 + 4n`;
    }
    const head = v.readUInt16BE(0);
    const families: GracefulRestartFamily[] = [];
    for (let off = 2; off < v.length; off += 4) {
      families.push({
        afi: v.readUInt16BE(off),
        safi: v[off + 2] ?? 0,
        forwardingState: ((v[off + 3] ?? 0) & 0x80) !== 0,
      });
    }
    return {
      kind: "graceful-restart",
      restartState: (head & 0x8000) !== 0,
      notification: (head & 0x4000) !== 0,
      restartTime: head & 0x0fff,
      families,
    };
  },
  encode(c) {
    const b = Buffer.alloc(2 + 4 * c.families.length);
    b.writeUInt16BE(
      (c.restartState ? 0x8000 : 0) | (c.notification ? 0x4000 : 0) | (c.restartTime & 0x0fff),
      0,
    );
    c.families.forEach((f, i) => {
      b.writeUInt16BE(f.afi, 2 + 4 * i);
      b[4 + 4 * i] = f.safi;
      b[5 + 4 * i] = f.forwardingState ? 0x80 : 0;
    });
    return b;
  },
};
