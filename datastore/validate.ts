import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import ipaddr from "ipaddr.js";
import type { FieldProblem } from "../core/errors.js";
import { KINDS, type KindName } from "./kinds.js";
import { forAjv, type JsonSchema } from "./schema/builder.js";
import { SCHEMAS } from "./schema/resources.js";
import { checkIdentity, refOf } from "./identity.js";
import type { StoredObject } from "./types.js";

/**
 * Validation of every kind from its schema (ajv), plus the few checks a schema
 * cannot say (an IPv4 pool's block size), plus one hook for policy/: the
 * policy kinds get only their structure checked here, their meaning there.
 */

export function isIp(s: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(s) || ipaddr.IPv6.isValid(s);
}

export function isCidr(s: string): boolean {
  return ipaddr.IPv4.isValidCIDRFourPartDecimal(s) || ipaddr.IPv6.isValidCIDR(s);
}

/** The object schema of a kind, as ajv checks it and as a CRD's openAPIV3Schema states it. */
export function objectSchema(kind: KindName): JsonSchema {
  const info = KINDS[kind];
  const sch: { spec: { json: JsonSchema }; status?: { json: JsonSchema }; specOptional?: boolean } =
    SCHEMAS[kind];
  const properties: Record<string, JsonSchema> = {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { type: "object" },
    spec: sch.spec.json,
  };
  if (sch.status) properties.status = sch.status.json;
  else if (info.group !== "tortie.io")
    properties.status = { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  return {
    type: "object",
    properties,
    required: sch.specOptional
      ? ["apiVersion", "kind", "metadata"]
      : ["apiVersion", "kind", "metadata", "spec"],
    // Kubernetes' own kinds carry top-level fields tortie does not read (a ServiceAccount's secrets).
    ...(info.group === "tortie.io" ? {} : { "x-kubernetes-preserve-unknown-fields": true }),
  };
}

let ajv: Ajv | undefined;
const compiled = new Map<KindName, ValidateFunction>();

/** Compiled on first use per kind: a short-lived process (the CNI plugin) pays only for what it checks. */
function validatorFor(kind: KindName): ValidateFunction {
  const done = compiled.get(kind);
  if (done) return done;
  if (!ajv) {
    ajv = new Ajv({ allErrors: true, strict: true });
    addFormats.default(ajv, ["date-time"]);
    ajv.addFormat("cidr", isCidr);
    ajv.addFormat("ip", isIp);
    ajv.addKeyword("x-kubernetes-preserve-unknown-fields");
    ajv.addKeyword("x-kubernetes-int-or-string");
  }
  const v = ajv.compile(forAjv(objectSchema(kind)));
  compiled.set(kind, v);
  return v;
}

/** `/spec/ingress/0/ports` -> `spec.ingress[0].ports` */
export function fieldPath(pointer: string): string {
  let out = "";
  for (const raw of pointer.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function join(path: string, field: string): string {
  return path ? `${path}.${field}` : field;
}

function problemOf(object: string, e: ErrorObject): FieldProblem {
  const path = fieldPath(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "required":
      return { object, path: join(path, String(params.missingProperty)), message: "is required" };
    case "additionalProperties":
      return { object, path: join(path, String(params.additionalProperty)), message: "is not a known field" };
    case "enum":
      return {
        object,
        path,
        message: `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")}`,
      };
    case "format":
      return {
        object,
        path,
        message: `must be ${params.format === "cidr" ? "a CIDR, e.g. 10.0.0.0/16" : `a valid ${String(params.format)}`}`,
      };
    default:
      return { object, path: path || "(object)", message: e.message ?? e.keyword };
  }
}

type Check = (obj: StoredObject, object: string) => FieldProblem[];

function ipPoolCheck(obj: StoredObject, object: string): FieldProblem[] {
  const spec = obj.spec as { cidr: string; blockSize?: number };
  if (!isCidr(spec.cidr)) return [];
  const [addr, len] = ipaddr.parseCIDR(spec.cidr);
  const v4 = addr.kind() === "ipv4";
  const problems: FieldProblem[] = [];
  const bs = spec.blockSize;
  if (bs !== undefined) {
    const [min, max] = v4 ? [20, 32] : [116, 128];
    if (bs < min || bs > max)
      problems.push({
        object,
        path: "spec.blockSize",
        message: `must be ${min}..${max} for an IPv${v4 ? 4 : 6} pool`,
      });
    else if (bs < len)
      problems.push({
        object,
        path: "spec.blockSize",
        message: `${bs} is larger a block than the pool ${spec.cidr}`,
      });
  }
  const network = v4
    ? ipaddr.IPv4.networkAddressFromCIDR(spec.cidr).toString()
    : ipaddr.IPv6.networkAddressFromCIDR(spec.cidr).toString();
  if (network !== addr.toString())
    problems.push({
      object,
      path: "spec.cidr",
      message: `has host bits set: did you mean ${network}/${len}?`,
    });
  return problems;
}

const SEMANTIC: Partial<Record<KindName, Check>> = { IPPool: ipPoolCheck };

export type PolicyKind =
  | "KubernetesNetworkPolicy"
  | "AdminNetworkPolicy"
  | "BaselineAdminNetworkPolicy"
  | "NetworkPolicy"
  | "GlobalNetworkPolicy"
  | "NetworkSet"
  | "GlobalNetworkSet"
  | "Tier"
  | "EndpointSlice";
export const POLICY_KINDS: readonly PolicyKind[] = [
  "KubernetesNetworkPolicy",
  "AdminNetworkPolicy",
  "BaselineAdminNetworkPolicy",
  "NetworkPolicy",
  "GlobalNetworkPolicy",
  "NetworkSet",
  "GlobalNetworkSet",
  "Tier",
  "EndpointSlice",
];

/** policy/'s semantic validator: selectors, ports, rule shapes. Returns every problem. */
export type PolicyValidator = (kind: PolicyKind, obj: StoredObject) => FieldProblem[];

let policyValidator: PolicyValidator | undefined;

/** The one place policy/ plugs its validator in; called once at start-up. */
export function setPolicyValidator(v: PolicyValidator | undefined): void {
  policyValidator = v;
}

function isPolicyKind(kind: KindName): kind is PolicyKind {
  return (POLICY_KINDS as readonly string[]).includes(kind);
}

/** Every problem with an object of a kind: identity, schema, semantic checks, policy's validator. */
export function validateObject(kind: KindName, obj: StoredObject): FieldProblem[] {
  const identity = checkIdentity(kind, obj);
  if (identity.some((p) => p.path === "metadata")) return identity;
  const object = refOf(kind, obj);
  const v = validatorFor(kind);
  if (!v(obj)) return [...identity, ...(v.errors ?? []).map((e) => problemOf(object, e))];
  const semantic = SEMANTIC[kind]?.(obj, object) ?? [];
  const policy = isPolicyKind(kind) && policyValidator ? policyValidator(kind, obj) : [];
  return [...identity, ...semantic, ...policy];
}
