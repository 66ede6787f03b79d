import { UpdateSubcode } from "../constants.js";
import { ErrorAction } from "../errors.js";
import { AttrType, type AttributeDescriptor } from "./types.js";
import { decodeAsPath, encodeAsPath, formatAsPath } from "./util.js";

/**
 * RFC 4271 §5.1.2 with 2- or 4-octet AS numbers by session (RFC 6793); RFC 7606 §7.2:
 * malformed → treat-as-withdraw.
 */
export const asPath: AttributeDescriptor = {
  code: AttrType.AS_PATH,
  name: "AS_PATH",
  flags: 0x40,
  action: ErrorAction.TreatAsWithdraw,
  decode(v, into, ctx) {
    const path = decodeAsPath(v, ctx.asn4 ? 4 : 2);
    if (typeof path === "string") return { subcode: UpdateSubcode.MALFORMED_AS_PATH, reason: path };
    into.asPath = path;
    return undefined;
  },
  encode: (a, ctx) => (a.asPath === undefined ? null : encodeAsPath(a.asPath, ctx.asn4 ? 4 : 2)),
  format: (a) => (a.asPath === undefined ? undefined : formatAsPath(a.asPath)),
};
