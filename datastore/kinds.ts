/**
 * Every kind tortie stores, named as libcalico-go names them: the Kubernetes
 * NetworkPolicy is `KubernetesNetworkPolicy` so that ours can be `NetworkPolicy`.
 * The table is the one place a kind's group, plural and scope are written down;
 * the etcd key layout, the Kubernetes URLs and the CRDs are all derived from it.
 */
export interface KindInfo {
  /** API group; "" is the Kubernetes core group. */
  readonly group: string;
  readonly version: string;
  /** The `kind` field of the object. */
  readonly kind: string;
  /** Lower-case plural: the URL segment and the CRD's `spec.names.plural`. */
  readonly plural: string;
  readonly namespaced: boolean;
  /** Written by tortie itself (IPAM records, node status) rather than by the user. */
  readonly internal?: boolean;
  /**
   * Another project's custom resource, which a cluster may not have installed: an API server that
   * does not serve it holds none (the informer keeps asking) instead of failing the sync.
   */
  readonly optional?: boolean;
}

export const TORTIE_GROUP = "tortie.io";
export const TORTIE_API_VERSION = "tortie.io/v1";

function k8s(group: string, kind: string, plural: string, namespaced: boolean): KindInfo {
  return { group, version: "v1", kind, plural, namespaced };
}
/** A kind of the Kubernetes network policy API (sig-network's CRDs, installed separately). */
function policyApi(kind: string, plural: string): KindInfo {
  return {
    group: "policy.networking.k8s.io",
    version: "v1alpha1",
    kind,
    plural,
    namespaced: false,
    optional: true,
  };
}
function ours(kind: string, plural: string, namespaced: boolean, internal = false): KindInfo {
  return { group: TORTIE_GROUP, version: "v1", kind, plural, namespaced, internal };
}

export const KINDS = {
  Pod: k8s("", "Pod", "pods", true),
  Namespace: k8s("", "Namespace", "namespaces", false),
  Node: k8s("", "Node", "nodes", false),
  ServiceAccount: k8s("", "ServiceAccount", "serviceaccounts", true),
  Service: k8s("", "Service", "services", true),
  EndpointSlice: k8s("discovery.k8s.io", "EndpointSlice", "endpointslices", true),
  Secret: k8s("", "Secret", "secrets", true),
  KubernetesNetworkPolicy: k8s("networking.k8s.io", "NetworkPolicy", "networkpolicies", true),
  AdminNetworkPolicy: policyApi("AdminNetworkPolicy", "adminnetworkpolicies"),
  BaselineAdminNetworkPolicy: policyApi("BaselineAdminNetworkPolicy", "baselineadminnetworkpolicies"),
  IPPool: ours("IPPool", "ippools", false),
  IPReservation: ours("IPReservation", "ipreservations", false),
  BGPConfiguration: ours("BGPConfiguration", "bgpconfigurations", false),
  BGPPeer: ours("BGPPeer", "bgppeers", false),
  BGPFilter: ours("BGPFilter", "bgpfilters", false),
  NetworkPolicy: ours("NetworkPolicy", "networkpolicies", true),
  GlobalNetworkPolicy: ours("GlobalNetworkPolicy", "globalnetworkpolicies", false),
  NetworkSet: ours("NetworkSet", "networksets", true),
  GlobalNetworkSet: ours("GlobalNetworkSet", "globalnetworksets", false),
  Tier: ours("Tier", "tiers", false),
  IPAMBlock: ours("IPAMBlock", "ipamblocks", false, true),
  IPAMHandle: ours("IPAMHandle", "ipamhandles", false, true),
  BlockAffinity: ours("BlockAffinity", "blockaffinities", false, true),
  WorkloadEndpoint: ours("WorkloadEndpoint", "workloadendpoints", true, true),
  NodeStatus: ours("NodeStatus", "nodestatuses", false, true),
} as const satisfies Record<string, KindInfo>;

export type KindName = keyof typeof KINDS;

export const KIND_NAMES = Object.keys(KINDS) as KindName[];

export function apiVersionOf(info: KindInfo): string {
  return info.group === "" ? info.version : `${info.group}/${info.version}`;
}

/** The kind an object's apiVersion + kind fields name, or undefined when tortie does not store it. */
export function kindOf(apiVersion: string, kind: string): KindName | undefined {
  for (const name of KIND_NAMES) {
    const info = KINDS[name];
    if (info.kind === kind && apiVersionOf(info) === apiVersion) return name;
  }
  return undefined;
}

export function isKindName(s: string): s is KindName {
  return Object.hasOwn(KINDS, s);
}
