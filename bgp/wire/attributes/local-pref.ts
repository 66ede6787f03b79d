import { ErrorAction } from "../errors.js";
import { AttrType, IGNORE, type AttributeDescriptor } from "./types.js";
import { u32 } from "./util.js";

/**
 * RFC 4271 §5.1.5: from an external peer it is disregarded (RFC 7606 §7.5), and it is never sent
 * to one. Malformed → treat-as-withdraw.
 */
export const localPref: AttributeDescriptor = {
  code: AttrType.LOCAL_PREF,
  name: "LOCAL_PREF",
  flags: 0x40,
  action: ErrorAction.TreatAsWithdraw,
  lengthOk: (len) => len === 4,
  decode(v, into, ctx) {
    if (ctx.ebgp) return IGNORE;
    into.localPref = v.readUInt32BE(0);
    return undefined;
  },
  encode: (a, ctx) => (a.localPref === undefined || ctx.ebgp ? null : u32(a.localPref)),
  format: (a) => a.localPref?.toString(),
};
