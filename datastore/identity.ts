import type { FieldProblem } from "../core/errors.js";
import { KINDS, apiVersionOf, type KindName } from "./kinds.js";
import type { StoredObject } from "./types.js";

/** `IPPool default-ipv4` or `Pod default/web-0`: how errors name an object. */
export function objectRef(kind: KindName, name: string, namespace?: string): string {
  return `${KINDS[kind].kind} ${namespace ? `${namespace}/` : ""}${name}`;
}

export function refOf(kind: KindName, obj: StoredObject): string {
  return objectRef(kind, obj.metadata?.name ?? "<unnamed>", obj.metadata?.namespace);
}

const NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** The identity checks every kind shares: apiVersion/kind, a DNS-1123 name, namespace by scope. */
export function checkIdentity(kind: KindName, obj: StoredObject): FieldProblem[] {
  const info = KINDS[kind];
  const object = refOf(kind, obj);
  const problems: FieldProblem[] = [];
  const p = (path: string, message: string) => problems.push({ object, path, message });
  if (obj.apiVersion !== apiVersionOf(info)) p("apiVersion", `must be ${apiVersionOf(info)}`);
  if (obj.kind !== info.kind) p("kind", `must be ${info.kind}`);
  const meta = obj.metadata as unknown;
  if (typeof meta !== "object" || meta === null) {
    p("metadata", "is required");
    return problems;
  }
  const name = obj.metadata.name as unknown;
  if (typeof name !== "string" || name === "") p("metadata.name", "is required");
  else if (name.length > 253 || !NAME_RE.test(name))
    p("metadata.name", `"${name}" is not a DNS-1123 subdomain (lower-case letters, digits, '-', '.')`);
  const ns = obj.metadata.namespace as unknown;
  if (info.namespaced) {
    if (typeof ns !== "string" || ns === "") p("metadata.namespace", `is required for ${info.kind}`);
    else if (!NAME_RE.test(ns)) p("metadata.namespace", `"${ns}" is not a DNS-1123 label`);
  } else if (ns !== undefined && ns !== "") {
    p("metadata.namespace", `${info.kind} is cluster-scoped: remove the namespace`);
  }
  return problems;
}
