import { Afi, afiSafiKey, Safi, UpdateSubcode, type AfiCode } from "../constants.js";
import { ErrorAction } from "../errors.js";
import { decodePrefixes, NlriSyntaxError } from "../nlri.js";
import { ipv4ToString, ipv6ToString, parseIpv6 } from "../reader.js";
import { AttrType, IGNORE, type AttributeDescriptor, type AttributeProblem } from "./types.js";
import { ipv4Bytes } from "./util.js";

/** The families whose NLRI we can parse: IPv4 and IPv6, unicast and multicast (same encoding). */
export function supportedFamily(afi: number, safi: number): afi is AfiCode {
  return (afi === Afi.IPV4 || afi === Afi.IPV6) && (safi === Safi.UNICAST || safi === Safi.MULTICAST);
}

export function mpProblem(reason: string, afi?: number, safi?: number): AttributeProblem {
  // RFC 4760 §7 names the NOTIFICATION; RFC 7606 §7.11: AFI/SAFI disable when the family is
  // known, else session reset.
  return afi === undefined
    ? { subcode: UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, reason, action: ErrorAction.SessionReset }
    : {
        subcode: UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
        reason,
        action: ErrorAction.AfiSafiDisable,
        afi,
        safi,
      };
}

/**
 * RFC 4760 §3. Next hop: 4 octets for IPv4; 16 (global) or 32 (global + link-local) for IPv6
 * (RFC 2545 §3). A family we do not parse is ignored, as RFC 4760 lets a speaker that did not
 * advertise it.
 */
export const mpReachNlri: AttributeDescriptor = {
  code: AttrType.MP_REACH_NLRI,
  name: "MP_REACH_NLRI",
  flags: 0x80,
  action: ErrorAction.AfiSafiDisable,
  decode(v, into, ctx) {
    if (v.length < 3) return mpProblem(`MP_REACH_NLRI length ${v.length}`);
    const afi = v.readUInt16BE(0);
    const safi = v[2] ?? 0;
    if (!supportedFamily(afi, safi)) return IGNORE;
    if (v.length < 5) return mpProblem(`MP_REACH_NLRI length ${v.length}`, afi, safi);
    const nhLen = v[3] ?? 0;
    const okLen = afi === Afi.IPV4 ? nhLen === 4 : nhLen === 16 || nhLen === 32;
    if (!okLen) return mpProblem(`next hop length ${nhLen} for AFI ${afi}`, afi, safi);
    if (v.length < 5 + nhLen) return mpProblem("next hop overruns the attribute", afi, safi);
    const nextHop: string[] = [];
    if (afi === Afi.IPV4) nextHop.push(ipv4ToString(v.readUInt32BE(4)));
    else for (let off = 4; off < 4 + nhLen; off += 16) nextHop.push(ipv6ToString(v, off));
    // The octet after the next hop is Reserved (RFC 4760; SNPAs in RFC 2858): ignored.
    const nlri = decodePrefixes(afi, v, 5 + nhLen, v.length, ctx.addPathReceive.has(afiSafiKey(afi, safi)));
    if (nlri instanceof NlriSyntaxError) return mpProblem(`MP_REACH_NLRI: ${nlri.reason}`, afi, safi);
    into.mpReach = { afi, safi, nextHop, nlri };
    return undefined;
  },
  encode(a, ctx) {
    const r = a.mpReach;
    if (!r) return null;
    const addPath = ctx.addPathSend.has(afiSafiKey(r.afi, r.safi));
    const hops = r.nextHop.map((h) => {
      if (r.afi === Afi.IPV4) return ipv4Bytes(h, "MP_REACH_NLRI next hop");
      const b = parseIpv6(h);
      if (!b) throw new RangeError(`MP_REACH_NLRI next hop ${JSON.stringify(h)} is not an IPv6 address`);
      return b;
    });
    const nh = Buffer.concat(hops);
    const b = Buffer.allocUnsafe(5 + nh.length + r.nlri.wireLength(addPath));
    b.writeUInt16BE(r.afi, 0);
    b[2] = r.safi;
    b[3] = nh.length;
    nh.copy(b, 4);
    b[4 + nh.length] = 0;
    r.nlri.write(b, 5 + nh.length, addPath);
    return b;
  },
};
