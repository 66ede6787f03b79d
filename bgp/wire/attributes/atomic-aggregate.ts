import { ErrorAction } from "../errors.js";
import { AttrType, type AttributeDescriptor } from "./types.js";

/** RFC 4271 §5.1.6; RFC 7606 §7.6: wrong length → attribute-discard. */
export const atomicAggregate: AttributeDescriptor = {
  code: AttrType.ATOMIC_AGGREGATE,
  name: "ATOMIC_AGGREGATE",
  flags: 0x40,
  action: ErrorAction.AttributeDiscard,
  lengthOk: (len) => len === 0,
  decode(_v, into) {
    into.atomicAggregate = true;
    return undefined;
  },
  encode: (a) => (a.atomicAggregate ? Buffer.alloc(0) : null),
  format: (a) => (a.atomicAggregate ? "yes" : undefined),
};
