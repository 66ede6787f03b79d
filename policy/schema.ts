/**
 * Structural JSON Schemas (ajv) for the policy objects we accept. They check shape, types, enums and
 * unknown fields; the semantic rules (ranges that depend on other fields, CIDRs, label syntax,
 * selector syntax) are code in policy/validate.ts. Paths in ajv errors become Kubernetes field paths.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";

const str = { type: "string" } as const;
const strList = { type: "array", items: str } as const;
const labelMap = { type: "object", additionalProperties: str } as const;

const metadata = {
  type: "object",
  required: ["name"],
  properties: {
    name: str,
    namespace: str,
    labels: labelMap,
    annotations: labelMap,
  },
} as const;

const labelSelector = {
  type: "object",
  additionalProperties: false,
  properties: {
    matchLabels: labelMap,
    matchExpressions: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["key", "operator"],
        properties: {
          key: str,
          operator: { enum: ["In", "NotIn", "Exists", "DoesNotExist"] },
          values: strList,
        },
      },
    },
  },
} as const;

const k8sPeer = {
  type: "object",
  additionalProperties: false,
  properties: {
    podSelector: labelSelector,
    namespaceSelector: labelSelector,
    ipBlock: {
      type: "object",
      additionalProperties: false,
      required: ["cidr"],
      properties: { cidr: str, except: strList },
    },
  },
} as const;

const k8sPort = {
  type: "object",
  additionalProperties: false,
  properties: {
    protocol: { enum: ["TCP", "UDP", "SCTP"] },
    port: { type: ["integer", "string"] },
    endPort: { type: "integer" },
  },
} as const;

const k8sRule = (peerField: "from" | "to") =>
  ({
    type: "object",
    additionalProperties: false,
    properties: {
      [peerField]: { type: "array", items: k8sPeer },
      ports: { type: "array", items: k8sPort },
    },
  }) as const;

export const k8sNetworkPolicySchema = {
  type: "object",
  required: ["apiVersion", "kind", "metadata", "spec"],
  additionalProperties: false,
  properties: {
    apiVersion: { const: "networking.k8s.io/v1" },
    kind: { const: "NetworkPolicy" },
    metadata,
    spec: {
      type: "object",
      additionalProperties: false,
      properties: {
        podSelector: labelSelector,
        policyTypes: { type: "array", maxItems: 2, items: { enum: ["Ingress", "Egress"] } },
        ingress: { type: "array", items: k8sRule("from") },
        egress: { type: "array", items: k8sRule("to") },
      },
    },
    status: { type: "object" },
  },
} as const;

const icmp = {
  type: "object",
  additionalProperties: false,
  properties: { type: { type: "integer" }, code: { type: "integer" } },
} as const;

const protocol = { type: ["integer", "string"] } as const;

const entityRule = {
  type: "object",
  additionalProperties: false,
  properties: {
    nets: strList,
    notNets: strList,
    selector: str,
    notSelector: str,
    namespaceSelector: str,
    ports: { type: "array", items: { type: ["integer", "string"] } },
    notPorts: { type: "array", items: { type: ["integer", "string"] } },
    serviceAccounts: {
      type: "object",
      additionalProperties: false,
      properties: { names: strList, selector: str },
    },
    // Calico fields tortie does not enforce: known here so the error says why (validate.ts).
    services: { type: "object" },
  },
} as const;

const extendedRule = {
  type: "object",
  additionalProperties: false,
  required: ["action"],
  properties: {
    action: { enum: ["Allow", "Deny", "Pass", "Log"] },
    ipVersion: { enum: [4, 6] },
    protocol,
    notProtocol: protocol,
    icmp,
    notICMP: icmp,
    source: entityRule,
    destination: entityRule,
    metadata: { type: "object", properties: { annotations: labelMap } },
    http: { type: "object" },
  },
} as const;

function extendedSchema(kind: "NetworkPolicy" | "GlobalNetworkPolicy") {
  return {
    type: "object",
    required: ["apiVersion", "kind", "metadata"],
    additionalProperties: false,
    properties: {
      apiVersion: { enum: ["tortie.io/v1", "projectcalico.org/v3"] },
      kind: { const: kind },
      metadata,
      spec: {
        type: "object",
        additionalProperties: false,
        properties: {
          tier: str,
          order: { type: "number" },
          selector: str,
          serviceAccountSelector: str,
          ...(kind === "GlobalNetworkPolicy"
            ? {
                namespaceSelector: str,
                doNotTrack: { type: "boolean" },
                preDNAT: { type: "boolean" },
                applyOnForward: { type: "boolean" },
              }
            : {}),
          types: { type: "array", maxItems: 2, items: { enum: ["Ingress", "Egress"] } },
          ingress: { type: "array", items: extendedRule },
          egress: { type: "array", items: extendedRule },
          performanceHints: strList,
        },
      },
    },
  } as const;
}

// --- policy.networking.k8s.io/v1alpha1: AdminNetworkPolicy, BaselineAdminNetworkPolicy ---------------

/** Exactly one of the given properties (the API's MinProperties=1 / MaxProperties=1 unions). */
const oneOf = (properties: Record<string, object>) =>
  ({ type: "object", additionalProperties: false, minProperties: 1, maxProperties: 1, properties }) as const;

const namespacedPod = {
  type: "object",
  additionalProperties: false,
  required: ["namespaceSelector", "podSelector"],
  properties: { namespaceSelector: labelSelector, podSelector: labelSelector },
} as const;

const anpProtocol = { enum: ["TCP", "UDP", "SCTP"] } as const;
const anpPortNumber = { type: "integer", minimum: 1, maximum: 65535 } as const;
const anpPort = oneOf({
  portNumber: {
    type: "object",
    additionalProperties: false,
    required: ["port"],
    properties: { protocol: anpProtocol, port: anpPortNumber },
  },
  namedPort: str,
  portRange: {
    type: "object",
    additionalProperties: false,
    required: ["start", "end"],
    properties: { protocol: anpProtocol, start: anpPortNumber, end: anpPortNumber },
  },
});

const anpPeer = (egress: boolean) =>
  oneOf({
    namespaces: labelSelector,
    pods: namespacedPod,
    ...(egress
      ? { networks: { type: "array", minItems: 1, maxItems: 25, items: str }, nodes: labelSelector }
      : {}),
  });

const anpRule = (peerField: "from" | "to", actions: readonly string[]) =>
  ({
    type: "object",
    additionalProperties: false,
    required: ["action", peerField],
    properties: {
      name: { type: "string", maxLength: 100 },
      action: { enum: actions },
      [peerField]: { type: "array", minItems: 1, maxItems: 100, items: anpPeer(peerField === "to") },
      ports: { type: "array", minItems: 1, maxItems: 100, items: anpPort },
    },
  }) as const;

function adminSchema(kind: "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy") {
  const actions = kind === "AdminNetworkPolicy" ? ["Allow", "Deny", "Pass"] : ["Allow", "Deny"];
  return {
    type: "object",
    required: ["apiVersion", "kind", "metadata", "spec"],
    additionalProperties: false,
    properties: {
      apiVersion: { const: "policy.networking.k8s.io/v1alpha1" },
      kind: { const: kind },
      metadata,
      spec: {
        type: "object",
        additionalProperties: false,
        required: kind === "AdminNetworkPolicy" ? ["priority", "subject"] : ["subject"],
        properties: {
          ...(kind === "AdminNetworkPolicy"
            ? { priority: { type: "integer", minimum: 0, maximum: 1000 } }
            : {}),
          subject: oneOf({ namespaces: labelSelector, pods: namespacedPod }),
          ingress: { type: "array", maxItems: 100, items: anpRule("from", actions) },
          egress: { type: "array", maxItems: 100, items: anpRule("to", actions) },
        },
      },
      status: { type: "object" },
    },
  } as const;
}

const ajv = new Ajv({ allErrors: true, strict: false });

export const validators: Readonly<
  Record<
    "k8s" | "NetworkPolicy" | "GlobalNetworkPolicy" | "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy",
    ValidateFunction
  >
> = {
  k8s: ajv.compile(k8sNetworkPolicySchema),
  NetworkPolicy: ajv.compile(extendedSchema("NetworkPolicy")),
  GlobalNetworkPolicy: ajv.compile(extendedSchema("GlobalNetworkPolicy")),
  AdminNetworkPolicy: ajv.compile(adminSchema("AdminNetworkPolicy")),
  BaselineAdminNetworkPolicy: ajv.compile(adminSchema("BaselineAdminNetworkPolicy")),
};

/** `/spec/ingress/0/ports/1` → `spec.ingress[0].ports[1]`. */
export function pointerToPath(pointer: string): string {
  let out = "";
  for (const raw of pointer.split("/").slice(1)) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else out += out === "" ? seg : `.${seg}`;
  }
  return out;
}

const join = (path: string, field: string): string => (path === "" ? field : `${path}.${field}`);

/** One readable problem per ajv error, with the Kubernetes-style field path. */
export function ajvProblems(errors: readonly ErrorObject[]): Array<{ path: string; message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  const seen = new Set<string>();
  for (const e of errors) {
    let path = pointerToPath(e.instancePath);
    let message = e.message ?? "invalid";
    const params = e.params as Record<string, unknown>;
    if (e.keyword === "required") {
      path = join(path, String(params["missingProperty"]));
      message = "required";
    } else if (e.keyword === "additionalProperties") {
      path = join(path, String(params["additionalProperty"]));
      message = "unknown field";
    } else if (e.keyword === "enum") {
      const allowed = params["allowedValues"] as unknown[];
      message = `must be one of ${allowed.map((v) => JSON.stringify(v)).join(", ")}`;
    } else if (e.keyword === "minProperties" || e.keyword === "maxProperties") {
      message = "must set exactly one of its fields";
    } else if (e.keyword === "const") {
      message = `must be ${JSON.stringify(params["allowedValue"])}`;
    }
    const key = `${path}\0${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path: path === "" ? "(object)" : path, message });
  }
  return out;
}
