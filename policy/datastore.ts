/**
 * policy/'s checks for the datastore: a policy, network set or tier written through tortie (`tortie lab
 * apply`, a file datastore's manifests) is refused with every field error `tortie policy validate`
 * gives, before anything is stored, instead of being stored and then skipped by every agent.
 */
import type { FieldProblem } from "../core/errors.js";
import { type PolicyKind, setPolicyValidator } from "../datastore/validate.js";
import { parseObject } from "./state.js";
import { validateNetworkSet, validatePolicy, validateTier } from "./validate.js";

export function datastoreObjectProblems(kind: PolicyKind, obj: unknown): FieldProblem[] {
  if (kind === "EndpointSlice") return [...parseObject(obj).problems];
  if (kind === "Tier") {
    const t = validateTier(obj);
    return t.ok ? [] : [...t.problems];
  }
  const r =
    kind === "NetworkSet" || kind === "GlobalNetworkSet" ? validateNetworkSet(obj) : validatePolicy(obj);
  return r.ok ? [] : [...r.problems];
}

/** Plugs the checks into every datastore of this process (the command groups that open one call it). */
export function checkPolicyObjectsInDatastores(): void {
  setPolicyValidator(datastoreObjectProblems);
}
