import { UserError, ValidationError } from "../core/errors.js";
import { TORTIE_API_VERSION, kindOf, type KindName } from "./kinds.js";
import type { StoredObject } from "./types.js";
import { validateObject } from "./validate.js";

export const CALICO_API_VERSION = "projectcalico.org/v3";
/** Set on an object that came in as a Calico manifest, so `tortie` can say where it came from. */
export const CONVERTED_FROM = "tortie.io/converted-from";

/** Calico v3 kinds whose manifests tortie takes as they are. Our schemas use Calico's field names. */
const CALICO_KINDS = new Set([
  "IPPool",
  "IPReservation",
  "BGPPeer",
  "BGPConfiguration",
  "BGPFilter",
  "NetworkPolicy",
  "GlobalNetworkPolicy",
  "NetworkSet",
  "GlobalNetworkSet",
  "Tier",
]);

/** Calico's deprecated IPPool fields, folded into the current ones as calicoctl does. */
function upgradeCalicoIPPool(spec: Record<string, unknown>): Record<string, unknown> {
  const out = { ...spec };
  const ipip = out.ipip as { enabled?: boolean; mode?: string } | undefined;
  if (ipip && out.ipipMode === undefined)
    out.ipipMode = ipip.enabled === false ? "Never" : ipip.mode === "cross-subnet" ? "CrossSubnet" : "Always";
  delete out.ipip;
  if (out["nat-outgoing"] !== undefined && out.natOutgoing === undefined)
    out.natOutgoing = out["nat-outgoing"];
  delete out["nat-outgoing"];
  return out;
}

/**
 * Turns a manifest document (ours, Kubernetes', or Calico's projectcalico.org/v3)
 * into a validated object of a tortie kind. Throws UserError for an unknown
 * kind and ValidationError naming every bad field.
 */
export function decodeManifest(doc: unknown, where: string): { kind: KindName; object: StoredObject } {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    throw new UserError(`${where}: a manifest must be an object with apiVersion and kind`);
  let obj = doc as StoredObject;
  if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string")
    throw new UserError(`${where}: a manifest needs apiVersion and kind`);
  if (obj.apiVersion === CALICO_API_VERSION && CALICO_KINDS.has(obj.kind)) {
    const metadata = obj.metadata as StoredObject["metadata"] | undefined;
    obj = {
      ...obj,
      apiVersion: TORTIE_API_VERSION,
      metadata: {
        ...metadata,
        annotations: { ...metadata?.annotations, [CONVERTED_FROM]: CALICO_API_VERSION },
      } as StoredObject["metadata"],
    };
    if (obj.kind === "IPPool" && typeof obj.spec === "object" && obj.spec !== null)
      obj.spec = upgradeCalicoIPPool(obj.spec as Record<string, unknown>);
  }
  const kind = kindOf(obj.apiVersion, obj.kind);
  if (!kind) throw new UserError(`${where}: tortie does not store ${obj.apiVersion} ${obj.kind}`);
  const problems = validateObject(kind, obj);
  if (problems.length > 0) throw new ValidationError(problems);
  return { kind, object: obj };
}
