import { ErrorAction } from "../errors.js";
import { ipv4ToString } from "../reader.js";
import { AttrType, type AttributeDescriptor } from "./types.js";
import { ipv4Bytes, nonZeroMultipleOf } from "./util.js";

/** RFC 4456 §8; RFC 7606 §7.10: length not a non-zero multiple of 4 → treat-as-withdraw; from an eBGP peer it is discarded. */
export const clusterList: AttributeDescriptor = {
  code: AttrType.CLUSTER_LIST,
  name: "CLUSTER_LIST",
  flags: 0x80,
  action: ErrorAction.TreatAsWithdraw,
  ebgpDiscard: true,
  lengthOk: nonZeroMultipleOf(4),
  decode(v, into) {
    const out: string[] = [];
    for (let off = 0; off < v.length; off += 4) out.push(ipv4ToString(v.readUInt32BE(off)));
    into.clusterList = out;
    return undefined;
  },
  encode: (a) =>
    a.clusterList && a.clusterList.length > 0
      ? Buffer.concat(a.clusterList.map((c) => ipv4Bytes(c, "CLUSTER_LIST entry")))
      : null,
  format: (a) => a.clusterList?.join(" "),
};
