import { afiSafiKey } from "../constants.js";
import { ErrorAction } from "../errors.js";
import { decodePrefixes, NlriSyntaxError } from "../nlri.js";
import { mpProblem, supportedFamily } from "./mp-reach-nlri.js";
import { AttrType, IGNORE, type AttributeDescriptor } from "./types.js";

/** RFC 4760 §4; empty withdrawn routes make it an End-of-RIB marker (RFC 4724 §2). */
export const mpUnreachNlri: AttributeDescriptor = {
  code: AttrType.MP_UNREACH_NLRI,
  name: "MP_UNREACH_NLRI",
  flags: 0x80,
  action: ErrorAction.AfiSafiDisable,
  decode(v, into, ctx) {
    if (v.length < 3) return mpProblem(`MP_UNREACH_NLRI length ${v.length}`);
    const afi = v.readUInt16BE(0);
    const safi = v[2] ?? 0;
    if (!supportedFamily(afi, safi)) return IGNORE;
    const withdrawn = decodePrefixes(afi, v, 3, v.length, ctx.addPathReceive.has(afiSafiKey(afi, safi)));
    if (withdrawn instanceof NlriSyntaxError)
      return mpProblem(`MP_UNREACH_NLRI: ${withdrawn.reason}`, afi, safi);
    into.mpUnreach = { afi, safi, withdrawn };
    return undefined;
  },
  encode(a, ctx) {
    const u = a.mpUnreach;
    if (!u) return null;
    const addPath = ctx.addPathSend.has(afiSafiKey(u.afi, u.safi));
    const b = Buffer.allocUnsafe(3 + u.withdrawn.wireLength(addPath));
    b.writeUInt16BE(u.afi, 0);
    b[2] = u.safi;
    u.withdrawn.write(b, 3, addPath);
    return b;
  },
};
