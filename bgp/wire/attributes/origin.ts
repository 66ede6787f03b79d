import { UpdateSubcode } from "../constants.js";
import { ErrorAction } from "../errors.js";
import { AttrType, Origin, type AttributeDescriptor } from "./types.js";

const names = ["IGP", "EGP", "INCOMPLETE"] as const;

/** RFC 4271 §5.1.1; RFC 7606 §7.1: malformed → treat-as-withdraw. */
export const origin: AttributeDescriptor = {
  code: AttrType.ORIGIN,
  name: "ORIGIN",
  flags: 0x40,
  action: ErrorAction.TreatAsWithdraw,
  lengthOk: (len) => len === 1,
  decode(v, into) {
    const o = v[0] ?? 0;
    if (o > Origin.INCOMPLETE)
      return { subcode: UpdateSubcode.INVALID_ORIGIN_ATTRIBUTE, reason: `ORIGIN value ${o}` };
    into.origin = o as Origin;
    return undefined;
  },
  encode: (a) => (a.origin === undefined ? null : Buffer.from([a.origin])),
  format: (a) => (a.origin === undefined ? undefined : names[a.origin]),
};
