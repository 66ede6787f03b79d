/**
 * The policy compiler: (this node's endpoints, all pods and namespaces, all valid policies) → IR.
 * Pure and deterministic. Set and chain names hash identities, not contents (see policy/ir.ts).
 */
import { hash } from "node:crypto";
import { hostIfName } from "../core/ifname.js";
import { type Interval, addrInterval, intervalsToCidrs, parseAddr, parseCidr } from "./cidr.js";
import {
  type AddrProtoPort,
  type AddrSetMatch,
  type ClusterState,
  type CompileFn,
  type CompileInput,
  type Direction,
  BUILTIN_TIERS,
  DEFAULT_TIER,
  type EndpointChain,
  type EndpointKey,
  type Family,
  type IRRule,
  type IRSet,
  type IcmpMatch,
  type NamedPortMatch,
  type NamespaceState,
  type NetworkSetState,
  type EndpointSliceState,
  PREAMBLE,
  type PodState,
  type PolicyChain,
  type PolicyIR,
  type PortEntry,
  type PortMatch,
  type RuleMatch,
  type TierChains,
  type TierState,
} from "./ir.js";
import type {
  EntityMatch,
  Peer,
  PodPeer,
  Policy,
  PolicyRef,
  PolicyRule,
  PortSpec,
  ServiceMatch,
} from "./model.js";
import { calicoSelectors, refText } from "./model.js";
import { type Labels, type Selector, matches, printSelector } from "./selector.js";
import { ipBlockIntervals } from "./validate.js";

const hash16 = (s: string): string => hash("sha1", s, "hex").slice(0, 16);

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function policyKey(ref: PolicyRef): string {
  return `${ref.apiVersion}/${ref.kind}/${ref.namespace ?? ""}/${ref.name}`;
}

/**
 * A policy's chain names, per (immutable) ref: an endpoint chain names every policy selecting its
 * pod, and is remade whenever one of them changes, which building a node does thousands of times.
 */
const chainNames = new WeakMap<PolicyRef, Record<Direction, string>>();

/** `tpi-…` / `tpe-…`: the chain of one policy and direction. */
export function policyChainName(ref: PolicyRef, dir: Direction): string {
  let names = chainNames.get(ref);
  if (!names) {
    const h = hash16(policyKey(ref));
    names = { ingress: `tpi-${h}`, egress: `tpe-${h}` };
    chainNames.set(ref, names);
  }
  return names[dir];
}

/** `tei-…` / `tee-…`: an endpoint's chain, from its host interface name. */
export function endpointChainName(ifName: string, dir: Direction): string {
  return `te${dir === "ingress" ? "i" : "e"}-${ifName.slice(4)}`;
}

/** Sorting of the extended tier: by order (absent last), then by name, as Calico does. */
export function comparePolicies(a: Policy, b: Policy): number {
  const oa = a.order ?? Number.POSITIVE_INFINITY;
  const ob = b.order ?? Number.POSITIVE_INFINITY;
  if (oa !== ob) return oa < ob ? -1 : 1;
  return cmp(refText(a.ref), refText(b.ref)) || cmp(a.ref.apiVersion, b.ref.apiVersion);
}

/** Tier objects by name. */
export type TierTable = ReadonlyMap<string, TierState>;

/**
 * A tier as evaluation sees it. The built-in tiers' places are fixed; a tier a policy names before
 * its Tier object exists (or after it went) sorts last and denies at its end, so a policy is never
 * weakened by a missing object.
 */
export function tierOf(tiers: TierTable, name: string): TierState {
  return BUILTIN_TIERS.get(name) ?? tiers.get(name) ?? { name, order: null, defaultAction: "deny" };
}

/** Calico's tier order: by order (absent last), then by name. */
export function compareTiers(a: TierState, b: TierState): number {
  const oa = a.order ?? Number.POSITIVE_INFINITY;
  const ob = b.order ?? Number.POSITIVE_INFINITY;
  if (oa !== ob) return oa < ob ? -1 : 1;
  return cmp(a.name, b.name);
}

/**
 * One direction's chain of a local endpoint, from the policies selecting it in that direction (in
 * any order): the one place tier semantics (policy/ir.ts, EndpointChain) become chain lists, shared
 * by the reference compiler and the incremental calculation.
 */
export function endpointChainOf(
  name: string,
  endpoint: EndpointKey,
  dir: Direction,
  applying: readonly Policy[],
  tiers: TierTable,
): EndpointChain {
  const byTier = new Map<string, Policy[]>();
  const k8s: Policy[] = [];
  for (const p of applying) {
    if (p.tier === "kubernetes") {
      k8s.push(p);
      continue;
    }
    const t = p.tierName ?? DEFAULT_TIER;
    const list = byTier.get(t);
    if (list) list.push(p);
    else byTier.set(t, [p]);
  }
  const names = (list: readonly Policy[]): string[] => list.map((p) => policyChainName(p.ref, dir));
  const ext = names((byTier.get(DEFAULT_TIER) ?? []).sort(comparePolicies));
  const kubernetes = names(k8s.sort((a, b) => cmp(refText(a.ref), refText(b.ref))));
  const before: TierChains[] = [];
  const after: TierChains[] = [];
  const others = [...byTier.keys()]
    .filter((t) => t !== DEFAULT_TIER)
    .map((t) => tierOf(tiers, t))
    .sort(compareTiers);
  for (const t of others)
    (compareTiers(t, tierOf(tiers, DEFAULT_TIER)) < 0 ? before : after).push({
      tier: t.name,
      policies: names((byTier.get(t.name) ?? []).sort(comparePolicies)),
      endAction: t.defaultAction,
    });
  return {
    name,
    endpoint: { namespace: endpoint.namespace, pod: endpoint.pod },
    direction: dir,
    ...(before.length ? { tiersBefore: before } : {}),
    extended: ext,
    kubernetes,
    endAction: ext.length + kubernetes.length > 0 ? "deny" : "allow",
    endActionAfterPass: kubernetes.length > 0 ? "deny" : "allow",
    ...(after.length ? { tiersAfter: after } : {}),
  };
}

/**
 * Pods and namespaces are immutable values: the labels an extended selector sees are made once per
 * object, not once per selector checked against it (building such an object costs V8 microseconds).
 */
const calicoPodLabels = new WeakMap<PodState, Labels>();
const calicoNsLabels = new WeakMap<NamespaceState, Labels>();

/** Calico's pseudo-labels of a pod: what an extended selector sees on top of the pod's own labels. */
export function podPseudoLabels(pod: PodState): Labels {
  return {
    "projectcalico.org/namespace": pod.namespace,
    "projectcalico.org/orchestrator": "k8s",
    "projectcalico.org/serviceaccount": pod.serviceAccountName,
  };
}

/** Calico's pseudo-label of a namespace. */
export function nsPseudoLabels(ns: string): Labels {
  return { "projectcalico.org/name": ns };
}

/**
 * The labels a selector sees. Extended (Calico-style) selectors also see Calico's pseudo-labels, so
 * `projectcalico.org/namespace == "x"` works as in Calico; Kubernetes selectors see only real labels.
 */
export class Matcher {
  constructor(
    private readonly namespaces: ReadonlyMap<string, NamespaceState>,
    private readonly saLabels: ReadonlyMap<string, Labels>,
  ) {}
  static of(state: ClusterState): Matcher {
    return new Matcher(
      new Map(state.namespaces.map((n) => [n.name, n])),
      new Map(state.serviceAccounts.map((s) => [`${s.namespace}/${s.name}`, s.labels])),
    );
  }
  nsLabels(ns: string, calico: boolean): Labels {
    const n = this.namespaces.get(ns);
    const base = n?.labels ?? { "kubernetes.io/metadata.name": ns };
    if (!calico) return base;
    let l = n && calicoNsLabels.get(n);
    if (!l) {
      l = { ...base, ...nsPseudoLabels(ns) };
      if (n) calicoNsLabels.set(n, l);
    }
    return l;
  }
  private podLabels(pod: PodState, calico: boolean): Labels {
    if (!calico) return pod.labels;
    let l = calicoPodLabels.get(pod);
    if (!l) {
      l = { ...pod.labels, ...podPseudoLabels(pod) };
      calicoPodLabels.set(pod, l);
    }
    return l;
  }
  pod(peer: PodPeer, pod: PodState, calico: boolean): boolean {
    const ns = peer.namespaces;
    if (ns.kind === "global") return false;
    if (ns.kind === "same" && pod.namespace !== ns.namespace) return false;
    if (ns.kind === "selector" && !matches(ns.selector, this.nsLabels(pod.namespace, calico))) return false;
    if (!matches(peer.pods, this.podLabels(pod, calico))) return false;
    const sa = peer.serviceAccounts;
    if (sa) {
      if (sa.names.length > 0 && !sa.names.includes(pod.serviceAccountName)) return false;
      if (
        sa.selector &&
        !matches(sa.selector, this.saLabels.get(`${pod.namespace}/${pod.serviceAccountName}`) ?? {})
      )
        return false;
    }
    return true;
  }

  /**
   * Whether a peer takes a network set's nets, as Calico decides: only rules of extended policies
   * match network sets; a NetworkSet within the peer's namespaces like a pod would be, a
   * GlobalNetworkSet when the peer looks in every namespace (a cluster-wide policy's rule without a
   * namespaceSelector) or in none (`global()`). A service account condition never holds for one.
   */
  netSet(peer: PodPeer, s: NetworkSetState, calico: boolean): boolean {
    if (!calico || peer.serviceAccounts) return false;
    const ns = peer.namespaces;
    if (s.namespace === null) {
      if (ns.kind !== "all" && ns.kind !== "global") return false;
    } else if (ns.kind === "global") return false;
    else if (ns.kind === "same" && s.namespace !== ns.namespace) return false;
    else if (ns.kind === "selector" && !matches(ns.selector, this.nsLabels(s.namespace, true))) return false;
    return matches(peer.pods, netSetLabels(s));
  }
}

const netSetLabelCache = new WeakMap<NetworkSetState, Labels>();

/** A network set's labels as an extended selector sees them: a NetworkSet's also name its namespace. */
export function netSetLabels(s: NetworkSetState): Labels {
  if (s.namespace === null) return s.labels;
  let l = netSetLabelCache.get(s);
  if (!l) {
    l = { ...s.labels, "projectcalico.org/namespace": s.namespace };
    netSetLabelCache.set(s, l);
  }
  return l;
}

const netSetAddrCache = new WeakMap<NetworkSetState, ByFamily>();

/** A network set's nets of one family as intervals (not normalised: nets may overlap). */
export function netSetIntervals(s: NetworkSetState, family: Family): readonly Interval[] {
  return intervalsOf(netSetAddrCache, s, s.nets, parseCidr)[family];
}

function selText(s: Selector): string {
  return printSelector(s);
}

export function podPeerText(p: PodPeer): string {
  const ns = p.namespaces;
  const nsText =
    ns.kind === "same"
      ? `ns=${ns.namespace}`
      : ns.kind === "all"
        ? "ns=*"
        : ns.kind === "global"
          ? "ns=global()"
          : `nssel=${selText(ns.selector)}`;
  const sa = p.serviceAccounts
    ? `; sa=${[...p.serviceAccounts.names].sort().join(",")}${p.serviceAccounts.selector ? `|${selText(p.serviceAccounts.selector)}` : ""}`
    : "";
  return `pods(${nsText}; ${selText(p.pods)}${sa})`;
}

function peerText(p: Peer): string {
  return p.kind === "pods"
    ? podPeerText(p)
    : `ipBlock(${p.cidr}${p.except.length ? ` except ${[...p.except].sort().join(",")}` : ""})`;
}

function familyOfCidr(c: string): Family {
  return c.includes(":") ? 6 : 4;
}

function portEntries(specs: readonly PortSpec[]): PortEntry[] {
  const ivs: Array<[number, number]> = [];
  for (const s of specs) if (s.kind === "number") ivs.push([s.port, s.endPort ?? s.port]);
  ivs.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const iv of ivs) {
    const last = merged[merged.length - 1];
    if (last && iv[0] <= last[1] + 1) last[1] = Math.max(last[1], iv[1]);
    else merged.push([iv[0], iv[1]]);
  }
  return merged.map(([a, b]) => (a === b ? a : ([a, b] as const)));
}

/**
 * What a named set stands for, independent of the cluster's pods: the compiler of a policy's chains
 * produces these, and the set's elements follow from the pods (`setElements` for a whole cluster,
 * `podContribution` for one pod, which the incremental calculation keeps per pod).
 */
export type SetDef =
  | {
      readonly kind: "peers";
      readonly name: string;
      readonly family: Family;
      readonly definition: string;
      readonly calico: boolean;
      readonly pods: readonly PodPeer[];
      /** ipBlock peers, except already subtracted: the part that no pod changes. */
      readonly fixed: readonly Interval[];
    }
  | {
      readonly kind: "nets";
      readonly name: string;
      readonly family: Family;
      readonly definition: string;
      readonly fixed: readonly Interval[];
    }
  | {
      /**
       * A Service's endpoints (Calico's `services` match): their addresses, or as a destination
       * (`ports`) every address with every port of its EndpointSlices (`addr . proto . port`).
       */
      readonly kind: "service";
      readonly name: string;
      readonly family: Family;
      readonly definition: string;
      readonly service: ServiceMatch;
      readonly ports: boolean;
    }
  | {
      readonly kind: "named-port";
      readonly name: string;
      readonly family: Family;
      readonly definition: string;
      readonly names: readonly string[];
      readonly proto: number;
      /**
       * Only this node's endpoints: an ingress rule's destination is always the endpoint whose
       * chain it is in, so other pods' named ports can never match there (and were most of a
       * large cluster's set elements).
       */
      readonly local: boolean;
    };

/** One pod's (or EndpointSlice's) share of a set: address intervals, or `addr . proto . port` elements. */
export type Contribution = readonly Interval[] | readonly AddrProtoPort[];

/** A pod's addresses of one family, sorted by value, as the IR lists an endpoint's. */
export function podAddrs(pod: PodState, family: Family): string[] {
  return pod.ips
    .flatMap((ip) => {
      const a = parseAddr(ip);
      return a && a.family === family ? [a] : [];
    })
    .sort((x, y) => (x.value < y.value ? -1 : x.value > y.value ? 1 : 0))
    .map((a) => a.text);
}

type ByFamily = { readonly 4: Interval[]; readonly 6: Interval[] };

/** Pods and network sets are immutable values: their addresses are parsed once, by family. */
function intervalsOf<T extends object>(
  cache: WeakMap<T, ByFamily>,
  o: T,
  texts: readonly string[],
  parse: (text: string) => Interval | null,
): ByFamily {
  let c = cache.get(o);
  if (!c) {
    c = { 4: [], 6: [] };
    for (const text of texts) {
      const iv = parse(text);
      if (iv) c[iv.family].push(iv);
    }
    cache.set(o, c);
  }
  return c;
}

const podAddrCache = new WeakMap<PodState, ByFamily>();

/** A pod's addresses of one family as intervals. */
export function podIntervals(pod: PodState, family: Family): readonly Interval[] {
  return intervalsOf(podAddrCache, pod, pod.ips, addrInterval)[family];
}

/** Whether the pod's interface is on `node` (null: every pod is, as `explain` compiles). */
export function onNode(pod: PodState, node: string | null): boolean {
  return node === null || pod.nodeName === node;
}

/** What one pod adds to a set (empty when it adds nothing). Pods without addresses add nothing. */
export function podContribution(def: SetDef, pod: PodState, m: Matcher, node: string | null): Contribution {
  if (pod.ips.length === 0 || def.kind === "nets" || def.kind === "service") return [];
  if (def.kind === "peers") {
    for (const peer of def.pods) if (m.pod(peer, pod, def.calico)) return podIntervals(pod, def.family);
    return [];
  }
  const els: AddrProtoPort[] = [];
  if (def.local && !onNode(pod, node)) return els;
  const ports = pod.ports.filter(
    (cp) => cp.name !== undefined && def.names.includes(cp.name) && protoNumber(cp.protocol) === def.proto,
  );
  if (ports.length === 0) return els;
  for (const ip of pod.ips) {
    const a = parseAddr(ip);
    if (!a || a.family !== def.family) continue;
    for (const cp of ports) els.push({ addr: a.text, proto: def.proto, port: cp.containerPort });
  }
  return els;
}

/** What one EndpointSlice adds to a set: only to the sets of its own Service and family. */
export function sliceContribution(def: SetDef, slice: EndpointSliceState): Contribution {
  if (def.kind !== "service") return [];
  const svc = def.service;
  if (slice.namespace !== svc.namespace || slice.service !== svc.name || slice.family !== def.family)
    return [];
  if (!def.ports)
    return slice.addresses.flatMap((a) => {
      const iv = addrInterval(a);
      return iv ? [iv] : [];
    });
  const els: AddrProtoPort[] = [];
  for (const addr of slice.addresses)
    for (const p of slice.ports) els.push({ addr, proto: p.protocol, port: p.port });
  return els;
}

/** Named-port elements in the IR's order (address, protocol, port), duplicates removed. */
export function sortNamedPortElements(els: readonly AddrProtoPort[]): AddrProtoPort[] {
  // Sorted by a key computed once per element (a number for IPv4, exact below 2^53): a node's
  // named-port sets hold an element per pod of the cluster, and comparing through parsed BigInts
  // was most of their cost.
  const keyed = els.map((e) => {
    const v = parseAddr(e.addr)?.value ?? 0n;
    return { e, k: v <= 0xffffffffn ? Number(v) : v };
  });
  keyed.sort((x, y) => (x.k < y.k ? -1 : x.k > y.k ? 1 : x.e.proto - y.e.proto || x.e.port - y.e.port));
  const out: AddrProtoPort[] = [];
  let last: AddrProtoPort | undefined;
  for (const { e } of keyed) {
    if (last && last.addr === e.addr && last.proto === e.proto && last.port === e.port) continue;
    out.push(e);
    last = e;
  }
  return out;
}

/** The IR set for a definition from the pods' contributions. */
export function irSet(def: SetDef, contributions: Iterable<Contribution>): IRSet {
  const { name, family, definition } = def;
  if (def.kind === "named-port" || (def.kind === "service" && def.ports)) {
    const els: AddrProtoPort[] = [];
    for (const c of contributions) els.push(...(c as readonly AddrProtoPort[]));
    return { kind: "named-port", name, family, elements: sortNamedPortElements(els), definition };
  }
  const ivs: Interval[] = def.kind === "service" ? [] : [...def.fixed];
  for (const c of contributions) ivs.push(...(c as readonly Interval[]));
  return { kind: "addr", name, family, elements: intervalsToCidrs(ivs), definition };
}

/**
 * Compiles policies into chains without looking at any pod: rules refer to sets by name, and the
 * definitions of those sets are collected here. A policy's chains therefore change only when the
 * policy does, and a pod change only ever touches set elements (and endpoint chains of local pods).
 */
export class ChainCompiler {
  readonly defs = new Map<string, SetDef>();

  private addrName(definition: string, family: Family): string {
    return `ts${family}-${hash16(`${family} ${definition}`)}`;
  }

  private peersSet(peers: readonly Peer[], calico: boolean, family: Family): string {
    const definition = `${calico ? "calico " : ""}peers ${peers.map(peerText).sort().join(" | ")}`;
    const name = this.addrName(definition, family);
    if (!this.defs.has(name))
      this.defs.set(name, {
        kind: "peers",
        name,
        family,
        definition,
        calico,
        pods: peers.filter((p): p is PodPeer => p.kind === "pods"),
        fixed: peers.flatMap((p) =>
          p.kind === "ipBlock" ? ipBlockIntervals(p).filter((iv) => iv.family === family) : [],
        ),
      });
    return name;
  }

  private netsSet(nets: readonly string[], family: Family): string | null {
    const mine = nets.filter((c) => familyOfCidr(c) === family);
    if (mine.length === 0) return null;
    const definition = `nets ${[...new Set(mine)].sort().join(",")}`;
    const name = this.addrName(definition, family);
    if (!this.defs.has(name))
      this.defs.set(name, {
        kind: "nets",
        name,
        family,
        definition,
        fixed: mine.flatMap((c) => {
          const iv = parseCidr(c);
          return iv ? [iv] : [];
        }),
      });
    return name;
  }

  private serviceSet(service: ServiceMatch, family: Family, ports: boolean): string {
    const definition = `service ${service.namespace}/${service.name}${ports ? " ports" : ""}`;
    const name = `${ports ? "tn" : "ts"}${family}-${hash16(`${family} ${definition}`)}`;
    if (!this.defs.has(name))
      this.defs.set(name, { kind: "service", name, family, definition, service, ports });
    return name;
  }

  private namedPortSet(names: readonly string[], proto: number, family: Family, local: boolean): string {
    const sorted = [...new Set(names)].sort();
    const definition = `named ports ${sorted.join(",")} proto ${proto}${local ? " on this node" : ""}`;
    const name = `tn${family}-${hash16(`${family} ${definition}`)}`;
    if (!this.defs.has(name))
      this.defs.set(name, { kind: "named-port", name, family, definition, names: sorted, proto, local });
    return name;
  }
  /** The address conditions of one side for one family; null when the side cannot match it. */
  private sideMatch(e: EntityMatch, calico: boolean, family: Family, dst = false): AddrSetMatch[] | null {
    const out: AddrSetMatch[] = [];
    // A destination Service is matched with its ports, as one `addr . proto . port` set (compileRule).
    if (e.services && !dst) out.push({ set: this.serviceSet(e.services, family, false), negate: false });
    if (e.peers) {
      const canMatch = e.peers.some((p) => p.kind === "pods" || familyOfCidr(p.cidr) === family);
      if (!canMatch) return null;
      out.push({ set: this.peersSet(e.peers, calico, family), negate: false });
    }
    if (e.nets && e.nets.length > 0) {
      const s = this.netsSet(e.nets, family);
      if (s === null) return null;
      out.push({ set: s, negate: false });
    }
    if (e.notPods) out.push({ set: this.peersSet([e.notPods], calico, family), negate: true });
    if (e.notNets && e.notNets.length > 0) {
      const s = this.netsSet(e.notNets, family);
      if (s !== null) out.push({ set: s, negate: true });
    }
    return out;
  }

  private static familySpecific(r: PolicyRule): boolean {
    const side = (e: EntityMatch): boolean =>
      e.peers !== undefined ||
      e.services !== undefined ||
      (e.nets?.length ?? 0) > 0 ||
      (e.notNets?.length ?? 0) > 0 ||
      e.notPods !== undefined ||
      (e.ports ?? []).some((p) => p.kind === "named") ||
      (e.notPorts ?? []).some((p) => p.kind === "named");
    return (
      r.ipVersion !== undefined ||
      r.icmp !== undefined ||
      r.notIcmp !== undefined ||
      side(r.source) ||
      side(r.destination)
    );
  }

  /** One source rule → its IR rules (per family; numeric and named destination ports split). */
  compileRule(policy: Policy, dir: Direction, r: PolicyRule, chain: string, partStart: number): IRRule[] {
    const calico = calicoSelectors(policy);
    if (r.protocol !== undefined && r.notProtocol !== undefined && r.protocol === r.notProtocol) return [];
    const families: Array<Family | null> = ChainCompiler.familySpecific(r)
      ? ([4, 6] as const).filter((f) => r.ipVersion === undefined || r.ipVersion === f)
      : [null];
    const dstPorts = r.destination.ports ?? [];
    const numeric = dstPorts.filter((p) => p.kind === "number");
    const named = dstPorts.flatMap((p) => (p.kind === "named" ? [p.name] : []));
    // Port variants OR together: numeric list in one rule, named ones in another.
    const variants: Array<"none" | "numeric" | "named"> =
      dstPorts.length === 0
        ? ["none"]
        : [...(numeric.length ? ["numeric" as const] : []), ...(named.length ? ["named" as const] : [])];
    const out: IRRule[] = [];
    let part = partStart;
    for (const family of families) {
      let src: AddrSetMatch[] | null = [];
      let dst: AddrSetMatch[] | null = [];
      if (family !== null) {
        src = this.sideMatch(r.source, calico, family);
        dst = this.sideMatch(r.destination, calico, family, true);
        if (src === null || dst === null) continue;
      }
      for (const v of variants) {
        const proto = r.protocol;
        const m: {
          -readonly [K in keyof RuleMatch]: RuleMatch[K];
        } = {};
        if (proto !== undefined) m.protocol = { proto, negate: false };
        else if (r.notProtocol !== undefined) m.protocol = { proto: r.notProtocol, negate: true };
        if (src.length) m.src = src;
        if (dst.length) m.dst = dst;
        const srcPm: PortMatch[] = [];
        if (r.source.ports?.length) srcPm.push({ ports: portEntries(r.source.ports), negate: false });
        if (r.source.notPorts?.length) srcPm.push({ ports: portEntries(r.source.notPorts), negate: true });
        if (srcPm.length) m.srcPorts = srcPm;
        const dstPm: PortMatch[] = [];
        if (v === "numeric") dstPm.push({ ports: portEntries(numeric), negate: false });
        const notNumeric = (r.destination.notPorts ?? []).filter((p) => p.kind === "number");
        if (notNumeric.length) dstPm.push({ ports: portEntries(notNumeric), negate: true });
        if (dstPm.length) m.dstPorts = dstPm;
        const np: NamedPortMatch[] = [];
        const notNamed = (r.destination.notPorts ?? []).flatMap((p) => (p.kind === "named" ? [p.name] : []));
        if (family !== null && proto !== undefined) {
          const local = dir === "ingress";
          if (v === "named") np.push({ set: this.namedPortSet(named, proto, family, local), negate: false });
          if (notNamed.length)
            np.push({ set: this.namedPortSet(notNamed, proto, family, local), negate: true });
        }
        const svc = r.destination.services;
        if (svc && family !== null) np.push({ set: this.serviceSet(svc, family, true), negate: false });
        if (np.length) m.dstNamedPorts = np;
        const icmp: IcmpMatch[] = [];
        if (r.icmp) icmp.push({ ...r.icmp, negate: false });
        if (r.notIcmp) icmp.push({ ...r.notIcmp, negate: true });
        if (icmp.length) m.icmp = icmp;
        const id = `${chain}:${r.index}.${part}`;
        out.push({
          id,
          family,
          match: m,
          action: r.action,
          ...(r.action === "log" ? { logPrefix: `tortie ${chain.slice(4, 16)} ` } : {}),
          origin: { policy: policy.ref, direction: dir, ruleIndex: r.index, part },
        });
        part++;
      }
    }
    return out;
  }

  policyChain(policy: Policy, dir: Direction): PolicyChain {
    const name = policyChainName(policy.ref, dir);
    const rules: IRRule[] = [];
    const source = (dir === "ingress" ? policy.ingress : policy.egress) ?? [];
    const parts = new Map<number, number>();
    for (const r of source) {
      const ir = this.compileRule(policy, dir, r, name, parts.get(r.index) ?? 0);
      parts.set(r.index, (parts.get(r.index) ?? 0) + ir.length);
      rules.push(...ir);
    }
    return { name, policy: policy.ref, tier: policy.tier, direction: dir, rules };
  }
}

class Compiler {
  private readonly chains = new ChainCompiler();
  private readonly matcher: Matcher;
  private readonly podsWithIps: readonly PodState[];
  private readonly byNamespace = new Map<string, PodState[]>();
  private readonly tiers: TierTable;

  constructor(private readonly input: CompileInput) {
    this.matcher = Matcher.of(input.state);
    this.tiers = new Map((input.state.tiers ?? []).map((t) => [t.name, t]));
    this.podsWithIps = input.state.pods.filter((p) => p.ips.length > 0);
    for (const pod of this.podsWithIps) {
      const list = this.byNamespace.get(pod.namespace);
      if (list) list.push(pod);
      else this.byNamespace.set(pod.namespace, [pod]);
    }
  }

  selects(policy: Policy, pod: PodState): boolean {
    return this.matcher.pod(policy.applies, pod, calicoSelectors(policy));
  }

  /** Pods a set could hold: the namespace index keeps a same-namespace peer from scanning every pod. */
  private candidates(def: SetDef): readonly PodState[] {
    if (def.kind === "nets" || def.kind === "service") return [];
    if (def.kind === "named-port") return this.podsWithIps;
    const out = new Set<PodState>();
    for (const peer of def.pods) {
      const scope = peer.namespaces;
      if (scope.kind === "all") return this.podsWithIps;
      if (scope.kind === "global") continue;
      if (scope.kind === "same") for (const p of this.byNamespace.get(scope.namespace) ?? []) out.add(p);
      else
        for (const [ns, list] of this.byNamespace)
          if (matches(scope.selector, this.matcher.nsLabels(ns, def.calico)))
            for (const p of list) out.add(p);
    }
    return def.pods.length > 1 ? this.podsWithIps.filter((p) => out.has(p)) : [...out];
  }

  private setOf(def: SetDef): IRSet {
    const contributions: Contribution[] = this.candidates(def).map((p) =>
      podContribution(def, p, this.matcher, this.input.node),
    );
    for (const slice of this.input.state.endpointSlices ?? [])
      contributions.push(sliceContribution(def, slice));
    if (def.kind === "peers")
      for (const s of this.input.state.networkSets ?? [])
        if (def.pods.some((peer) => this.matcher.netSet(peer, s, def.calico)))
          contributions.push(netSetIntervals(s, def.family));
    return irSet(def, contributions);
  }

  policyChain(policy: Policy, dir: Direction): PolicyChain {
    return this.chains.policyChain(policy, dir);
  }

  run(): PolicyIR {
    const { policies, node } = this.input;
    const local = this.podsWithIps
      .filter((p) => onNode(p, node))
      .map((p) => ({ pod: p, ifName: hostIfName(p.namespace, p.name) }))
      .sort((a, b) => cmp(a.ifName, b.ifName));
    const extended = policies.filter((p) => p.tier === "extended").sort(comparePolicies);
    const kubernetes = policies
      .filter((p) => p.tier === "kubernetes")
      .sort((a, b) => cmp(refText(a.ref), refText(b.ref)));
    // Namespaced policies only ever select pods of their namespace: index them so a pod looks at its
    // namespace's policies and the cluster-wide ones, not at every policy (order is kept).
    const indexed = new Map<readonly Policy[], Map<string, Policy[]>>();
    for (const list of [extended, kubernetes]) {
      const byNs = new Map<string, Policy[]>();
      for (const p of list) {
        const key = p.applies.namespaces.kind === "same" ? p.applies.namespaces.namespace : "";
        const bucket = byNs.get(key);
        if (bucket) bucket.push(p);
        else byNs.set(key, [p]);
      }
      indexed.set(list, byNs);
    }
    const candidates = (list: readonly Policy[], ns: string): Policy[] => {
      const byNs = indexed.get(list);
      const mine = byNs?.get(ns) ?? [];
      const global = byNs?.get("") ?? [];
      if (global.length === 0) return mine;
      if (mine.length === 0) return global;
      const set = new Set([...mine, ...global]);
      return list.filter((p) => set.has(p));
    };
    const chains = new Map<string, PolicyChain>();
    const endpointChains: EndpointChain[] = [];
    const chainFor = (p: Policy, dir: Direction): string => {
      const name = policyChainName(p.ref, dir);
      if (!chains.has(name)) chains.set(name, this.policyChain(p, dir));
      return name;
    };
    const endpoints = local.map(({ pod, ifName }) => {
      const chainNames = { ingress: "", egress: "" };
      for (const dir of ["ingress", "egress"] as const) {
        const applies = (p: Policy): boolean =>
          (dir === "ingress" ? p.ingress : p.egress) !== null && this.selects(p, pod);
        const selecting = [
          ...candidates(extended, pod.namespace).filter(applies),
          ...candidates(kubernetes, pod.namespace).filter(applies),
        ];
        for (const p of selecting) chainFor(p, dir);
        const name = endpointChainName(ifName, dir);
        chainNames[dir] = name;
        endpointChains.push(
          endpointChainOf(name, { namespace: pod.namespace, pod: pod.name }, dir, selecting, this.tiers),
        );
      }
      return {
        namespace: pod.namespace,
        pod: pod.name,
        ifName,
        ipv4: podAddrs(pod, 4),
        ipv6: podAddrs(pod, 6),
        ingressChain: chainNames.ingress,
        egressChain: chainNames.egress,
      };
    });
    const used = new Set<string>();
    for (const c of chains.values())
      for (const r of c.rules)
        for (const m of [...(r.match.src ?? []), ...(r.match.dst ?? []), ...(r.match.dstNamedPorts ?? [])])
          used.add(m.set);
    return {
      node,
      preamble: PREAMBLE,
      // A side may have made a set before the other side ruled its family out; keep referenced ones.
      sets: [...used].sort(cmp).flatMap((name) => {
        const def = this.chains.defs.get(name);
        return def ? [this.setOf(def)] : [];
      }),
      policyChains: [...chains.values()].sort((a, b) => cmp(a.name, b.name)),
      endpointChains: endpointChains.sort((a, b) => cmp(a.name, b.name)),
      endpoints,
      dispatch: {
        fromEndpoint: endpoints.map((e) => ({ ifName: e.ifName, chain: e.egressChain })),
        toEndpoint: endpoints.map((e) => ({ ifName: e.ifName, chain: e.ingressChain })),
      },
    };
  }
}

function protoNumber(p: "TCP" | "UDP" | "SCTP"): number {
  return p === "TCP" ? 6 : p === "UDP" ? 17 : 132;
}

/** The compiler (see CompileFn in policy/ir.ts). */
export const compile: CompileFn = (input) => new Compiler(input).run();
