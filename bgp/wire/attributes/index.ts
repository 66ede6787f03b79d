import { aggregator } from "./aggregator.js";
import { as4Aggregator } from "./as4-aggregator.js";
import { as4Path } from "./as4-path.js";
import { asPath } from "./as-path.js";
import { atomicAggregate } from "./atomic-aggregate.js";
import { clusterList } from "./cluster-list.js";
import { communities } from "./communities.js";
import { extendedCommunities } from "./extended-communities.js";
import { largeCommunity } from "./large-community.js";
import { localPref } from "./local-pref.js";
import { mpReachNlri } from "./mp-reach-nlri.js";
import { mpUnreachNlri } from "./mp-unreach-nlri.js";
import { multiExitDisc } from "./multi-exit-disc.js";
import { nextHop } from "./next-hop.js";
import { originatorId } from "./originator-id.js";
import { origin } from "./origin.js";
import type { AttributeDescriptor, PathAttributes } from "./types.js";

export * from "./types.js";
export { formatAsPath } from "./util.js";

/** The attribute table, in type-code order (the order attributes are sent in). */
export const attributeTable: readonly AttributeDescriptor[] = [
  origin,
  asPath,
  nextHop,
  multiExitDisc,
  localPref,
  atomicAggregate,
  aggregator,
  communities,
  originatorId,
  clusterList,
  mpReachNlri,
  mpUnreachNlri,
  extendedCommunities,
  as4Path,
  as4Aggregator,
  largeCommunity,
];

/** Descriptors indexed by type code (undefined for codes we do not implement). */
export const attributeByCode: readonly (AttributeDescriptor | undefined)[] = (() => {
  const t = new Array<AttributeDescriptor | undefined>(256).fill(undefined);
  for (const d of attributeTable) t[d.code] = d;
  return t;
})();

/** Name → human value of each attribute present, for logs and `tortie bgp routes`. */
export function formatAttributes(a: PathAttributes): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of attributeTable) {
    const s = d.format?.(a);
    if (s !== undefined) out[d.name] = s;
  }
  for (const u of a.unknown ?? []) out[`ATTR_${u.code}`] = u.value.toString("hex");
  return out;
}
