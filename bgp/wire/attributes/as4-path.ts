import { UpdateSubcode } from "../constants.js";
import { ErrorAction } from "../errors.js";
import { AttrType, type AttributeDescriptor } from "./types.js";
import { decodeAsPath, encodeAsPath, hasFourOctetAs, isConfed } from "./util.js";

/**
 * RFC 6793 §4.2.2/§4.2.3. Only meaningful from an OLD (2-octet) speaker; a NEW speaker must not
 * send it, so on a 4-octet session it is discarded. Malformed → attribute-discard (§7). The merge
 * with AS_PATH happens after all attributes are read (update.ts). Sent only towards an OLD
 * speaker and only when the path holds an AS that does not fit in 2 octets; confederation
 * segments never go in it.
 */
export const as4Path: AttributeDescriptor = {
  code: AttrType.AS4_PATH,
  name: "AS4_PATH",
  flags: 0xc0,
  action: ErrorAction.AttributeDiscard,
  decode(v, into, ctx) {
    if (ctx.asn4)
      return {
        subcode: UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
        reason: "AS4_PATH from a 4-octet AS speaker",
      };
    const path = decodeAsPath(v, 4);
    if (typeof path === "string")
      return { subcode: UpdateSubcode.MALFORMED_AS_PATH, reason: `AS4_PATH: ${path}` };
    into.as4Path = path.filter((s) => !isConfed(s));
    return undefined;
  },
  encode(a, ctx) {
    if (ctx.asn4 || !a.asPath || !hasFourOctetAs(a.asPath)) return null;
    return encodeAsPath(
      a.asPath.filter((s) => !isConfed(s)),
      4,
    );
  },
};
