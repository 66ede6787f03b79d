import { ErrorAction } from "../errors.js";
import { AttrType, type AttributeDescriptor } from "./types.js";
import { decodeAggregator, encodeAggregator } from "./util.js";

/**
 * RFC 4271 §5.1.7: AS (2 or 4 octets by session, RFC 6793) and IPv4 address. RFC 7606 §7.7:
 * wrong length → attribute-discard.
 */
export const aggregator: AttributeDescriptor = {
  code: AttrType.AGGREGATOR,
  name: "AGGREGATOR",
  flags: 0xc0,
  action: ErrorAction.AttributeDiscard,
  lengthOk: (len, ctx) => len === (ctx.asn4 ? 8 : 6),
  decode(v, into, ctx) {
    into.aggregator = decodeAggregator(v, ctx.asn4 ? 4 : 2);
    return undefined;
  },
  encode: (a, ctx) => (a.aggregator ? encodeAggregator(a.aggregator, ctx.asn4 ? 4 : 2) : null),
  format: (a) => (a.aggregator ? `${a.aggregator.asn} ${a.aggregator.address}` : undefined),
};
