import { ErrorAction } from "../errors.js";
import { AttrType, type AttributeDescriptor } from "./types.js";
import { nonZeroMultipleOf } from "./util.js";

/** RFC 1997; RFC 7606 §7.8: length not a non-zero multiple of 4 → treat-as-withdraw. */
export const communities: AttributeDescriptor = {
  code: AttrType.COMMUNITIES,
  name: "COMMUNITIES",
  flags: 0xc0,
  action: ErrorAction.TreatAsWithdraw,
  lengthOk: nonZeroMultipleOf(4),
  decode(v, into) {
    const out: number[] = [];
    for (let off = 0; off < v.length; off += 4) out.push(v.readUInt32BE(off));
    into.communities = out;
    return undefined;
  },
  encode(a) {
    if (!a.communities || a.communities.length === 0) return null;
    const b = Buffer.allocUnsafe(4 * a.communities.length);
    a.communities.forEach((c, i) => b.writeUInt32BE(c >>> 0, 4 * i));
    return b;
  },
  format: (a) => a.communities?.map((c) => `${c >>> 16}:${c & 0xffff}`).join(" "),
};
