import { ErrorAction } from "../errors.js";
import { ipv4ToString } from "../reader.js";
import { AttrType, type AttributeDescriptor } from "./types.js";
import { ipv4Bytes } from "./util.js";

/** RFC 4456 §8; RFC 7606 §7.9: malformed → treat-as-withdraw; from an eBGP peer it is discarded. */
export const originatorId: AttributeDescriptor = {
  code: AttrType.ORIGINATOR_ID,
  name: "ORIGINATOR_ID",
  flags: 0x80,
  action: ErrorAction.TreatAsWithdraw,
  ebgpDiscard: true,
  lengthOk: (len) => len === 4,
  decode(v, into) {
    into.originatorId = ipv4ToString(v.readUInt32BE(0));
    return undefined;
  },
  encode: (a) => (a.originatorId === undefined ? null : ipv4Bytes(a.originatorId, "ORIGINATOR_ID")),
  format: (a) => a.originatorId,
};
