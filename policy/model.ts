/**
 * The normalised policy model the compiler consumes. Kubernetes `networking.k8s.io/v1`,
 * `tortie.io/v1` and Calico `projectcalico.org/v3` objects are validated and defaulted by
 * policy/validate.ts and all land in this one shape, so the compiler knows a single semantics.
 */
import type { Selector } from "./selector.js";
import type { ProtoNumber } from "./ir.js";

/** Identifies a policy object as the user wrote it (for errors, explain and rule ids). */
export interface PolicyRef {
  /** `networking.k8s.io/v1`, `tortie.io/v1`, `projectcalico.org/v3` or `policy.networking.k8s.io/v1alpha1`. */
  readonly apiVersion: string;
  readonly kind:
    "NetworkPolicy" | "GlobalNetworkPolicy" | "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy";
  /** null for the cluster-wide kinds. */
  readonly namespace: string | null;
  readonly name: string;
}

/** What committing a staged policy would do to the enforced policy of the same name (Calico). */
export type StagedAction = "set" | "delete" | "learn" | "ignore";

/**
 * A Calico staged policy (`StagedNetworkPolicy`, `StagedGlobalNetworkPolicy`,
 * `StagedKubernetesNetworkPolicy`): never enforced, a preview of `policy` — the enforced policy it
 * stands for, same identity — being set (or, for `delete`, removed).
 */
export interface StagedPolicy {
  readonly kind: "StagedNetworkPolicy" | "StagedGlobalNetworkPolicy" | "StagedKubernetesNetworkPolicy";
  readonly action: StagedAction;
  readonly policy: Policy;
}

/** Whether the policy's selectors see Calico's pseudo-labels and network sets. */
export function calicoSelectors(p: Policy): boolean {
  return p.tier === "extended" && p.kubernetesSelectors !== true;
}

/** `NetworkPolicy default/web`, `GlobalNetworkPolicy deny-all` — the object name in messages. */
export function refText(ref: PolicyRef): string {
  return ref.namespace === null ? `${ref.kind} ${ref.name}` : `${ref.kind} ${ref.namespace}/${ref.name}`;
}

export type PolicyAction = "allow" | "deny" | "pass" | "log";

/**
 * Which namespaces an endpoint match looks in. `global` is Calico's `namespaceSelector: global()`:
 * no namespace at all, so only GlobalNetworkSets (pods always have one).
 */
export type NamespaceScope =
  | { readonly kind: "same"; readonly namespace: string }
  | { readonly kind: "selector"; readonly selector: Selector }
  | { readonly kind: "all" }
  | { readonly kind: "global" };

/** Pods in `namespaces` whose labels match `pods` (and, if set, whose service account matches). */
export interface PodPeer {
  readonly kind: "pods";
  readonly namespaces: NamespaceScope;
  readonly pods: Selector;
  readonly serviceAccounts?: ServiceAccountMatch;
}

/** `ipBlock`: `cidr` (canonical, host bits cleared) less every `except` CIDR. */
export interface IpBlockPeer {
  readonly kind: "ipBlock";
  readonly cidr: string;
  readonly except: readonly string[];
}

export type Peer = PodPeer | IpBlockPeer;

/** Calico's `services` match: the endpoints of a Kubernetes Service (and, as a destination, its ports). */
export interface ServiceMatch {
  readonly name: string;
  readonly namespace: string;
}

/** Calico serviceAccountSelector / serviceAccounts: by name and/or by the service account's labels. */
export interface ServiceAccountMatch {
  readonly names: readonly string[];
  readonly selector: Selector | null;
}

/** A port, a range (`endPort` / Calico `"lo:hi"`) or a name resolved on the destination pod. */
export type PortSpec =
  | { readonly kind: "number"; readonly port: number; readonly endPort?: number }
  | { readonly kind: "named"; readonly name: string };

/**
 * One side (source or destination) of a rule. All present fields must hold (AND).
 * `peers` is a Kubernetes peer list (OR of its entries); absent means "any address".
 */
export interface EntityMatch {
  readonly peers?: readonly Peer[];
  /** Addresses that must NOT be those of pods matching this (Calico notSelector). */
  readonly notPods?: PodPeer;
  readonly nets?: readonly string[];
  readonly notNets?: readonly string[];
  readonly ports?: readonly PortSpec[];
  readonly notPorts?: readonly PortSpec[];
  readonly services?: ServiceMatch;
}

export interface IcmpSpec {
  readonly type: number;
  readonly code?: number;
}

export interface PolicyRule {
  /** Index of the rule in `spec.ingress` / `spec.egress` as written. */
  readonly index: number;
  readonly action: PolicyAction;
  /** Restricts the rule to one family (Calico ipVersion, or implied by nets/ICMP). */
  readonly ipVersion?: 4 | 6;
  readonly protocol?: ProtoNumber;
  readonly notProtocol?: ProtoNumber;
  readonly icmp?: IcmpSpec;
  readonly notIcmp?: IcmpSpec;
  readonly source: EntityMatch;
  readonly destination: EntityMatch;
}

export interface Policy {
  readonly ref: PolicyRef;
  /** Kubernetes policies form the second tier; tortie.io and Calico ones the first. */
  readonly tier: "extended" | "kubernetes";
  /** Evaluation order inside the extended tier; null sorts last. */
  readonly order: number | null;
  /** The Calico tier of an extended policy (`spec.tier`); absent: the default tier. */
  readonly tierName?: string;
  /**
   * Selectors are Kubernetes label selectors over pods and namespaces only (AdminNetworkPolicy):
   * no Calico pseudo-labels, no network sets, although the policy is evaluated in a tier.
   */
  readonly kubernetesSelectors?: true;
  /** Endpoints the policy applies to. */
  readonly applies: PodPeer;
  /** Directions this policy applies to (policyTypes / types, defaulted). */
  readonly ingress: readonly PolicyRule[] | null;
  readonly egress: readonly PolicyRule[] | null;
}
