import { ErrorAction } from "../errors.js";
import { AttrType, type AttributeDescriptor, type LargeCommunity } from "./types.js";
import { nonZeroMultipleOf } from "./util.js";

/** RFC 8092 §6: length not a non-zero multiple of 12 → treat-as-withdraw. */
export const largeCommunity: AttributeDescriptor = {
  code: AttrType.LARGE_COMMUNITY,
  name: "LARGE_COMMUNITY",
  flags: 0xc0,
  action: ErrorAction.TreatAsWithdraw,
  lengthOk: nonZeroMultipleOf(12),
  decode(v, into) {
    const out: LargeCommunity[] = [];
    for (let off = 0; off < v.length; off += 12) {
      out.push({
        globalAdmin: v.readUInt32BE(off),
        localData1: v.readUInt32BE(off + 4),
        localData2: v.readUInt32BE(off + 8),
      });
    }
    into.largeCommunities = out;
    return undefined;
  },
  encode(a) {
    if (!a.largeCommunities || a.largeCommunities.length === 0) return null;
    const b = Buffer.allocUnsafe(12 * a.largeCommunities.length);
    a.largeCommunities.forEach((c, i) => {
      b.writeUInt32BE(c.globalAdmin >>> 0, 12 * i);
      b.writeUInt32BE(c.localData1 >>> 0, 12 * i + 4);
      b.writeUInt32BE(c.localData2 >>> 0, 12 * i + 8);
    });
    return b;
  },
  format: (a) => a.largeCommunities?.map((c) => `${c.globalAdmin}:${c.localData1}:${c.localData2}`).join(" "),
};
