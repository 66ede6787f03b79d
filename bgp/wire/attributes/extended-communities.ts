import { ErrorAction } from "../errors.js";
import { AttrType, type AttributeDescriptor } from "./types.js";
import { nonZeroMultipleOf } from "./util.js";

/** RFC 4360; RFC 7606 §7.14: length not a non-zero multiple of 8 → treat-as-withdraw. */
export const extendedCommunities: AttributeDescriptor = {
  code: AttrType.EXTENDED_COMMUNITIES,
  name: "EXTENDED_COMMUNITIES",
  flags: 0xc0,
  action: ErrorAction.TreatAsWithdraw,
  lengthOk: nonZeroMultipleOf(8),
  decode(v, into) {
    const out: bigint[] = [];
    for (let off = 0; off < v.length; off += 8) out.push(v.readBigUInt64BE(off));
    into.extendedCommunities = out;
    return undefined;
  },
  encode(a) {
    if (!a.extendedCommunities || a.extendedCommunities.length === 0) return null;
    const b = Buffer.allocUnsafe(8 * a.extendedCommunities.length);
    a.extendedCommunities.forEach((c, i) => b.writeBigUInt64BE(BigInt.asUintN(64, c), 8 * i));
    return b;
  },
  format: (a) => a.extendedCommunities?.map((c) => `0x${c.toString(16).padStart(16, "0")}`).join(" "),
};
