import t from "tap";
import { parse } from "yaml";
import { ValidationError } from "../../core/errors.js";
import { CRD_KINDS, customResourceDefinitions } from "../../datastore/crd.js";
import { KINDS, KIND_NAMES, apiVersionOf, type KindName } from "../../datastore/kinds.js";
import { CONVERTED_FROM, decodeManifest } from "../../datastore/manifest.js";
import type { JsonSchema } from "../../datastore/schema/builder.js";
import type { ObjectOf, StoredObject } from "../../datastore/types.js";
import { fieldPath, objectSchema, setPolicyValidator, validateObject } from "../../datastore/validate.js";

const meta = (kind: KindName, name = "x") =>
  KINDS[kind].namespaced ? { name, namespace: "default" } : { name };

/** One valid object per kind: the schemas accept what tortie itself writes. */
const GOOD: { [K in KindName]: ObjectOf<K> } = {
  Pod: {
    apiVersion: "v1",
    kind: "Pod",
    metadata: meta("Pod"),
    spec: { containers: [{ name: "c", image: "x" }] },
    status: { podIP: "10.0.0.5" },
  },
  Namespace: { apiVersion: "v1", kind: "Namespace", metadata: meta("Namespace") },
  Node: {
    apiVersion: "v1",
    kind: "Node",
    metadata: meta("Node"),
    status: { addresses: [{ type: "InternalIP", address: "192.168.0.1" }] },
  },
  ServiceAccount: { apiVersion: "v1", kind: "ServiceAccount", metadata: meta("ServiceAccount") },
  Secret: {
    apiVersion: "v1",
    kind: "Secret",
    metadata: meta("Secret"),
    type: "Opaque",
    data: { password: "czNjcmV0" },
  } as ObjectOf<"Secret">,
  EndpointSlice: {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { ...meta("EndpointSlice"), labels: { "kubernetes.io/service-name": "web" } },
    addressType: "IPv4",
    endpoints: [{ addresses: ["10.0.0.5"] }],
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  } as ObjectOf<"EndpointSlice">,
  Service: {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta("Service"),
    spec: { ports: [{ port: 80, targetPort: "http" }] },
  },
  KubernetesNetworkPolicy: {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: meta("KubernetesNetworkPolicy"),
    spec: { podSelector: {} },
  },
  IPPool: {
    apiVersion: "tortie.io/v1",
    kind: "IPPool",
    metadata: meta("IPPool"),
    spec: { cidr: "fd00::/48", blockSize: 122, vxlanMode: "CrossSubnet" },
  },
  IPReservation: {
    apiVersion: "tortie.io/v1",
    kind: "IPReservation",
    metadata: meta("IPReservation"),
    spec: { reservedCIDRs: ["10.0.0.0/30"] },
  },
  BGPConfiguration: {
    apiVersion: "tortie.io/v1",
    kind: "BGPConfiguration",
    metadata: meta("BGPConfiguration"),
    spec: { asNumber: 64512, nodeToNodeMeshEnabled: true },
  },
  BGPPeer: {
    apiVersion: "tortie.io/v1",
    kind: "BGPPeer",
    metadata: meta("BGPPeer"),
    spec: { peerIP: "192.168.0.254", asNumber: 65001 },
  },
  BGPFilter: {
    apiVersion: "tortie.io/v1",
    kind: "BGPFilter",
    metadata: meta("BGPFilter"),
    spec: { exportV4: [{ action: "Reject", matchOperator: "In", cidr: "10.0.0.0/8" }] },
  },
  NetworkPolicy: {
    apiVersion: "tortie.io/v1",
    kind: "NetworkPolicy",
    metadata: meta("NetworkPolicy"),
    spec: { selector: "app == 'web'", types: ["Ingress"], ingress: [{ action: "Allow" }] },
  },
  GlobalNetworkPolicy: {
    apiVersion: "tortie.io/v1",
    kind: "GlobalNetworkPolicy",
    metadata: meta("GlobalNetworkPolicy"),
    spec: { selector: "all()", order: 10 },
  },
  NetworkSet: {
    apiVersion: "tortie.io/v1",
    kind: "NetworkSet",
    metadata: { ...meta("NetworkSet"), labels: { role: "db" } },
    spec: { nets: ["192.0.2.0/28"] },
  },
  GlobalNetworkSet: {
    apiVersion: "tortie.io/v1",
    kind: "GlobalNetworkSet",
    metadata: { ...meta("GlobalNetworkSet"), labels: { role: "blocked" } },
    spec: { nets: ["203.0.113.0/24", "2001:db8::/48"] },
  },
  AdminNetworkPolicy: {
    apiVersion: "policy.networking.k8s.io/v1alpha1",
    kind: "AdminNetworkPolicy",
    metadata: meta("AdminNetworkPolicy", "protect"),
    spec: {
      priority: 10,
      subject: { namespaces: {} },
      ingress: [{ action: "Deny", from: [{ namespaces: {} }] }],
    },
  },
  BaselineAdminNetworkPolicy: {
    apiVersion: "policy.networking.k8s.io/v1alpha1",
    kind: "BaselineAdminNetworkPolicy",
    metadata: meta("BaselineAdminNetworkPolicy", "default"),
    spec: { subject: { namespaces: {} }, egress: [{ action: "Allow", to: [{ networks: ["10.0.0.0/8"] }] }] },
  },
  Tier: {
    apiVersion: "tortie.io/v1",
    kind: "Tier",
    metadata: meta("Tier", "security"),
    spec: { order: 100.5, defaultAction: "Pass" },
  },
  IPAMBlock: {
    apiVersion: "tortie.io/v1",
    kind: "IPAMBlock",
    metadata: meta("IPAMBlock", "10-0-0-0-26"),
    spec: {
      cidr: "10.0.0.0/26",
      affinity: "host:node1",
      allocations: [{ handle: "abc", node: "node1", namespace: "default", pod: "web-0", time: 1 }, null],
      unallocated: [1],
    },
  },
  IPAMHandle: {
    apiVersion: "tortie.io/v1",
    kind: "IPAMHandle",
    metadata: meta("IPAMHandle"),
    spec: { handleID: "abc", blocks: ["10.0.0.0/26"], node: "node1", pod: "web-0", time: 1 },
  },
  BlockAffinity: {
    apiVersion: "tortie.io/v1",
    kind: "BlockAffinity",
    metadata: meta("BlockAffinity"),
    spec: { state: "confirmed", node: "node1", cidr: "10.0.0.0/26", time: 1 },
  },
  WorkloadEndpoint: {
    apiVersion: "tortie.io/v1",
    kind: "WorkloadEndpoint",
    metadata: meta("WorkloadEndpoint"),
    spec: { node: "node1", pod: "web-0", interfaceName: "tort0123456789a", ipNetworks: ["10.0.0.1/32"] },
  },
  NodeStatus: {
    apiVersion: "tortie.io/v1",
    kind: "NodeStatus",
    metadata: meta("NodeStatus"),
    spec: { node: "node1" },
    status: { ready: true, bgp: { peers: [{ peerIP: "10.0.0.2", state: "Established" }] } },
  },
};

// The TypeScript types come from the schemas: a wrong field type does not compile.
// @ts-expect-error blockSize is an integer in the schema, so a string is a type error
const _badType: ObjectOf<"IPPool">["spec"] = { cidr: "10.0.0.0/8", blockSize: "26" };
// @ts-expect-error vxlanMode is an enum
const _badEnum: ObjectOf<"IPPool">["spec"] = { cidr: "10.0.0.0/8", vxlanMode: "Sometimes" };
// @ts-expect-error cidr is required
const _missing: ObjectOf<"IPPool">["spec"] = { blockSize: 26 };

t.test("every kind has a schema that accepts a good object", async (t) => {
  for (const kind of KIND_NAMES) {
    t.same(validateObject(kind, GOOD[kind]), [], kind);
    t.equal(GOOD[kind].apiVersion, apiVersionOf(KINDS[kind]));
  }
});

t.test("problems name the kind, namespace/name and field path", async (t) => {
  const bad = (kind: KindName, spec: unknown) =>
    validateObject(kind, { ...(GOOD[kind] as StoredObject), metadata: meta(kind, "bad"), spec });
  t.match(bad("IPPool", { cidr: "10.0.0.0/8", blockSize: "26" }), [
    { object: "IPPool bad", path: "spec.blockSize", message: /integer/ },
  ]);
  t.match(bad("IPPool", { cidr: "10.0.0.300/8" }), [{ path: "spec.cidr", message: /CIDR/ }]);
  t.match(bad("IPPool", { cidr: "10.0.0.0/8", colour: "red" }), [
    { path: "spec.colour", message: "is not a known field" },
  ]);
  t.match(bad("IPPool", { cidr: "10.0.0.0/8", vxlanMode: "Sometimes" }), [
    { path: "spec.vxlanMode", message: /one of "Never"/ },
  ]);
  t.match(bad("IPPool", { cidr: "10.0.0.0/16", blockSize: 12 }), [{ path: "spec.blockSize" }]);
  t.match(bad("IPPool", { cidr: "10.0.0.0/24", blockSize: 122 }), [
    { path: "spec.blockSize", message: /20..32 for an IPv4/ },
  ]);
  t.match(bad("IPPool", { cidr: "10.0.0.0/24", blockSize: 20 }), [
    { path: "spec.blockSize", message: /larger a block/ },
  ]);
  t.match(bad("IPPool", { cidr: "10.0.0.1/24" }), [
    { path: "spec.cidr", message: /host bits set: did you mean 10.0.0.0\/24/ },
  ]);
  t.match(bad("IPPool", {}), [{ path: "spec.cidr", message: "is required" }]);
  t.match(bad("BGPFilter", { exportV4: [{ action: "Accept" }, { action: "Maybe" }] }), [
    { path: "spec.exportV4[1].action" },
  ]);
  t.match(
    bad("IPAMBlock", { cidr: "10.0.0.0/26", affinity: null, allocations: [null, -1], unallocated: [] }),
    [{ object: "IPAMBlock bad", path: "spec.allocations[1]", message: "must be object" }],
  );
  t.match(bad("Service", { ports: [{ port: 80, targetPort: true }] }), [
    { object: "Service default/bad", path: "spec.ports[0].targetPort" },
  ]);
  const noSpec = validateObject("BGPPeer", {
    apiVersion: "tortie.io/v1",
    kind: "BGPPeer",
    metadata: { name: "p" },
  });
  t.match(noSpec, [{ object: "BGPPeer p", path: "spec", message: "is required" }]);
  t.equal(fieldPath("/metadata/labels/app.kubernetes.io~1name"), 'metadata.labels["app.kubernetes.io/name"]');
});

t.test("policy kinds get structure here and meaning from policy's validator, through one hook", async (t) => {
  t.teardown(() => setPolicyValidator(undefined));
  const np = GOOD.NetworkPolicy as StoredObject;
  t.match(
    validateObject("NetworkPolicy", { ...np, spec: { selector: 5 } }),
    [{ path: "spec.selector" }],
    "structure",
  );
  setPolicyValidator((kind, obj) => [
    { object: `${kind} ${obj.metadata.name}`, path: "spec.selector", message: "bad selector" },
  ]);
  t.same(validateObject("NetworkPolicy", np), [
    { object: "NetworkPolicy x", path: "spec.selector", message: "bad selector" },
  ]);
  t.equal(validateObject("KubernetesNetworkPolicy", GOOD.KubernetesNetworkPolicy as StoredObject).length, 1);
  t.same(validateObject("IPPool", GOOD.IPPool), [], "other kinds are not the policy validator's");
});

const CALICO = `
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: default-ipv4-ippool
spec:
  cidr: 192.168.0.0/16
  blockSize: 26
  ipipMode: Always
  natOutgoing: true
  nodeSelector: all()
  allowedUses: [Workload, Tunnel]
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: old-style
spec:
  cidr: 10.1.0.0/16
  ipip:
    enabled: true
    mode: cross-subnet
  nat-outgoing: true
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata:
  name: rack1-tor
spec:
  peerIP: 192.20.30.40
  asNumber: 64567
  nodeSelector: rack == 'rack-1'
  keepOriginalNextHop: true
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata:
  name: default
spec:
  logSeverityScreen: Info
  nodeToNodeMeshEnabled: false
  asNumber: 63400
  serviceClusterIPs:
    - cidr: 10.96.0.0/12
  listenPort: 178
  bindMode: NodeIP
  communities:
    - name: bgp-large-community
      value: 63400:300:100
  prefixAdvertisements:
    - cidr: 172.218.4.0/26
      communities: [bgp-large-community, 63400:120]
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: allow-tcp-6379
  namespace: production
spec:
  selector: role == 'database'
  types: [Ingress, Egress]
  ingress:
    - action: Allow
      protocol: TCP
      source:
        selector: role == 'frontend'
      destination:
        ports: [6379]
  egress:
    - action: Allow
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: deny-blue
spec:
  selector: color == 'red'
  ingress:
    - action: Deny
      protocol: TCP
      source:
        selector: color == 'blue'
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata:
  name: external-database
  namespace: staging
  labels:
    role: db
spec:
  nets:
    - 198.51.100.0/28
    - 203.0.113.0/24
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: a-name-for-the-set
  labels:
    role: external-database
spec:
  nets:
    - 198.51.100.0/28
    - 203.0.113.0/24
`;

t.test(
  "Calico projectcalico.org/v3 manifests are accepted unchanged and mapped onto tortie.io/v1",
  async (t) => {
    const docs = CALICO.split(/^---$/m).map((d) => parse(d) as unknown);
    const out = docs.map((d, i) => decodeManifest(d, `calico.yaml#${i + 1}`));
    t.same(
      out.map((o) => o.kind),
      [
        "IPPool",
        "IPPool",
        "BGPPeer",
        "BGPConfiguration",
        "NetworkPolicy",
        "GlobalNetworkPolicy",
        "NetworkSet",
        "GlobalNetworkSet",
      ],
    );
    for (const o of out) {
      t.equal(o.object.apiVersion, "tortie.io/v1");
      t.equal(o.object.metadata.annotations?.[CONVERTED_FROM], "projectcalico.org/v3");
    }
    t.match(out[0]?.object.spec, { cidr: "192.168.0.0/16", ipipMode: "Always", natOutgoing: true });
    t.same(
      out[1]?.object.spec,
      { cidr: "10.1.0.0/16", ipipMode: "CrossSubnet", natOutgoing: true },
      "deprecated fields folded",
    );
    t.equal(out[4]?.object.metadata.namespace, "production");
    t.throws(
      () =>
        decodeManifest(
          {
            apiVersion: "projectcalico.org/v3",
            kind: "IPPool",
            metadata: { name: "p" },
            spec: { cidr: "nope" },
          },
          "x.yaml",
        ),
      ValidationError,
    );
    t.throws(
      () =>
        decodeManifest(
          { apiVersion: "projectcalico.org/v3", kind: "FelixConfiguration", metadata: { name: "default" } },
          "x.yaml",
        ),
      {
        message: /x.yaml: tortie does not store projectcalico.org\/v3 FelixConfiguration/,
      },
    );
    t.equal(decodeManifest(GOOD.KubernetesNetworkPolicy, "np.yaml").kind, "KubernetesNetworkPolicy");
  },
);

/** The structural-schema rules the API server enforces on a CRD. */
function structuralProblems(s: JsonSchema, path: string): string[] {
  const out: string[] = [];
  const preserve = s["x-kubernetes-preserve-unknown-fields"] === true;
  if (!s.type && !s["x-kubernetes-int-or-string"] && !preserve) out.push(`${path}: no type`);
  if (s.properties && s.additionalProperties !== undefined)
    out.push(`${path}: properties and additionalProperties`);
  if (s.additionalProperties === false) out.push(`${path}: additionalProperties false`);
  if (s.type === "array" && !s.items) out.push(`${path}: array without items`);
  for (const [k, v] of Object.entries(s.properties ?? {})) out.push(...structuralProblems(v, `${path}.${k}`));
  if (typeof s.additionalProperties === "object")
    out.push(...structuralProblems(s.additionalProperties, `${path}[*]`));
  if (s.items) out.push(...structuralProblems(s.items, `${path}[]`));
  return out;
}

t.test("CRDs are generated from the same schemas, one per tortie.io kind, structural", async (t) => {
  const crds = customResourceDefinitions();
  t.same(
    crds.map((c) => c.spec.names.kind),
    CRD_KINDS.map((k) => KINDS[k].kind),
  );
  t.ok(crds.every((c) => c.spec.group === "tortie.io"));
  for (const [i, crd] of crds.entries()) {
    const kind = CRD_KINDS[i] as KindName;
    const info = KINDS[kind];
    t.equal(crd.metadata.name, `${info.plural}.tortie.io`);
    t.equal(crd.spec.scope, info.namespaced ? "Namespaced" : "Cluster");
    const v = crd.spec.versions[0];
    t.same(
      v?.schema.openAPIV3Schema,
      objectSchema(kind),
      `${kind}: the CRD states the schema the code validates with`,
    );
    t.same(structuralProblems(v?.schema.openAPIV3Schema ?? {}, kind), [], `${kind}: structural`);
  }
  t.ok(CRD_KINDS.includes("IPAMBlock") && !CRD_KINDS.includes("Pod"));
});
