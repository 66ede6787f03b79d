/**
 * The intermediate form between the policy compiler and the dataplane renderers.
 *
 * `compile(input)` (policy/compile.ts) turns the desired state of one node into a `PolicyIR`; the
 * nftables and iptables renderers turn a `PolicyIR` into a transaction, and `diffIR` style code
 * compares two of them to emit the minimal change. `explain` evaluates the same form, so what the
 * CLI says and what the kernel does cannot drift apart.
 *
 * Design rules every renderer can rely on:
 * - Everything is plain, JSON-serialisable data, sorted deterministically. Two compiles of the same
 *   input produce deep-equal IRs (and equal JSON text).
 * - Sets, policy chains and endpoint chains are keyed by names derived from their *identity*, never
 *   from their contents that change often:
 *     - an address set's name hashes its definition (the selector text, namespace context and CIDRs
 *       it was made from), so a pod label or IP change alters only that set's `elements`;
 *     - a policy chain's name hashes the policy's identity (kind, namespace, name) and direction, so
 *       editing a policy rewrites only that chain's `rules`;
 *     - an endpoint chain's name is derived from the pod's host interface name.
 *   A renderer therefore diffs by name: same name + different elements = element add/delete; same
 *   name + different rules = flush and refill that chain; names that appear/disappear = add/delete.
 * - Names are short ASCII ([a-z0-9-], at most 28 characters) so they fit iptables chain names (28),
 *   ipset names (31) and nftables names alike.
 * - Every rule carries a stable `id` (unique in the IR, at most 64 characters, [A-Za-z0-9:._/-]) for
 *   per-rule counters and a structured `origin` for explain attribution.
 */
import type { Policy, PolicyRef } from "./model.js";

export type { PolicyRef } from "./model.js";

/** IP family of a set or rule. */
export type Family = 4 | 6;

/** Traffic direction relative to the endpoint that owns the chain. */
export type Direction = "ingress" | "egress";

/**
 * A CIDR in canonical form: network address (host bits cleared), explicit prefix length, IPv6 in
 * RFC 5952 compressed lowercase. A single address is written `/32` or `/128`.
 * e.g. `10.0.0.0/24`, `10.1.2.3/32`, `fd00::/64`.
 */
export type Cidr = string;

/** IANA protocol numbers the IR uses for L4 matches (nft `meta l4proto`, iptables `-p`). */
export const PROTO = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132, udplite: 136 } as const;
export type ProtoName = keyof typeof PROTO;
/** A protocol by IANA number (0..255). Named protocols are stored as their number via PROTO. */
export type ProtoNumber = number;

// ---------------------------------------------------------------------------------------------
// Sets
// ---------------------------------------------------------------------------------------------

/**
 * A named set of addresses of one family, always an *interval* set (nft `flags interval`; ipset
 * `hash:net`). `elements` are canonical CIDRs, sorted by address, non-overlapping and with adjacent
 * prefixes already merged, so they load without `auto-merge` and compare element by element.
 * `ipBlock.except` and Calico `notNets` inside an ipBlock are already subtracted: the elements are
 * the exact address space the set stands for.
 *
 * An empty set is still emitted when its definition is in use: membership can grow later by element
 * updates alone.
 */
export interface AddrSet {
  readonly kind: "addr";
  /** `ts4-<16 hex>` / `ts6-<16 hex>` (hash of `definition`). */
  readonly name: string;
  readonly family: Family;
  readonly elements: readonly Cidr[];
  /** Human-readable definition the name was hashed from (for comments, `explain`, debugging). */
  readonly definition: string;
}

/** One element of a named-port set: `addr . proto . port`. */
export interface AddrProtoPort {
  /** A single address, no prefix (`10.0.0.5`, `fd00::5`). */
  readonly addr: string;
  readonly proto: ProtoNumber;
  readonly port: number;
}

/**
 * A named-port set: every (pod address, protocol, port) for which one of the port names listed in
 * `definition` resolves on that pod (container port `name` with matching `protocol`). nft type
 * `ipv4_addr . inet_proto . inet_service` (or `ipv6_addr . ...`), matched as
 * `ip daddr . meta l4proto . th dport @name`; ipset `hash:ip,port` with `proto:port`.
 *
 * Named ports always resolve on the *destination* pod, so the match is on the destination address
 * in both directions. For ingress the destination is the endpoint itself, so sets of ingress rules
 * hold only this node's endpoints (definition `... on this node`); egress ones hold every pod.
 * Elements are sorted by (addr, proto, port) and unique.
 */
export interface NamedPortSet {
  readonly kind: "named-port";
  /** `tn4-<16 hex>` / `tn6-<16 hex>` (hash of `definition`). */
  readonly name: string;
  readonly family: Family;
  readonly elements: readonly AddrProtoPort[];
  /** e.g. `named ports http/TCP,metrics/TCP` */
  readonly definition: string;
}

export type IRSet = AddrSet | NamedPortSet;

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/** The packet's address on one side must (or, negated, must not) be in a named address set. */
export interface AddrSetMatch {
  readonly set: string;
  readonly negate: boolean;
}

/** A port list entry: one port or an inclusive range `[first, last]` (first < last). */
export type PortEntry = number | readonly [number, number];

/**
 * Transport ports of one side. Only present when the rule's `protocol` is TCP, UDP, SCTP or UDPLite
 * (the compiler guarantees this). Entries are sorted and non-overlapping.
 */
export interface PortMatch {
  readonly ports: readonly PortEntry[];
  /** true: the port must be none of `ports` (Calico notPorts). */
  readonly negate: boolean;
}

/** `(daddr, l4proto, dport)` must (or must not) be in a named-port set. */
export interface NamedPortMatch {
  readonly set: string;
  readonly negate: boolean;
}

/** ICMP (family 4) or ICMPv6 (family 6) type and optional code. */
export interface IcmpMatch {
  readonly type: number;
  readonly code?: number;
  readonly negate: boolean;
}

/**
 * Everything a rule matches on; all present conditions must hold (AND). Absent = any.
 *
 * `src` and `dst` are the packet's source and destination, not "peer": for an ingress rule the peer
 * is `src`, for an egress rule the peer is `dst`. Each is a list of set matches that must ALL hold
 * (Calico `selector` and `nets` and not `notSelector` and not `notNets`); a Kubernetes peer list is
 * already folded into one set (the union of all its peers) so it is a single entry.
 */
export interface RuleMatch {
  /** L4 protocol number; `negate` means "any protocol but this one" (Calico notProtocol). */
  readonly protocol?: { readonly proto: ProtoNumber; readonly negate: boolean };
  readonly src?: readonly AddrSetMatch[];
  readonly dst?: readonly AddrSetMatch[];
  readonly srcPorts?: readonly PortMatch[];
  /** Each PortMatch must hold (e.g. one positive `ports` and one negated `notPorts`). */
  readonly dstPorts?: readonly PortMatch[];
  /** Destination named ports; each must hold. Only on family-specific rules. */
  readonly dstNamedPorts?: readonly NamedPortMatch[];
  /** Only with protocol ICMP (family 4) or ICMPv6 (family 6). */
  readonly icmp?: readonly IcmpMatch[];
}

/**
 * What a matching rule does.
 * - `allow`: this direction allows the packet. The policy evaluation for this direction ends; the
 *   packet must still pass the *other* direction's chain (egress of the source endpoint, then ingress
 *   of the destination endpoint). In nft a plain `accept` inside a jumped-to chain would end the whole
 *   base chain, so a renderer typically sets a mark and `return`s (as felix does), or renders allow as
 *   `accept` only in the last direction evaluated.
 * - `deny`: drop the packet.
 * - `pass`: stop evaluating the extended tier and continue with the Kubernetes tier of the same
 *   endpoint chain (Calico Pass). Policy chains are shared across endpoints, so a renderer typically
 *   sets a "pass" mark bit and `return`s, and the endpoint chain checks the bit after each extended
 *   policy jump.
 * - `log`: log the packet (nft `log prefix`, iptables `-j NFLOG/LOG`) and continue with the next rule.
 */
export type RuleAction = "allow" | "deny" | "pass" | "log";

/** Where a rule came from, for `explain` and counter attribution. */
export interface RuleOrigin {
  readonly policy: PolicyRef;
  readonly direction: Direction;
  /** Index into the policy's `spec.ingress` / `spec.egress` as written by the user. */
  readonly ruleIndex: number;
  /**
   * A source rule may compile to several IR rules (one per family, per protocol group, named vs
   * numeric ports); `part` numbers them from 0 in emission order.
   */
  readonly part: number;
}

export interface IRRule {
  /**
   * Stable and unique: `<policy chain name>:<ruleIndex>.<part>`, e.g. `tpi-0123456789abcdef:2.1`.
   * Renderers put it in the rule comment / named counter; explain reports it.
   */
  readonly id: string;
  /** null: family independent (no address, ICMP or named-port match); render once for both. */
  readonly family: Family | null;
  readonly match: RuleMatch;
  readonly action: RuleAction;
  /** Only for `log`: a prefix of at most 28 characters (`tortie <policy-hash> `). */
  readonly logPrefix?: string;
  readonly origin: RuleOrigin;
}

// ---------------------------------------------------------------------------------------------
// Chains
// ---------------------------------------------------------------------------------------------

/** Which tier a policy belongs to. Extended (tortie.io/v1, projectcalico.org/v3) come first. */
export type Tier = "extended" | "kubernetes";

/**
 * One policy's rules for one direction, shared by every local endpoint the policy selects. Rules are
 * evaluated in order; the first allow/deny/pass ends the chain; if none matches the chain returns
 * without a verdict. Kubernetes policies only produce `allow` rules.
 */
export interface PolicyChain {
  /** `tpi-<16 hex>` (ingress) / `tpe-<16 hex>` (egress), hash of kind/namespace/name. */
  readonly name: string;
  readonly policy: PolicyRef;
  readonly tier: Tier;
  readonly direction: Direction;
  readonly rules: readonly IRRule[];
}

/**
 * The per-endpoint chain of one direction. Evaluation (the Kubernetes semantics plus Calico's tiers):
 * 1. `extended`: jump to each policy chain in order (extended policies selecting this endpoint in this
 *    direction, by `order` ascending, absent order last, then by name). allow/deny end evaluation;
 *    pass skips the remaining extended chains and goes to step 2 with "passed" set.
 * 2. `kubernetes`: jump to each Kubernetes policy chain (by namespace/name); an allow ends evaluation.
 * 3. No verdict: `endAction` if not passed, `endActionAfterPass` if passed.
 *    - `endAction` is `deny` when the endpoint is selected, in this direction, by ANY policy (extended
 *      or Kubernetes): it is isolated; otherwise `allow` (Kubernetes default allow).
 *    - `endActionAfterPass` is `deny` only when a Kubernetes policy selects it in this direction (a
 *      Pass hands the decision to the Kubernetes tier; with no Kubernetes policy there, Calico's
 *      profile default applies: allow).
 * Chains of an endpoint exist even when both tiers are empty (endAction allow), so dispatch entries
 * change only when endpoints come and go.
 *
 * Calico tiers other than the default one (Tier objects, `spec.tier` of an extended policy) wrap
 * around this: `tiersBefore` run first (a tier's allow/deny ends evaluation, its Pass or its
 * `endAction` pass goes on), then the default tier above, where `allow` at the end means "go on to
 * `tiersAfter`", which run the same way; when every tier has passed, the packet is allowed (Calico's
 * profile default for a Kubernetes pod).
 */
export interface EndpointChain {
  /** `tei-<ifname without "tort">` / `tee-<...>`, e.g. `tei-0123456789a`. */
  readonly name: string;
  readonly endpoint: EndpointKey;
  readonly direction: Direction;
  /** Tiers ordered before the default tier (absent: none applies to this endpoint). */
  readonly tiersBefore?: readonly TierChains[];
  /** Names of PolicyChains (same direction), in evaluation order. */
  readonly extended: readonly string[];
  readonly kubernetes: readonly string[];
  readonly endAction: "allow" | "deny";
  readonly endActionAfterPass: "allow" | "deny";
  /**
   * Tiers ordered after the default tier (absent: none). Reached when the default tier ends without
   * a deny (its `allow` then means "no decision"); after the last of them, allow.
   */
  readonly tiersAfter?: readonly TierChains[];
}

/**
 * One Calico tier other than the default one, as it applies to one endpoint in one direction:
 * its policy chains are jumped to in order; allow and deny end the evaluation, Pass skips to the
 * next tier; when no policy decides, `endAction` — deny (Calico's end-of-tier drop) or pass. A tier
 * without a policy selecting the endpoint is left out (Calico skips it).
 */
export interface TierChains {
  readonly tier: string;
  /** PolicyChain names (same direction), in evaluation order; never empty. */
  readonly policies: readonly string[];
  readonly endAction: "deny" | "pass";
}

/**
 * An endpoint chain as a backend-neutral list of steps, so both renderers lay out the tier
 * semantics above the same way and differ only in syntax:
 * - `clear-pass`: clear the pass bit (the start of a tier); `id` names the rule (`tier-<t>`, `clear-pass`);
 * - `jump`: to a policy chain, skipped once a Pass set the bit when `unlessPassed`;
 * - `verdict`: allow or deny, always, only when a Pass set the bit, or only when none did.
 */
export type EndpointStep =
  | { readonly step: "clear-pass"; readonly id: string }
  | { readonly step: "jump"; readonly chain: string; readonly unlessPassed: boolean }
  | {
      readonly step: "verdict";
      readonly id: string;
      readonly action: "allow" | "deny";
      readonly when: "always" | "passed" | "not-passed";
    };

export function endpointSteps(ec: EndpointChain): EndpointStep[] {
  const steps: EndpointStep[] = [];
  const jumps = (chains: readonly string[], guarded: boolean): void => {
    chains.forEach((chain, i) => steps.push({ step: "jump", chain, unlessPassed: guarded && i > 0 }));
  };
  const tier = (t: TierChains): void => {
    steps.push({ step: "clear-pass", id: `tier-${t.tier}` });
    jumps(t.policies, true);
    if (t.endAction === "deny")
      steps.push({ step: "verdict", id: `end-of-tier-${t.tier}`, action: "deny", when: "not-passed" });
  };
  for (const t of ec.tiersBefore ?? []) tier(t);
  const after = ec.tiersAfter ?? [];
  if (ec.extended.length > 0) steps.push({ step: "clear-pass", id: "clear-pass" });
  jumps(ec.extended, true);
  jumps(ec.kubernetes, false);
  // With tiers after the default one, the default tier's allow means "no decision here": only its
  // denies are verdicts, and the chain goes on.
  const decides = (a: "allow" | "deny"): boolean => after.length === 0 || a === "deny";
  const split = ec.extended.length > 0 && ec.endActionAfterPass !== ec.endAction;
  if (split && decides(ec.endActionAfterPass))
    steps.push({ step: "verdict", id: "after-pass", action: ec.endActionAfterPass, when: "passed" });
  if (decides(ec.endAction))
    steps.push({
      step: "verdict",
      id: "default",
      action: ec.endAction,
      when: after.length > 0 && split ? "not-passed" : "always",
    });
  for (const t of after) tier(t);
  if (after.length > 0) steps.push({ step: "verdict", id: "after-tiers", action: "allow", when: "always" });
  return steps;
}

/** A pod on this node, identified as Kubernetes does. */
export interface EndpointKey {
  readonly namespace: string;
  readonly pod: string;
}

/** A local pod as the dataplane sees it. */
export interface IREndpoint extends EndpointKey {
  /** hostIfName(namespace, pod) from core/ifname.ts. */
  readonly ifName: string;
  /** The pod's addresses (no prefix), IPv4 and IPv6 separately, sorted. */
  readonly ipv4: readonly string[];
  readonly ipv6: readonly string[];
  readonly ingressChain: string;
  readonly egressChain: string;
}

/**
 * Interface-name dispatch from the forward hook: a packet whose input interface is a pod's host-side
 * veth comes FROM that pod (its egress chain); a packet whose output interface is one goes TO it (its
 * ingress chain). Rendered as verdict maps (`iifname vmap { "tort…" : jump tee-… }`), O(1) per
 * packet. Sorted by ifName.
 *
 * Only the forward hook dispatches: the API reference allows ingress "if the traffic source is the
 * pod's local node" (kubelet probes), and that traffic leaves the host through the output hook, which
 * tortie does not filter.
 */
export interface DispatchEntry {
  readonly ifName: string;
  readonly chain: string;
}

export interface Dispatch {
  /** iifname → egress endpoint chain (evaluated first). */
  readonly fromEndpoint: readonly DispatchEntry[];
  /** oifname → ingress endpoint chain (evaluated second). */
  readonly toEndpoint: readonly DispatchEntry[];
}

/**
 * The fixed head of the forward hook, before dispatch: `ct state established,related accept` (replies
 * of allowed connections flow; NetworkPolicy judges only the initiating direction) and
 * `ct state invalid drop`. A constant, typed so renderers cannot forget it.
 */
export interface Preamble {
  readonly established: "accept";
  readonly related: "accept";
  readonly invalid: "drop";
}

export const PREAMBLE: Preamble = { established: "accept", related: "accept", invalid: "drop" };

// ---------------------------------------------------------------------------------------------
// The whole form
// ---------------------------------------------------------------------------------------------

export interface PolicyIR {
  /** The node compiled for; null when compiled for every pod (explain across nodes). */
  readonly node: string | null;
  readonly preamble: Preamble;
  /** Sorted by name. Contains exactly the sets some rule references. */
  readonly sets: readonly IRSet[];
  /** Sorted by name. Only chains of policies that select at least one local endpoint. */
  readonly policyChains: readonly PolicyChain[];
  /** Sorted by name; two per local endpoint (ingress, egress). */
  readonly endpointChains: readonly EndpointChain[];
  /** Local endpoints (pods with spec.nodeName == node and at least one IP), sorted by ifName. */
  readonly endpoints: readonly IREndpoint[];
  readonly dispatch: Dispatch;
}

// ---------------------------------------------------------------------------------------------
// Compiler input and signature
// ---------------------------------------------------------------------------------------------

/** A container port as `spec.containers[].ports[]` gives it (protocol defaulted to TCP). */
export interface ContainerPort {
  readonly name?: string;
  readonly containerPort: number;
  readonly protocol: "TCP" | "UDP" | "SCTP";
}

/** A v1 Pod reduced to what policy needs. */
export interface PodState {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** spec.nodeName; null if unscheduled. */
  readonly nodeName: string | null;
  /** spec.serviceAccountName, defaulted to "default" as the API server does. */
  readonly serviceAccountName: string;
  readonly ports: readonly ContainerPort[];
  /** status.podIPs (or status.podIP), canonical text, IPv4 and IPv6 mixed in API order. */
  readonly ips: readonly string[];
}

/** A v1 Namespace reduced to its labels (`kubernetes.io/metadata.name` added as the API server does). */
export interface NamespaceState {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** The tier every policy without `spec.tier` belongs to, with the Kubernetes policies. */
export const DEFAULT_TIER = "default";
/** Calico's fixed order of the default tier: tiers with a smaller order are evaluated before it. */
export const DEFAULT_TIER_ORDER = 1_000_000;
/** Where Kubernetes AdminNetworkPolicies are evaluated (Calico's name and fixed place for it). */
export const ADMIN_TIER = "kube-admin";
/** Where the BaselineAdminNetworkPolicy is evaluated: after NetworkPolicies. */
export const BASELINE_TIER = "kube-baseline";

/**
 * Tiers that exist without a Tier object, with their fixed order and action (a Tier object of the
 * same name must say the same). AdminNetworkPolicies that no rule decides, and the baseline, pass.
 */
export const BUILTIN_TIERS: ReadonlyMap<string, TierState> = new Map([
  [DEFAULT_TIER, { name: DEFAULT_TIER, order: DEFAULT_TIER_ORDER, defaultAction: "deny" }],
  [ADMIN_TIER, { name: ADMIN_TIER, order: 1_000, defaultAction: "pass" }],
  [BASELINE_TIER, { name: BASELINE_TIER, order: 10_000_000, defaultAction: "pass" }],
]);

/**
 * A Calico Tier (`projectcalico.org/v3` or `tortie.io/v1`): an ordered group of extended policies.
 * `order` null sorts after every ordered tier (then by name); `defaultAction` is what happens to a
 * packet when the tier has a policy for the endpoint but none of them decides.
 */
export interface TierState {
  readonly name: string;
  readonly order: number | null;
  readonly defaultAction: "deny" | "pass";
}

/** A v1 ServiceAccount reduced to its labels (for Calico serviceAccountSelector). */
export interface ServiceAccountState {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * A Calico NetworkSet (`namespace` set) or GlobalNetworkSet (`namespace` null): labelled networks,
 * outside the cluster as a rule, that the selectors of extended policies' rules match as they
 * match pods.
 */
export interface NetworkSetState {
  readonly namespace: string | null;
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** spec.nets, canonical (host bits cleared, an address as a /32 or /128), IPv4 and IPv6 mixed. */
  readonly nets: readonly Cidr[];
}

/** `GlobalNetworkSet name` / `NetworkSet ns/name`: a network set's identity, in keys and messages. */
export function networkSetRef(namespace: string | null, name: string): string {
  return namespace === null ? `GlobalNetworkSet ${name}` : `NetworkSet ${namespace}/${name}`;
}

/**
 * A `discovery.k8s.io/v1` EndpointSlice of a Service (label `kubernetes.io/service-name`), reduced to
 * what Calico's `services` rule match needs: its addresses and ports. FQDN slices are left out.
 */
export interface EndpointSliceState {
  readonly namespace: string;
  readonly name: string;
  readonly service: string;
  readonly family: Family;
  /** Canonical addresses of every endpoint. */
  readonly addresses: readonly string[];
  /** Ports with a number (a port without one restricts nothing and is not matched). */
  readonly ports: readonly { readonly port: number; readonly protocol: ProtoNumber }[];
}

/** What the cluster looks like, as the state loader (policy/state.ts) or the datastore provides it. */
export interface ClusterState {
  readonly namespaces: readonly NamespaceState[];
  readonly pods: readonly PodState[];
  readonly serviceAccounts: readonly ServiceAccountState[];
  /** Absent: none. */
  readonly networkSets?: readonly NetworkSetState[];
  /** Absent: none. */
  readonly endpointSlices?: readonly EndpointSliceState[];
  /** Absent: none (only the default tier). */
  readonly tiers?: readonly TierState[];
}

export interface CompileInput {
  readonly state: ClusterState;
  /** Valid, normalised policies (policy/model.ts); invalid ones were dropped with problems. */
  readonly policies: readonly Policy[];
  /** The node to compile for; null compiles every pod with an IP as an endpoint (explain). */
  readonly node: string | null;
}

/** The compiler: pure, deterministic, total on valid policies. Implemented by policy/compile.ts. */
export type CompileFn = (input: CompileInput) => PolicyIR;
