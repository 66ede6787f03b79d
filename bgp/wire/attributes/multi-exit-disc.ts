import { ErrorAction } from "../errors.js";
import { AttrType, type AttributeDescriptor } from "./types.js";
import { u32 } from "./util.js";

/** RFC 4271 §5.1.4; RFC 7606 §7.4: malformed → treat-as-withdraw. */
export const multiExitDisc: AttributeDescriptor = {
  code: AttrType.MULTI_EXIT_DISC,
  name: "MULTI_EXIT_DISC",
  flags: 0x80,
  action: ErrorAction.TreatAsWithdraw,
  lengthOk: (len) => len === 4,
  decode(v, into) {
    into.med = v.readUInt32BE(0);
    return undefined;
  },
  encode: (a) => (a.med === undefined ? null : u32(a.med)),
  format: (a) => a.med?.toString(),
};
