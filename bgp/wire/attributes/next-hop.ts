import { UpdateSubcode } from "../constants.js";
import { ErrorAction } from "../errors.js";
import { ipv4ToString } from "../reader.js";
import { AttrType, type AttributeDescriptor } from "./types.js";
import { ipv4Bytes } from "./util.js";

/**
 * RFC 4271 §5.1.3; RFC 7606 §7.3: malformed → treat-as-withdraw. Syntactically invalid here means
 * 0.0.0.0, a multicast (224/4) or the broadcast address; the session checks semantics (e.g. that
 * it is not our own address).
 */
export const nextHop: AttributeDescriptor = {
  code: AttrType.NEXT_HOP,
  name: "NEXT_HOP",
  flags: 0x40,
  action: ErrorAction.TreatAsWithdraw,
  lengthOk: (len) => len === 4,
  decode(v, into) {
    const n = v.readUInt32BE(0);
    if (n === 0 || n >>> 28 === 0xe || n === 0xffffffff) {
      return { subcode: UpdateSubcode.INVALID_NEXT_HOP_ATTRIBUTE, reason: `NEXT_HOP ${ipv4ToString(n)}` };
    }
    into.nextHop = ipv4ToString(n);
    return undefined;
  },
  encode: (a) => (a.nextHop === undefined ? null : ipv4Bytes(a.nextHop, "NEXT_HOP")),
  format: (a) => a.nextHop,
};
