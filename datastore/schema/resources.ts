import type { ObjectMeta } from "../types.js";
import {
  array,
  boolean,
  enumOf,
  integer,
  intOrString,
  map,
  nullable,
  number,
  object,
  opaque,
  string,
  type Infer,
  type Schema,
} from "./builder.js";

/**
 * One schema per kind: the spec (and status) each kind accepts. Ours follow
 * Calico's projectcalico.org/v3 field names so that a Calico manifest is valid
 * as it is once its apiVersion is mapped; the Kubernetes kinds list the fields
 * tortie reads and keep the rest.
 */

const cidr = (description?: string) => string({ format: "cidr", ...(description ? { description } : {}) });
const ip = (description?: string) => string({ format: "ip", ...(description ? { description } : {}) });
const selector = (description: string) => string({ description });
const asNumber = integer({ minimum: 1, maximum: 4294967295, description: "a 4-byte AS number" });
const labels = map(string());

// ---- Kubernetes kinds (read by tortie; Kubernetes validates them) ----

const containerPort = object(
  {
    containerPort: integer({ minimum: 1, maximum: 65535 }),
    protocol: enumOf(["TCP", "UDP", "SCTP"]),
    name: string(),
  },
  { required: ["containerPort"], open: true },
);
export const PodSpec = object(
  {
    nodeName: string(),
    hostNetwork: boolean(),
    serviceAccountName: string(),
    containers: array(
      object({ name: string(), ports: array(containerPort) }, { required: ["name"], open: true }),
    ),
  },
  { open: true },
);
export const PodStatus = object(
  {
    phase: string(),
    podIP: ip(),
    podIPs: array(object({ ip: ip() }, { required: ["ip"] })),
    hostIP: ip(),
  },
  { open: true },
);
export const NamespaceSpec = opaque();
export const NodeSpec = object({ podCIDR: cidr(), podCIDRs: array(cidr()) }, { open: true });
export const NodeStatusK8s = object(
  { addresses: array(object({ type: string(), address: string() }, { required: ["type", "address"] })) },
  { open: true },
);
export const ServiceSpec = object(
  {
    type: string(),
    clusterIP: string(),
    clusterIPs: array(string()),
    externalIPs: array(ip()),
    externalTrafficPolicy: string(),
    ports: array(
      object(
        {
          name: string(),
          protocol: string(),
          port: integer(),
          targetPort: intOrString(),
          nodePort: integer(),
        },
        { required: ["port"], open: true },
      ),
    ),
    selector: labels,
  },
  { open: true },
);
export const ServiceStatus = object(
  {
    loadBalancer: object(
      { ingress: array(object({ ip: ip(), hostname: string() }, { open: true })) },
      { open: true },
    ),
  },
  { open: true },
);
/** Checked in depth by policy/ (the validator hook), not here. */
export const KubernetesNetworkPolicySpec = opaque();

// ---- tortie.io/v1: address pools ----

export const IPPoolSpec = object(
  {
    cidr: cidr("the pool's range; IPv4 or IPv6"),
    blockSize: integer({
      minimum: 20,
      maximum: 128,
      description: "prefix length of a node's block: 26 (IPv4) / 122 (IPv6) by default",
    }),
    nodeSelector: selector("nodes that may take blocks from this pool; default all()"),
    natOutgoing: boolean(),
    disabled: boolean(),
    disableBGPExport: boolean(),
    vxlanMode: enumOf(["Never", "Always", "CrossSubnet"]),
    ipipMode: enumOf(["Never", "Always", "CrossSubnet"], {
      description: "carried for Calico manifests; this kernel has no IPIP",
    }),
    allowedUses: array(enumOf(["Workload", "Tunnel", "LoadBalancer"])),
    assignmentMode: enumOf(["Automatic", "Manual"]),
    ipip: object(
      { enabled: boolean(), mode: enumOf(["always", "cross-subnet"]) },
      { description: "deprecated Calico v1 field" },
    ),
    "nat-outgoing": boolean({ description: "deprecated Calico v1 field" }),
  },
  { required: ["cidr"] },
);

export const IPReservationSpec = object(
  { reservedCIDRs: array(cidr(), { minItems: 1 }) },
  { required: ["reservedCIDRs"] },
);

// ---- BGP ----

const community = object({ name: string(), value: string() }, { required: ["name", "value"] });
const serviceCIDR = object({ cidr: cidr() }, { required: ["cidr"] });
export const BGPConfigurationSpec = object({
  logSeverityScreen: enumOf(["Trace", "Debug", "Info", "Warning", "Error", "Fatal"]),
  nodeToNodeMeshEnabled: boolean(),
  asNumber,
  listenPort: integer({ minimum: 1, maximum: 65535 }),
  bindMode: enumOf(["None", "NodeIP"]),
  serviceClusterIPs: array(serviceCIDR),
  serviceExternalIPs: array(serviceCIDR),
  serviceLoadBalancerIPs: array(serviceCIDR),
  communities: array(community),
  prefixAdvertisements: array(object({ cidr: cidr(), communities: array(string()) }, { required: ["cidr"] })),
  nodeMeshPassword: object({
    secretKeyRef: object({ name: string(), key: string() }, { required: ["name", "key"] }),
  }),
  nodeMeshMaxRestartTime: string({ description: "a duration, e.g. 120s" }),
  ignoredInterfaces: array(string()),
  localWorkloadPeeringIPV4: ip(),
  localWorkloadPeeringIPV6: ip(),
});

export const BGPPeerSpec = object({
  node: string({ description: "the node this peering is for; empty: all nodes (global peer)" }),
  nodeSelector: selector("the nodes that peer"),
  peerIP: string({ description: "IP, or IP:port" }),
  peerSelector: selector("peer with the nodes this selects, instead of peerIP"),
  asNumber,
  keepOriginalNextHop: boolean(),
  nextHopMode: enumOf(["Auto", "Self", "Keep"]),
  password: object({
    secretKeyRef: object({ name: string(), key: string() }, { required: ["name", "key"] }),
  }),
  sourceAddress: enumOf(["UseNodeIP", "None"]),
  failureDetectionMode: enumOf(["None", "BFDIfDirectlyConnected"]),
  restartMode: enumOf(["GracefulRestart", "LongLivedGracefulRestart"]),
  maxRestartTime: string({ description: "a duration, e.g. 120s" }),
  birdGatewayMode: enumOf(["Recursive", "DirectIfDirectlyConnected"]),
  numAllowedLocalASNumbers: integer({ minimum: 0, maximum: 10 }),
  ttlSecurity: integer({ minimum: 0, maximum: 255 }),
  filters: array(string()),
  reachableBy: ip(),
  localWorkloadSelector: selector("workloads to peer with"),
  localASNumber: asNumber,
});

const filterRule = object(
  {
    action: enumOf(["Accept", "Reject"]),
    matchOperator: enumOf(["Equal", "NotEqual", "In", "NotIn"]),
    cidr: cidr(),
    prefixLength: object({
      min: integer({ minimum: 0, maximum: 128 }),
      max: integer({ minimum: 0, maximum: 128 }),
    }),
    source: enumOf(["RemotePeers"]),
    interface: string(),
  },
  { required: ["action"] },
);
export const BGPFilterSpec = object({
  exportV4: array(filterRule),
  importV4: array(filterRule),
  exportV6: array(filterRule),
  importV6: array(filterRule),
});

// ---- policy: structure only; policy/ plugs the semantic validator in ----

const rules = array(opaque());
export const NetworkPolicySpec = object(
  {
    order: number({ description: "evaluation order inside the tier (Calico: a float), absent last" }),
    tier: string(),
    selector: string(),
    types: array(enumOf(["Ingress", "Egress"])),
    ingress: rules,
    egress: rules,
    serviceAccountSelector: string(),
    performanceHints: array(string()),
  },
  { open: true },
);
export const GlobalNetworkPolicySpec = object(
  {
    order: number({ description: "evaluation order inside the tier (Calico: a float), absent last" }),
    tier: string(),
    selector: string(),
    namespaceSelector: string(),
    serviceAccountSelector: string(),
    types: array(enumOf(["Ingress", "Egress"])),
    ingress: rules,
    egress: rules,
    doNotTrack: boolean(),
    preDNAT: boolean(),
    applyOnForward: boolean(),
    performanceHints: array(string()),
  },
  { open: true },
);

/** Calico's tiers: ordered groups of policies; Pass goes on to the next tier. */
export const TierSpec = object({
  order: number({ description: "lower first; absent after every ordered tier; the default tier is 1000000" }),
  defaultAction: enumOf(["Deny", "Pass"], {
    description: "when the tier has a policy for an endpoint but none decides (default Deny)",
  }),
});

/** Calico's network sets: labelled networks the selectors of policy rules match (policy/ checks the CIDRs). */
export const NetworkSetSpec = object({ nets: array(string()) });

// ---- IPAM records, after libcalico-go's model ----

/** Who holds one address of a block (ipam/block.ts AllocationAttrs). */
const Allocation = object(
  {
    handle: string({ minLength: 1 }),
    node: string({ minLength: 1 }),
    namespace: string(),
    pod: string(),
    time: integer({ minimum: 0, description: "ms since the epoch; GC's grace period counts from here" }),
  },
  { required: ["handle", "node"] },
);

/** An allocation block as ipam/block.ts keeps it: one slot per ordinal, the owner inline or null. */
export const IPAMBlockSpec = object(
  {
    cidr: cidr("the block, e.g. 10.0.0.64/26"),
    affinity: nullable(string({ description: 'the owner, "host:<node>"; null when unclaimed' })),
    allocations: array(nullable(Allocation), { description: "per ordinal, its owner, or null when free" }),
    unallocated: array(integer({ minimum: 0 }), {
      description: "free ordinals in the order they are handed out",
    }),
  },
  { required: ["cidr", "affinity", "allocations", "unallocated"] },
);

export const IPAMHandleSpec = object(
  {
    handleID: string({ minLength: 1 }),
    blocks: array(cidr(), { description: "blocks holding this handle's addresses: where release looks" }),
    node: string({ minLength: 1 }),
    namespace: string(),
    pod: string(),
    time: integer({ minimum: 0 }),
  },
  { required: ["handleID", "blocks", "node", "time"] },
);

export const BlockAffinitySpec = object(
  {
    state: enumOf(["confirmed", "pending", "pendingDeletion"]),
    node: string({ minLength: 1 }),
    cidr: cidr(),
    time: integer({
      minimum: 0,
      description: "when the state was last set (ms); an old pending claim is a dead allocator's debris",
    }),
  },
  { required: ["state", "node", "cidr", "time"] },
);

/** A pod's network endpoint as the CNI plugin wired it; felix programs from these. */
export const WorkloadEndpointSpec = object(
  {
    node: string({ minLength: 1 }),
    pod: string({ minLength: 1 }),
    containerID: string(),
    endpoint: string(),
    /** The CNI network name, the container-side interface name and the netns path, as the kubelet gave them. */
    network: string(),
    ifname: string(),
    netns: string(),
    interfaceName: string({ maxLength: 15 }),
    mac: string(),
    ipNetworks: array(cidr()),
    profiles: array(string()),
    serviceAccountName: string(),
  },
  { required: ["node", "pod", "interfaceName", "ipNetworks"] },
);

/** What felix reports about its node: BGP sessions, programming, readiness. */
export const NodeStatusSpec = object({ node: string({ minLength: 1 }) }, { required: ["node"] });
export const NodeStatusStatus = object({
  ready: boolean(),
  updated: string({ format: "date-time" }),
  lastProgrammingMs: integer({ minimum: 0 }),
  localEndpoints: integer({ minimum: 0 }),
  bgp: object({
    peers: array(
      object(
        {
          peerIP: string(),
          asNumber,
          state: enumOf(["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"]),
          since: string({ format: "date-time" }),
          routesReceived: integer({ minimum: 0 }),
          routesAdvertised: integer({ minimum: 0 }),
        },
        { required: ["peerIP", "state"] },
      ),
    ),
  }),
});

// ---- objects ----

/** The object shape of a kind: apiVersion, kind, metadata, spec and (optionally) status. */
export type KindObject<Spec, Status = never> = {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: Spec;
} & ([Status] extends [never] ? { status?: unknown } : { status?: Status });

interface KindSchema {
  readonly spec: Schema<unknown>;
  readonly status?: Schema<unknown>;
  /** Kubernetes kinds may omit spec (a Namespace often does). */
  readonly specOptional?: boolean;
}

export const SCHEMAS = {
  Pod: { spec: PodSpec, status: PodStatus },
  Namespace: { spec: NamespaceSpec, specOptional: true },
  Node: { spec: NodeSpec, status: NodeStatusK8s, specOptional: true },
  ServiceAccount: { spec: opaque(), specOptional: true },
  Service: { spec: ServiceSpec, status: ServiceStatus },
  // Read for BGP passwords (BGPPeer spec.password.secretKeyRef); `data` / `stringData` are top-level.
  Secret: { spec: opaque(), specOptional: true },
  // Read for Calico's `services` rule match; `addressType` / `endpoints` / `ports` are top-level.
  EndpointSlice: { spec: opaque(), specOptional: true },
  KubernetesNetworkPolicy: { spec: KubernetesNetworkPolicySpec },
  // policy/ checks these in full (the same validator `tortie policy validate` uses).
  AdminNetworkPolicy: { spec: opaque() },
  BaselineAdminNetworkPolicy: { spec: opaque() },
  IPPool: { spec: IPPoolSpec },
  IPReservation: { spec: IPReservationSpec },
  BGPConfiguration: { spec: BGPConfigurationSpec },
  BGPPeer: { spec: BGPPeerSpec },
  BGPFilter: { spec: BGPFilterSpec },
  NetworkPolicy: { spec: NetworkPolicySpec },
  GlobalNetworkPolicy: { spec: GlobalNetworkPolicySpec },
  NetworkSet: { spec: NetworkSetSpec, specOptional: true },
  GlobalNetworkSet: { spec: NetworkSetSpec, specOptional: true },
  Tier: { spec: TierSpec, specOptional: true },
  IPAMBlock: { spec: IPAMBlockSpec },
  IPAMHandle: { spec: IPAMHandleSpec },
  BlockAffinity: { spec: BlockAffinitySpec },
  WorkloadEndpoint: { spec: WorkloadEndpointSpec },
  NodeStatus: { spec: NodeStatusSpec, status: NodeStatusStatus },
} as const satisfies Record<string, KindSchema>;

export type IPPoolSpec = Infer<typeof IPPoolSpec>;
export type IPReservationSpec = Infer<typeof IPReservationSpec>;
export type BGPConfigurationSpec = Infer<typeof BGPConfigurationSpec>;
export type BGPPeerSpec = Infer<typeof BGPPeerSpec>;
export type BGPFilterSpec = Infer<typeof BGPFilterSpec>;
export type NetworkPolicySpec = Infer<typeof NetworkPolicySpec>;
export type GlobalNetworkPolicySpec = Infer<typeof GlobalNetworkPolicySpec>;
export type IPAMBlockSpec = Infer<typeof IPAMBlockSpec>;
export type IPAMHandleSpec = Infer<typeof IPAMHandleSpec>;
export type BlockAffinitySpec = Infer<typeof BlockAffinitySpec>;
export type WorkloadEndpointSpec = Infer<typeof WorkloadEndpointSpec>;
export type NodeStatusStatus = Infer<typeof NodeStatusStatus>;
export type PodSpec = Infer<typeof PodSpec>;
export type PodStatus = Infer<typeof PodStatus>;
export type ServiceSpec = Infer<typeof ServiceSpec>;

type S = typeof SCHEMAS;
type SpecOf<K extends keyof S> = Infer<S[K]["spec"]>;
type StatusOf<K extends keyof S> = S[K] extends { status: Schema<infer T> } ? T : never;

/** The TypeScript type of each kind's objects, derived from its schema. */
export type KindTypes = {
  [K in keyof S]: S[K] extends { specOptional: true }
    ? Omit<KindObject<SpecOf<K>, StatusOf<K>>, "spec"> & { spec?: SpecOf<K> }
    : KindObject<SpecOf<K>, StatusOf<K>>;
};
