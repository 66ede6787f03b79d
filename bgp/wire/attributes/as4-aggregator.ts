import { UpdateSubcode } from "../constants.js";
import { ErrorAction } from "../errors.js";
import { AttrType, type AttributeDescriptor } from "./types.js";
import { decodeAggregator, encodeAggregator } from "./util.js";

/** RFC 6793: the 4-octet AGGREGATOR beside an AGGREGATOR carrying AS_TRANS. Malformed → attribute-discard. */
export const as4Aggregator: AttributeDescriptor = {
  code: AttrType.AS4_AGGREGATOR,
  name: "AS4_AGGREGATOR",
  flags: 0xc0,
  action: ErrorAction.AttributeDiscard,
  lengthOk: (len) => len === 8,
  decode(v, into, ctx) {
    if (ctx.asn4) {
      return {
        subcode: UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
        reason: "AS4_AGGREGATOR from a 4-octet AS speaker",
      };
    }
    into.as4Aggregator = decodeAggregator(v, 4);
    return undefined;
  },
  encode: (a, ctx) =>
    !ctx.asn4 && a.aggregator && a.aggregator.asn > 0xffff ? encodeAggregator(a.aggregator, 4) : null,
};
