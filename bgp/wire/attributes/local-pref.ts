import { ErrorAction } from "../errors.js";
import { AttrType, type AttributeDescriptor } from "./types.js";
import { u32 } from "./util.js";

/**
 * RFC 4271 §5.1.5: from an external peer it is discarded whatever its shape (RFC 7606 §7.5), and
 * it is never sent to one. From an internal peer, malformed → treat-as-withdraw.
 */
export const localPref: AttributeDescriptor = {
  code: AttrType.LOCAL_PREF,
  name: "LOCAL_PREF",
  flags: 0x40,
  action: ErrorAction.TreatAsWithdraw,
  ebgpDiscard: true,
  lengthOk: (len) => len === 4,
  decode(v, into) {
    into.localPref = v.readUInt32BE(0);
    return undefined;
  },
  encode: (a) => (a.localPref === undefined ? null : u32(a.localPref)),
  format: (a) => a.localPref?.toString(),
};
