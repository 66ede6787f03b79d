/**
 * Validation and normalisation of policy objects: Kubernetes `networking.k8s.io/v1` NetworkPolicy,
 * `tortie.io/v1` NetworkPolicy / GlobalNetworkPolicy and Calico `projectcalico.org/v3` ones (the same
 * shape, accepted unchanged). Every problem names the object and the field path; an object with any
 * problem yields no policy, and never affects the others.
 */
import type { FieldProblem } from "../core/errors.js";
import {
  ADMIN_TIER,
  BASELINE_TIER,
  BUILTIN_TIERS,
  DEFAULT_TIER,
  type NetworkSetState,
  PROTO,
  type ProtoNumber,
  type TierState,
} from "./ir.js";
import { canonicalCidr, parseAddr, parseCidr, subtract } from "./cidr.js";
import type {
  EntityMatch,
  IcmpSpec,
  NamespaceScope,
  Peer,
  PodPeer,
  Policy,
  PolicyAction,
  PolicyRef,
  PolicyRule,
  PortSpec,
  ServiceMatch,
  StagedAction,
  StagedPolicy,
} from "./model.js";
import { refText } from "./model.js";
import { ajvProblems, validators } from "./schema.js";
import {
  ALL,
  type LabelSelectorSpec,
  type Selector,
  SelectorSyntaxError,
  fromLabelSelector,
  parseSelector,
} from "./selector.js";

export const K8S_API = "networking.k8s.io/v1";
export const TORTIE_API = "tortie.io/v1";
export const CALICO_API = "projectcalico.org/v3";

/** Whether a document is a policy object this module handles (by apiVersion and kind). */
export function isPolicyKind(apiVersion: unknown, kind: unknown): boolean {
  if (apiVersion === K8S_API) return kind === "NetworkPolicy";
  if (apiVersion === ADMIN_API) return kind === "AdminNetworkPolicy" || kind === "BaselineAdminNetworkPolicy";
  if (apiVersion === TORTIE_API || apiVersion === CALICO_API)
    return kind === "NetworkPolicy" || kind === "GlobalNetworkPolicy";
  return false;
}

export type PolicyResult =
  | { readonly ok: true; readonly policy: Policy }
  | { readonly ok: false; readonly problems: readonly FieldProblem[] };

// --- field syntax (the rules of k8s.io/apimachinery validation) ---------------------------------

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export function dnsLabelProblem(s: string): string | null {
  if (s.length > 63) return "must be no more than 63 characters";
  return DNS1123_LABEL.test(s) ? null : "must be a lowercase RFC 1123 label";
}

export function dnsSubdomainProblem(s: string): string | null {
  if (s.length > 253) return "must be no more than 253 characters";
  return DNS1123_SUBDOMAIN.test(s) ? null : "must be a lowercase RFC 1123 subdomain";
}

export function labelKeyProblem(key: string): string | null {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : null;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== null) {
    if (prefix === "") return "prefix part must be non-empty";
    const p = dnsSubdomainProblem(prefix);
    if (p) return `prefix part ${p}`;
  }
  if (name === "") return "name part must be non-empty";
  if (name.length > 63) return "name part must be no more than 63 characters";
  if (!QUALIFIED_NAME.test(name))
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
  return null;
}

export function labelValueProblem(v: string): string | null {
  if (v === "") return null;
  if (v.length > 63) return "must be no more than 63 characters";
  return QUALIFIED_NAME.test(v)
    ? null
    : "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
}

/** IANA_SVC_NAME, as Kubernetes validates a named port. */
export function portNameProblem(name: string): string | null {
  if (name.length > 15) return "must be no more than 15 characters";
  if (!IANA_SVC_NAME.test(name)) return "must contain only lowercase alphanumeric characters and '-'";
  if (name.includes("--")) return "must not contain consecutive hyphens";
  if (!/[a-z]/.test(name)) return "must contain at least one letter";
  return null;
}

// --- shared helpers --------------------------------------------------------------------------------

class Problems {
  readonly list: FieldProblem[] = [];
  constructor(readonly object: string) {}
  add(path: string, message: string): void {
    this.list.push({ object: this.object, path, message });
  }
}

function checkLabelSelector(ls: LabelSelectorSpec, path: string, p: Problems): Selector {
  for (const [k, v] of Object.entries(ls.matchLabels ?? {})) {
    const kp = labelKeyProblem(k);
    if (kp) p.add(`${path}.matchLabels`, `key ${JSON.stringify(k)}: ${kp}`);
    const vp = labelValueProblem(v);
    if (vp) p.add(`${path}.matchLabels.${k}`, vp);
  }
  (ls.matchExpressions ?? []).forEach((e, i) => {
    const ep = `${path}.matchExpressions[${i}]`;
    const kp = labelKeyProblem(e.key);
    if (kp) p.add(`${ep}.key`, kp);
    const n = e.values?.length ?? 0;
    if ((e.operator === "In" || e.operator === "NotIn") && n === 0)
      p.add(`${ep}.values`, `must be specified when operator is ${e.operator}`);
    if ((e.operator === "Exists" || e.operator === "DoesNotExist") && n > 0)
      p.add(`${ep}.values`, `may not be specified when operator is ${e.operator}`);
    (e.values ?? []).forEach((v, j) => {
      const vp = labelValueProblem(v);
      if (vp) p.add(`${ep}.values[${j}]`, vp);
    });
  });
  return fromLabelSelector(ls);
}

function checkCidr(text: string, path: string, p: Problems): string | null {
  const c = canonicalCidr(text);
  if (c === null) p.add(path, `invalid CIDR ${JSON.stringify(text)}`);
  return c;
}

function checkPort(n: number, path: string, p: Problems): void {
  if (n < 1 || n > 65535) p.add(path, "must be between 1 and 65535, inclusive");
}

// --- Kubernetes networking.k8s.io/v1 ----------------------------------------------------------------

interface K8sPeer {
  podSelector?: LabelSelectorSpec;
  namespaceSelector?: LabelSelectorSpec;
  ipBlock?: { cidr: string; except?: string[] };
}
interface K8sPort {
  protocol?: "TCP" | "UDP" | "SCTP";
  port?: number | string;
  endPort?: number;
}
interface K8sRule {
  from?: K8sPeer[];
  to?: K8sPeer[];
  ports?: K8sPort[];
}
interface K8sPolicy {
  metadata: { name: string; namespace?: string };
  spec: {
    podSelector?: LabelSelectorSpec;
    policyTypes?: Array<"Ingress" | "Egress">;
    ingress?: K8sRule[];
    egress?: K8sRule[];
  };
}

function k8sPeers(peers: K8sPeer[], namespace: string, path: string, p: Problems): Peer[] {
  const out: Peer[] = [];
  peers.forEach((peer, i) => {
    const pp = `${path}[${i}]`;
    const n = (peer.podSelector ? 1 : 0) + (peer.namespaceSelector ? 1 : 0) + (peer.ipBlock ? 1 : 0);
    if (n === 0) {
      p.add(pp, "must specify a peer");
      return;
    }
    if (peer.ipBlock) {
      if (n > 1) p.add(pp, "may not specify more than 1 peer type (ipBlock with a selector)");
      const b = peer.ipBlock;
      const cidr = checkCidr(b.cidr, `${pp}.ipBlock.cidr`, p);
      const except: string[] = [];
      (b.except ?? []).forEach((e, j) => {
        const ep = `${pp}.ipBlock.except[${j}]`;
        const c = checkCidr(e, ep, p);
        if (c === null || cidr === null) return;
        const outer = parseCidr(cidr);
        const inner = parseCidr(c);
        if (!outer || !inner) return;
        // Kubernetes: each except must be a strict subset of cidr.
        const strict =
          outer.family === inner.family &&
          inner.lo >= outer.lo &&
          inner.hi <= outer.hi &&
          !(inner.lo === outer.lo && inner.hi === outer.hi);
        if (!strict) p.add(ep, `must be a strict subset of ${JSON.stringify(b.cidr)}`);
        except.push(c);
      });
      if (cidr !== null) out.push({ kind: "ipBlock", cidr, except });
      return;
    }
    const pods = peer.podSelector ? checkLabelSelector(peer.podSelector, `${pp}.podSelector`, p) : ALL;
    const namespaces: NamespaceScope = peer.namespaceSelector
      ? {
          kind: "selector",
          selector: checkLabelSelector(peer.namespaceSelector, `${pp}.namespaceSelector`, p),
        }
      : { kind: "same", namespace };
    out.push({ kind: "pods", namespaces, pods });
  });
  return out;
}

const k8sProto = (p: K8sPort["protocol"]): ProtoNumber =>
  p === "UDP" ? PROTO.udp : p === "SCTP" ? PROTO.sctp : PROTO.tcp;

function k8sRules(rules: K8sRule[], dir: "ingress" | "egress", namespace: string, p: Problems): PolicyRule[] {
  const out: PolicyRule[] = [];
  rules.forEach((rule, index) => {
    const rp = `spec.${dir}[${index}]`;
    const peerField = dir === "ingress" ? "from" : "to";
    const rawPeers = rule[peerField] ?? [];
    const peers = k8sPeers(rawPeers, namespace, `${rp}.${peerField}`, p);
    const side: EntityMatch = rawPeers.length > 0 ? { peers } : {};
    // One IR-level rule per protocol: a port list entry is (protocol, port); entries of one protocol
    // share a rule, and an entry without a port opens every port of its protocol.
    const groups = new Map<ProtoNumber, PortSpec[] | "all">();
    (rule.ports ?? []).forEach((port, j) => {
      const pp = `${rp}.ports[${j}]`;
      const proto = k8sProto(port.protocol);
      let spec: PortSpec | "all";
      if (port.port === undefined) {
        if (port.endPort !== undefined)
          p.add(`${pp}.endPort`, "may not be specified when port is not specified");
        spec = "all";
      } else if (typeof port.port === "number") {
        checkPort(port.port, `${pp}.port`, p);
        if (port.endPort !== undefined) {
          checkPort(port.endPort, `${pp}.endPort`, p);
          if (port.endPort < port.port) p.add(`${pp}.endPort`, "must be >= port");
        }
        spec =
          port.endPort !== undefined && port.endPort !== port.port
            ? { kind: "number", port: port.port, endPort: port.endPort }
            : { kind: "number", port: port.port };
      } else {
        const np = portNameProblem(port.port);
        if (np) p.add(`${pp}.port`, np);
        if (port.endPort !== undefined)
          p.add(`${pp}.endPort`, "may not be specified when port is non-numeric");
        spec = { kind: "named", name: port.port };
      }
      const g = groups.get(proto);
      if (spec === "all" || g === "all") groups.set(proto, "all");
      else groups.set(proto, [...(g ?? []), spec]);
    });
    out.push(...rulesByProtocol(index, "allow", dir, side, groups));
  });
  return out;
}

/**
 * The rules of one Kubernetes-style rule (peers on one side, ports by protocol): one per protocol
 * with ports (`all`: every port of it), or a single one without protocol when there are no ports.
 */
function rulesByProtocol(
  index: number,
  action: PolicyAction,
  dir: "ingress" | "egress",
  side: EntityMatch,
  groups: ReadonlyMap<ProtoNumber, readonly PortSpec[] | "all">,
): PolicyRule[] {
  const rule = (protocol: ProtoNumber | undefined, ports: EntityMatch): PolicyRule => ({
    index,
    action,
    ...(protocol !== undefined ? { protocol } : {}),
    source: dir === "ingress" ? side : {},
    destination: dir === "ingress" ? ports : { ...side, ...ports },
  });
  if (groups.size === 0) return [rule(undefined, {})];
  return [...groups].map(([protocol, g]) => rule(protocol, g === "all" ? {} : { ports: g }));
}

function validateK8s(obj: K8sPolicy, p: Problems): Policy {
  const namespace = obj.metadata.namespace ?? "default";
  const spec = obj.spec;
  const applies: PodPeer = {
    kind: "pods",
    namespaces: { kind: "same", namespace },
    pods: spec.podSelector ? checkLabelSelector(spec.podSelector, "spec.podSelector", p) : ALL,
  };
  // API defaulting: without policyTypes, Ingress always applies and Egress only when egress rules
  // exist (an empty `egress: []` is indistinguishable from none after decoding, as in the API server).
  const types = spec.policyTypes ?? [
    "Ingress",
    ...((spec.egress?.length ?? 0) > 0 ? ["Egress" as const] : []),
  ];
  const ingress = types.includes("Ingress") ? k8sRules(spec.ingress ?? [], "ingress", namespace, p) : null;
  const egress = types.includes("Egress") ? k8sRules(spec.egress ?? [], "egress", namespace, p) : null;
  return {
    ref: { apiVersion: K8S_API, kind: "NetworkPolicy", namespace, name: obj.metadata.name },
    tier: "kubernetes",
    order: null,
    applies,
    ingress,
    egress,
  };
}

// --- tortie.io/v1 and projectcalico.org/v3 ------------------------------------------------------------

interface ExtIcmp {
  type?: number;
  code?: number;
}
interface ExtEntity {
  nets?: string[];
  notNets?: string[];
  selector?: string;
  notSelector?: string;
  namespaceSelector?: string;
  ports?: Array<number | string>;
  notPorts?: Array<number | string>;
  serviceAccounts?: { names?: string[]; selector?: string };
  services?: object;
}
interface ExtRule {
  action: "Allow" | "Deny" | "Pass" | "Log";
  ipVersion?: 4 | 6;
  protocol?: number | string;
  notProtocol?: number | string;
  icmp?: ExtIcmp;
  notICMP?: ExtIcmp;
  source?: ExtEntity;
  destination?: ExtEntity;
  http?: object;
}
interface ExtPolicy {
  apiVersion: string;
  kind: "NetworkPolicy" | "GlobalNetworkPolicy";
  metadata: { name: string; namespace?: string };
  spec?: {
    tier?: string;
    order?: number;
    selector?: string;
    serviceAccountSelector?: string;
    namespaceSelector?: string;
    doNotTrack?: boolean;
    preDNAT?: boolean;
    applyOnForward?: boolean;
    types?: Array<"Ingress" | "Egress">;
    ingress?: ExtRule[];
    egress?: ExtRule[];
  };
}

const GLOBAL = /^\s*global\(\s*\)\s*$/;

function checkSelector(text: string, path: string, p: Problems): Selector {
  if (/\bglobal\s*\(/.test(text)) {
    p.add(
      path,
      `global() is supported only as the whole namespaceSelector of a rule (GlobalNetworkSets), not in ${JSON.stringify(text)}`,
    );
    return ALL;
  }
  try {
    return parseSelector(text);
  } catch (err) {
    if (err instanceof SelectorSyntaxError) {
      p.add(path, `invalid selector ${JSON.stringify(text)}: ${err.message} at offset ${err.offset}`);
      return ALL;
    }
    throw err;
  }
}

const PROTO_NAMES: Readonly<Record<string, ProtoNumber>> = {
  TCP: PROTO.tcp,
  UDP: PROTO.udp,
  ICMP: PROTO.icmp,
  ICMPv6: PROTO.icmpv6,
  SCTP: PROTO.sctp,
  UDPLite: PROTO.udplite,
};
const PORT_PROTOS: readonly ProtoNumber[] = [PROTO.tcp, PROTO.udp, PROTO.sctp, PROTO.udplite];

function checkProtocol(v: number | string, path: string, p: Problems): ProtoNumber | undefined {
  if (typeof v === "number") {
    if (v < 1 || v > 255) p.add(path, "must be between 1 and 255, inclusive");
    return v;
  }
  const n =
    PROTO_NAMES[v] ??
    PROTO_NAMES[Object.keys(PROTO_NAMES).find((k) => k.toLowerCase() === v.toLowerCase()) ?? ""];
  if (n === undefined) p.add(path, `must be one of TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255`);
  return n;
}

function checkExtPorts(list: Array<number | string>, path: string, p: Problems): PortSpec[] {
  return list.flatMap((v, i): PortSpec[] => {
    const pp = `${path}[${i}]`;
    if (typeof v === "number") {
      checkPort(v, pp, p);
      return [{ kind: "number", port: v }];
    }
    const range = /^(\d+):(\d+)$/.exec(v);
    if (range) {
      const lo = Number(range[1]);
      const hi = Number(range[2]);
      checkPort(lo, pp, p);
      checkPort(hi, pp, p);
      if (hi < lo) p.add(pp, "range end must be >= range start");
      return [lo === hi ? { kind: "number", port: lo } : { kind: "number", port: lo, endPort: hi }];
    }
    if (/^\d+$/.test(v)) {
      checkPort(Number(v), pp, p);
      return [{ kind: "number", port: Number(v) }];
    }
    const np = portNameProblem(v);
    if (np) p.add(pp, np);
    return [{ kind: "named", name: v }];
  });
}

function checkIcmp(v: ExtIcmp, path: string, p: Problems): IcmpSpec | undefined {
  if (v.type === undefined) {
    if (v.code !== undefined) p.add(`${path}.code`, "may not be specified without type");
    else p.add(`${path}.type`, "required");
    return undefined;
  }
  if (v.type < 0 || v.type > 254) p.add(`${path}.type`, "must be between 0 and 254, inclusive");
  if (v.code !== undefined && (v.code < 0 || v.code > 255))
    p.add(`${path}.code`, "must be between 0 and 255, inclusive");
  return v.code === undefined ? { type: v.type } : { type: v.type, code: v.code };
}

function extEntity(
  e: ExtEntity | undefined,
  path: string,
  namespace: string | null,
  p: Problems,
): { match: EntityMatch; families: Set<4 | 6> } {
  const families = new Set<4 | 6>();
  if (!e) return { match: {}, families };
  const scope = (nsSel: string | undefined): NamespaceScope =>
    nsSel !== undefined
      ? GLOBAL.test(nsSel)
        ? { kind: "global" }
        : { kind: "selector", selector: checkSelector(nsSel, `${path}.namespaceSelector`, p) }
      : namespace !== null
        ? { kind: "same", namespace }
        : { kind: "all" };
  const m: {
    peers?: Peer[];
    notPods?: PodPeer;
    nets?: string[];
    notNets?: string[];
    ports?: PortSpec[];
    notPorts?: PortSpec[];
    services?: ServiceMatch;
  } = {};
  if (e.services !== undefined) {
    const svc = e.services as { name?: unknown; namespace?: unknown };
    // Calico's rule: a Service stands for its endpoints (and, as a destination, their ports), so
    // nothing else may say which addresses or ports the side means.
    for (const f of [
      "selector",
      "notSelector",
      "namespaceSelector",
      "serviceAccounts",
      "nets",
      "notNets",
    ] as const)
      if (e[f] !== undefined) p.add(`${path}.${f}`, "cannot be combined with services");
    if (path.endsWith("destination"))
      for (const f of ["ports", "notPorts"] as const)
        if (e[f] !== undefined)
          p.add(`${path}.${f}`, "cannot be combined with services (the Service's ports are matched)");
    if (typeof svc.name !== "string" || svc.name === "") p.add(`${path}.services.name`, "required");
    else {
      const np = dnsLabelProblem(svc.name);
      if (np) p.add(`${path}.services.name`, np);
    }
    const ns = svc.namespace ?? namespace;
    if (ns === null) p.add(`${path}.services.namespace`, "required in a cluster-wide policy");
    else if (typeof ns !== "string") p.add(`${path}.services.namespace`, "must be a string");
    else {
      const nsp = dnsLabelProblem(ns);
      if (nsp) p.add(`${path}.services.namespace`, nsp);
    }
    for (const k of Object.keys(svc))
      if (k !== "name" && k !== "namespace") p.add(`${path}.services.${k}`, "unknown field");
    if (typeof svc.name === "string" && typeof ns === "string")
      m.services = { name: svc.name, namespace: ns };
  }
  if (e.selector !== undefined || e.namespaceSelector !== undefined || e.serviceAccounts !== undefined) {
    const sa = e.serviceAccounts;
    const peer: PodPeer = {
      kind: "pods",
      namespaces: scope(e.namespaceSelector),
      pods: e.selector !== undefined ? checkSelector(e.selector, `${path}.selector`, p) : ALL,
      ...(sa
        ? {
            serviceAccounts: {
              names: sa.names ?? [],
              selector:
                sa.selector !== undefined
                  ? checkSelector(sa.selector, `${path}.serviceAccounts.selector`, p)
                  : null,
            },
          }
        : {}),
    };
    m.peers = [peer];
  }
  if (e.notSelector !== undefined)
    m.notPods = {
      kind: "pods",
      namespaces: scope(e.namespaceSelector),
      pods: checkSelector(e.notSelector, `${path}.notSelector`, p),
    };
  const nets = (list: string[], field: string): string[] =>
    list.flatMap((n, i) => {
      const c = checkCidr(n, `${path}.${field}[${i}]`, p);
      return c === null ? [] : [c];
    });
  if (e.nets) {
    m.nets = nets(e.nets, "nets");
    for (const c of m.nets) families.add(c.includes(":") ? 6 : 4);
  }
  if (e.notNets) m.notNets = nets(e.notNets, "notNets");
  if (e.ports) m.ports = checkExtPorts(e.ports, `${path}.ports`, p);
  if (e.notPorts) m.notPorts = checkExtPorts(e.notPorts, `${path}.notPorts`, p);
  return { match: m, families };
}

const ACTIONS: Readonly<Record<ExtRule["action"], PolicyAction>> = {
  Allow: "allow",
  Deny: "deny",
  Pass: "pass",
  Log: "log",
};

function extRules(rules: ExtRule[], dir: "ingress" | "egress", namespace: string | null, p: Problems) {
  return rules.map((r, index): PolicyRule => {
    const rp = `spec.${dir}[${index}]`;
    if (r.http !== undefined)
      p.add(`${rp}.http`, "HTTP matching needs an application-layer proxy; tortie enforces layers 3 and 4");
    const protocol = r.protocol !== undefined ? checkProtocol(r.protocol, `${rp}.protocol`, p) : undefined;
    const notProtocol =
      r.notProtocol !== undefined ? checkProtocol(r.notProtocol, `${rp}.notProtocol`, p) : undefined;
    const src = extEntity(r.source, `${rp}.source`, namespace, p);
    const dst = extEntity(r.destination, `${rp}.destination`, namespace, p);
    for (const [side, ent] of [
      ["source", r.source],
      ["destination", r.destination],
    ] as const) {
      for (const field of ["ports", "notPorts"] as const) {
        if (ent?.[field] === undefined) continue;
        if (protocol === undefined || !PORT_PROTOS.includes(protocol))
          p.add(`${rp}.${side}.${field}`, "may only be used with protocol TCP, UDP, SCTP or UDPLite");
      }
    }
    const named = (dst.match.ports ?? []).concat(dst.match.notPorts ?? []).some((s) => s.kind === "named");
    const srcNamed = (src.match.ports ?? []).concat(src.match.notPorts ?? []).some((s) => s.kind === "named");
    if (srcNamed) p.add(`${rp}.source.ports`, "named ports are only supported on the destination");
    if (
      named &&
      protocol !== undefined &&
      protocol !== PROTO.tcp &&
      protocol !== PROTO.udp &&
      protocol !== PROTO.sctp
    )
      p.add(`${rp}.destination.ports`, "named ports need protocol TCP, UDP or SCTP");
    const icmp = r.icmp ? checkIcmp(r.icmp, `${rp}.icmp`, p) : undefined;
    const notIcmp = r.notICMP ? checkIcmp(r.notICMP, `${rp}.notICMP`, p) : undefined;
    let ipVersion = r.ipVersion;
    if (r.icmp || r.notICMP) {
      const field = r.icmp ? "icmp" : "notICMP";
      if (protocol !== PROTO.icmp && protocol !== PROTO.icmpv6)
        p.add(`${rp}.${field}`, "may only be used with protocol ICMP or ICMPv6");
    }
    const implied = protocol === PROTO.icmp ? 4 : protocol === PROTO.icmpv6 ? 6 : undefined;
    if (implied !== undefined) {
      if (ipVersion !== undefined && ipVersion !== implied)
        p.add(`${rp}.ipVersion`, `must be ${implied} with protocol ${implied === 4 ? "ICMP" : "ICMPv6"}`);
      ipVersion = implied;
    }
    for (const [side, fam] of [
      ["source", src.families],
      ["destination", dst.families],
    ] as const) {
      if (ipVersion !== undefined && fam.size > 0 && !fam.has(ipVersion))
        p.add(`${rp}.${side}.nets`, `has no IPv${ipVersion} network although ipVersion is ${ipVersion}`);
    }
    return {
      index,
      action: ACTIONS[r.action],
      ...(ipVersion !== undefined ? { ipVersion } : {}),
      ...(protocol !== undefined ? { protocol } : {}),
      ...(notProtocol !== undefined ? { notProtocol } : {}),
      ...(icmp ? { icmp } : {}),
      ...(notIcmp ? { notIcmp } : {}),
      source: src.match,
      destination: dst.match,
    };
  });
}

function validateExtended(obj: ExtPolicy, p: Problems): Policy {
  const global = obj.kind === "GlobalNetworkPolicy";
  const namespace = global ? null : (obj.metadata.namespace ?? "default");
  const spec = obj.spec ?? {};
  let tierName: string | undefined;
  if (spec.tier !== undefined && spec.tier !== DEFAULT_TIER) {
    const tp = dnsLabelProblem(spec.tier);
    if (tp) p.add("spec.tier", tp);
    else tierName = spec.tier;
  }
  for (const f of ["doNotTrack", "preDNAT", "applyOnForward"] as const)
    if (spec[f] === true) p.add(`spec.${f}`, "host endpoint policies are not supported");
  const pods = spec.selector !== undefined ? checkSelector(spec.selector, "spec.selector", p) : ALL;
  const namespaces: NamespaceScope =
    namespace !== null
      ? { kind: "same", namespace }
      : spec.namespaceSelector !== undefined
        ? GLOBAL.test(spec.namespaceSelector)
          ? (p.add(
              "spec.namespaceSelector",
              "global() selects host endpoints, which tortie does not support",
            ),
            { kind: "selector", selector: ALL })
          : { kind: "selector", selector: checkSelector(spec.namespaceSelector, "spec.namespaceSelector", p) }
        : { kind: "all" };
  const applies: PodPeer = {
    kind: "pods",
    namespaces,
    pods,
    ...(spec.serviceAccountSelector !== undefined
      ? {
          serviceAccounts: {
            names: [],
            selector: checkSelector(spec.serviceAccountSelector, "spec.serviceAccountSelector", p),
          },
        }
      : {}),
  };
  // Calico defaulting: Ingress unless there are only egress rules; both when both have rules.
  const hasIn = (spec.ingress?.length ?? 0) > 0;
  const hasEg = (spec.egress?.length ?? 0) > 0;
  const types = spec.types ?? (hasEg ? (hasIn ? ["Ingress", "Egress"] : ["Egress"]) : ["Ingress"]);
  if (!types.includes("Ingress") && hasIn)
    p.add("spec.ingress", "ingress rules given but types excludes Ingress");
  if (!types.includes("Egress") && hasEg)
    p.add("spec.egress", "egress rules given but types excludes Egress");
  const ref: PolicyRef = { apiVersion: obj.apiVersion, kind: obj.kind, namespace, name: obj.metadata.name };
  return {
    ref,
    tier: "extended",
    order: spec.order ?? null,
    ...(tierName !== undefined ? { tierName } : {}),
    applies,
    ingress: types.includes("Ingress") ? extRules(spec.ingress ?? [], "ingress", namespace, p) : null,
    egress: types.includes("Egress") ? extRules(spec.egress ?? [], "egress", namespace, p) : null,
  };
}

// --- policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy / BaselineAdminNetworkPolicy ----------------

export const ADMIN_API = "policy.networking.k8s.io/v1alpha1";

interface NamespacedPodSpec {
  namespaceSelector: LabelSelectorSpec;
  podSelector: LabelSelectorSpec;
}
interface AdminPeer {
  namespaces?: LabelSelectorSpec;
  pods?: NamespacedPodSpec;
  networks?: string[];
  nodes?: LabelSelectorSpec;
}
interface AdminPort {
  portNumber?: { protocol?: "TCP" | "UDP" | "SCTP"; port: number };
  namedPort?: string;
  portRange?: { protocol?: "TCP" | "UDP" | "SCTP"; start: number; end: number };
}
interface AdminRule {
  action: "Allow" | "Deny" | "Pass";
  from?: AdminPeer[];
  to?: AdminPeer[];
  ports?: AdminPort[];
}
interface AdminPolicy {
  kind: "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy";
  metadata: { name: string };
  spec: {
    priority?: number;
    subject: { namespaces?: LabelSelectorSpec; pods?: NamespacedPodSpec };
    ingress?: AdminRule[];
    egress?: AdminRule[];
  };
}

/** `namespaces` or `pods` of a subject or peer: pods of the selected namespaces (and labels). */
function adminPods(
  x: { namespaces?: LabelSelectorSpec; pods?: NamespacedPodSpec },
  path: string,
  p: Problems,
): PodPeer {
  if (x.pods)
    return {
      kind: "pods",
      namespaces: {
        kind: "selector",
        selector: checkLabelSelector(x.pods.namespaceSelector, `${path}.pods.namespaceSelector`, p),
      },
      pods: checkLabelSelector(x.pods.podSelector, `${path}.pods.podSelector`, p),
    };
  return {
    kind: "pods",
    namespaces: {
      kind: "selector",
      selector: checkLabelSelector(x.namespaces ?? {}, `${path}.namespaces`, p),
    },
    pods: ALL,
  };
}

const ADMIN_PROTOCOLS = [PROTO.tcp, PROTO.udp, PROTO.sctp] as const;

function adminRules(rules: AdminRule[], dir: "ingress" | "egress", p: Problems): PolicyRule[] {
  const out: PolicyRule[] = [];
  rules.forEach((rule, index) => {
    const rp = `spec.${dir}[${index}]`;
    const field = dir === "ingress" ? "from" : "to";
    const peers: Peer[] = [];
    (rule[field] ?? []).forEach((peer, i) => {
      const pp = `${rp}.${field}[${i}]`;
      if (peer.nodes)
        return p.add(`${pp}.nodes`, "node peers are not supported (tortie does not filter host traffic)");
      if (peer.networks) {
        peer.networks.forEach((n, j) => {
          const c = checkCidr(n, `${pp}.networks[${j}]`, p);
          if (c !== null) peers.push({ kind: "ipBlock", cidr: c, except: [] });
        });
        return;
      }
      peers.push(adminPods(peer, pp, p));
    });
    // Ports by protocol, as for Kubernetes policies. A named port is the container port of that
    // name whatever its protocol: one entry per protocol, each matching only ports of its own.
    const groups = new Map<ProtoNumber, PortSpec[]>();
    const add = (proto: ProtoNumber, spec: PortSpec): void => {
      groups.set(proto, [...(groups.get(proto) ?? []), spec]);
    };
    (rule.ports ?? []).forEach((port, j) => {
      const pp = `${rp}.ports[${j}]`;
      if (port.portNumber)
        add(k8sProto(port.portNumber.protocol), { kind: "number", port: port.portNumber.port });
      else if (port.portRange) {
        const r = port.portRange;
        if (r.end <= r.start) p.add(`${pp}.portRange.end`, "must be greater than start");
        add(k8sProto(r.protocol), { kind: "number", port: r.start, endPort: r.end });
      } else if (port.namedPort !== undefined) {
        const np = portNameProblem(port.namedPort);
        if (np) p.add(`${pp}.namedPort`, np);
        for (const proto of ADMIN_PROTOCOLS) add(proto, { kind: "named", name: port.namedPort });
      }
    });
    out.push(...rulesByProtocol(index, ACTIONS[rule.action], dir, { peers }, groups));
  });
  return out;
}

/**
 * AdminNetworkPolicy (cluster-wide, `priority` 0–1000, lower first) and the BaselineAdminNetworkPolicy
 * (the one named `default`), as policies of the built-in tiers `kube-admin` (before the default tier;
 * what no rule decides passes on) and `kube-baseline` (after it), where Calico puts them. A direction
 * without rules leaves that direction alone.
 */
function validateAdmin(obj: AdminPolicy, p: Problems): Policy {
  const spec = obj.spec;
  const admin = obj.kind === "AdminNetworkPolicy";
  if (!admin && obj.metadata.name !== "default")
    p.add("metadata.name", 'must be "default": there is one BaselineAdminNetworkPolicy per cluster');
  const ingress = spec.ingress?.length ? adminRules(spec.ingress, "ingress", p) : null;
  const egress = spec.egress?.length ? adminRules(spec.egress, "egress", p) : null;
  return {
    ref: { apiVersion: ADMIN_API, kind: obj.kind, namespace: null, name: obj.metadata.name },
    tier: "extended",
    order: admin ? (spec.priority ?? 0) : null,
    tierName: admin ? ADMIN_TIER : BASELINE_TIER,
    kubernetesSelectors: true,
    applies: adminPods(spec.subject, "spec.subject", p),
    ingress,
    egress,
  };
}

// --- entry point ------------------------------------------------------------------------------------

const CLUSTER_KINDS: ReadonlySet<string> = new Set([
  "GlobalNetworkPolicy",
  "StagedGlobalNetworkPolicy",
  "GlobalNetworkSet",
  "AdminNetworkPolicy",
  "BaselineAdminNetworkPolicy",
]);

function objectName(obj: unknown): string {
  const o = (typeof obj === "object" && obj !== null ? obj : {}) as Record<string, unknown>;
  const kind = typeof o["kind"] === "string" ? o["kind"] : "object";
  const md = (typeof o["metadata"] === "object" && o["metadata"] !== null ? o["metadata"] : {}) as Record<
    string,
    unknown
  >;
  const name = typeof md["name"] === "string" ? md["name"] : "(unnamed)";
  if (CLUSTER_KINDS.has(kind)) return `${kind} ${name}`;
  const ns = typeof md["namespace"] === "string" ? md["namespace"] : "default";
  return `${kind} ${ns}/${name}`;
}

/**
 * Validates one policy object and normalises it. `obj` is the parsed YAML/JSON document. The caller
 * checked `isPolicyKind` (other kinds are reported here as unsupported).
 */
export function validatePolicy(obj: unknown): PolicyResult {
  const p = new Problems(objectName(obj));
  const o = (typeof obj === "object" && obj !== null ? obj : {}) as Record<string, unknown>;
  if (!isPolicyKind(o["apiVersion"], o["kind"])) {
    p.add("kind", `unsupported apiVersion/kind ${String(o["apiVersion"])}/${String(o["kind"])}`);
    return { ok: false, problems: p.list };
  }
  const k8s = o["apiVersion"] === K8S_API;
  const kind = o["kind"] as PolicyRef["kind"];
  const validate = k8s ? validators.k8s : validators[kind];
  if (!validate(obj)) {
    for (const e of ajvProblems(validate.errors ?? [])) p.add(e.path, e.message);
    return { ok: false, problems: p.list };
  }
  const md = o["metadata"] as { name: string; namespace?: string };
  const np = dnsSubdomainProblem(md.name);
  if (np) p.add("metadata.name", np);
  if (CLUSTER_KINDS.has(kind)) {
    if (md.namespace !== undefined) p.add("metadata.namespace", "must not be set on a cluster-wide policy");
  } else if (md.namespace !== undefined) {
    const nsp = dnsLabelProblem(md.namespace);
    if (nsp) p.add("metadata.namespace", nsp);
  }
  const policy = k8s
    ? validateK8s(obj as K8sPolicy, p)
    : o["apiVersion"] === ADMIN_API
      ? validateAdmin(obj as AdminPolicy, p)
      : validateExtended(obj as ExtPolicy, p);
  if (p.list.length > 0) return { ok: false, problems: p.list };
  return { ok: true, policy };
}

export { refText };

/** Calico's NetworkSet and GlobalNetworkSet, under our API group or Calico's. */
export function isNetworkSetKind(apiVersion: unknown, kind: unknown): boolean {
  return (
    (apiVersion === TORTIE_API || apiVersion === CALICO_API) &&
    (kind === "NetworkSet" || kind === "GlobalNetworkSet")
  );
}

export type NetworkSetResult =
  | { readonly ok: true; readonly set: NetworkSetState }
  | { readonly ok: false; readonly problems: readonly FieldProblem[] };

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Validates a NetworkSet or GlobalNetworkSet and normalises its nets. A net may be written as an
 * address (a /32 or /128, as Calico takes it) and with host bits set (it acts as its network).
 */
export function validateNetworkSet(obj: unknown): NetworkSetResult {
  const p = new Problems(objectName(obj));
  const o = isRecord(obj) ? obj : {};
  if (!isNetworkSetKind(o["apiVersion"], o["kind"])) {
    p.add("kind", `unsupported apiVersion/kind ${String(o["apiVersion"])}/${String(o["kind"])}`);
    return { ok: false, problems: p.list };
  }
  const global = o["kind"] === "GlobalNetworkSet";
  const md = isRecord(o["metadata"]) ? o["metadata"] : {};
  const name = md["name"];
  if (typeof name !== "string") {
    p.add("metadata.name", "required");
    return { ok: false, problems: p.list };
  }
  const np = dnsSubdomainProblem(name);
  if (np) p.add("metadata.name", np);
  let namespace: string | null = null;
  if (global) {
    if (md["namespace"] !== undefined) p.add("metadata.namespace", "must not be set on a GlobalNetworkSet");
  } else {
    const ns = md["namespace"] ?? "default";
    if (typeof ns !== "string") p.add("metadata.namespace", "must be a string");
    else {
      const nsp = dnsLabelProblem(ns);
      if (nsp) p.add("metadata.namespace", nsp);
      namespace = ns;
    }
  }
  const labels: Record<string, string> = {};
  const rawLabels = md["labels"];
  if (rawLabels !== undefined && rawLabels !== null) {
    if (!isRecord(rawLabels)) p.add("metadata.labels", "must be a map of strings");
    else
      for (const [k, v] of Object.entries(rawLabels)) {
        const kp = labelKeyProblem(k);
        if (kp) p.add("metadata.labels", `key ${JSON.stringify(k)}: ${kp}`);
        if (typeof v !== "string") p.add(`metadata.labels.${k}`, "must be a string");
        else {
          const vp = labelValueProblem(v);
          if (vp) p.add(`metadata.labels.${k}`, vp);
          labels[k] = v;
        }
      }
  }
  const nets: string[] = [];
  const spec = o["spec"] ?? {};
  if (!isRecord(spec)) p.add("spec", "must be an object");
  else
    for (const [k, v] of Object.entries(spec)) {
      if (k === "allowedEgressDomains") p.add("spec.allowedEgressDomains", "domain names are not supported");
      else if (k !== "nets") p.add(`spec.${k}`, "unknown field");
      else if (!Array.isArray(v)) p.add("spec.nets", "must be a list of CIDRs");
      else
        v.forEach((n: unknown, i) => {
          const path = `spec.nets[${i}]`;
          if (typeof n !== "string") return p.add(path, "must be a string");
          const a = n.includes("/") ? null : parseAddr(n);
          const c = a ? `${a.text}/${a.family === 4 ? 32 : 128}` : checkCidr(n, path, p);
          if (c !== null) nets.push(c);
        });
    }
  if (p.list.length > 0) return { ok: false, problems: p.list };
  return { ok: true, set: { namespace, name, labels, nets: [...new Set(nets)] } };
}

const STAGED_KINDS = {
  StagedNetworkPolicy: "NetworkPolicy",
  StagedGlobalNetworkPolicy: "GlobalNetworkPolicy",
  StagedKubernetesNetworkPolicy: "NetworkPolicy",
} as const;

/** Calico's staged policies, under our API group or Calico's. */
export function isStagedKind(apiVersion: unknown, kind: unknown): boolean {
  return (
    (apiVersion === TORTIE_API || apiVersion === CALICO_API) &&
    typeof kind === "string" &&
    Object.hasOwn(STAGED_KINDS, kind)
  );
}

export type StagedResult =
  | { readonly ok: true; readonly staged: StagedPolicy }
  | { readonly ok: false; readonly problems: readonly FieldProblem[] };

const STAGED_ACTIONS: Readonly<Record<string, StagedAction>> = {
  Set: "set",
  Delete: "delete",
  Learn: "learn",
  Ignore: "ignore",
};

/**
 * Validates a staged policy as the enforced policy it stands for (a StagedKubernetesNetworkPolicy's
 * spec is a Kubernetes NetworkPolicy's), with `spec.stagedAction` (default Set) on top. Problems name
 * the staged object.
 */
export function validateStagedPolicy(obj: unknown): StagedResult {
  const o = isRecord(obj) ? obj : {};
  const kind = o["kind"] as StagedPolicy["kind"];
  const name = objectName(obj);
  if (!isStagedKind(o["apiVersion"], kind))
    return {
      ok: false,
      problems: [
        {
          object: name,
          path: "kind",
          message: `unsupported apiVersion/kind ${String(o["apiVersion"])}/${String(kind)}`,
        },
      ],
    };
  const spec = isRecord(o["spec"]) ? o["spec"] : {};
  const { stagedAction, ...rest } = spec;
  const action =
    stagedAction === undefined
      ? "set"
      : typeof stagedAction === "string"
        ? STAGED_ACTIONS[stagedAction]
        : undefined;
  const enforced = {
    ...o,
    apiVersion: kind === "StagedKubernetesNetworkPolicy" ? K8S_API : o["apiVersion"],
    kind: STAGED_KINDS[kind],
    spec: rest,
  };
  const r = validatePolicy(enforced);
  const problems = [
    ...(action === undefined
      ? [
          {
            object: name,
            path: "spec.stagedAction",
            message: `must be Set, Delete, Learn or Ignore, not ${JSON.stringify(stagedAction)}`,
          },
        ]
      : []),
    ...(r.ok ? [] : r.problems.map((p) => ({ ...p, object: name }))),
  ];
  if (!r.ok || action === undefined) return { ok: false, problems };
  return { ok: true, staged: { kind, action, policy: r.policy } };
}

/** Calico's Tier, under our API group or Calico's. */
export function isTierKind(apiVersion: unknown, kind: unknown): boolean {
  return (apiVersion === TORTIE_API || apiVersion === CALICO_API) && kind === "Tier";
}

export type TierResult =
  | { readonly ok: true; readonly tier: TierState }
  | { readonly ok: false; readonly problems: readonly FieldProblem[] };

const TIER_ACTIONS: Readonly<Record<string, TierState["defaultAction"]>> = { Deny: "deny", Pass: "pass" };

/**
 * Validates a Tier. The default tier exists without an object; one may be written (Calico creates
 * it), but its order and action are fixed.
 */
export function validateTier(obj: unknown): TierResult {
  const o = isRecord(obj) ? obj : {};
  const md = isRecord(o["metadata"]) ? o["metadata"] : {};
  const p = new Problems(`Tier ${typeof md["name"] === "string" ? md["name"] : "(unnamed)"}`);
  if (!isTierKind(o["apiVersion"], o["kind"])) {
    p.add("kind", `unsupported apiVersion/kind ${String(o["apiVersion"])}/${String(o["kind"])}`);
    return { ok: false, problems: p.list };
  }
  const name = md["name"];
  if (typeof name !== "string") {
    p.add("metadata.name", "required");
    return { ok: false, problems: p.list };
  }
  const np = dnsLabelProblem(name);
  if (np) p.add("metadata.name", `${np} (policy names in a tier are prefixed "<tier>.")`);
  if (md["namespace"] !== undefined) p.add("metadata.namespace", "must not be set: tiers are cluster-wide");
  let order: number | null = null;
  let defaultAction: TierState["defaultAction"] = "deny";
  const spec = o["spec"] ?? {};
  if (!isRecord(spec)) p.add("spec", "must be an object");
  else
    for (const [k, v] of Object.entries(spec)) {
      if (k === "order") {
        if (v === null) continue;
        if (typeof v !== "number" || !Number.isFinite(v)) p.add("spec.order", "must be a number");
        else order = v;
      } else if (k === "defaultAction") {
        const a = typeof v === "string" ? TIER_ACTIONS[v] : undefined;
        if (a === undefined) p.add("spec.defaultAction", `must be Deny or Pass, not ${JSON.stringify(v)}`);
        else defaultAction = a;
      } else p.add(`spec.${k}`, "unknown field");
    }
  const builtin = BUILTIN_TIERS.get(name);
  if (builtin) {
    if (order !== null && order !== builtin.order)
      p.add("spec.order", `the ${name} tier's order is fixed at ${String(builtin.order)}`);
    if (defaultAction !== builtin.defaultAction)
      p.add(
        "spec.defaultAction",
        `the ${name} tier's action is fixed at ${builtin.defaultAction === "deny" ? "Deny" : "Pass"}`,
      );
  }
  if (p.list.length > 0) return { ok: false, problems: p.list };
  return { ok: true, tier: { name, order, defaultAction } };
}

/** Used by the compiler: the except-less address space of an ipBlock. */
export function ipBlockIntervals(b: { cidr: string; except: readonly string[] }) {
  const outer = parseCidr(b.cidr);
  if (!outer) return [];
  return subtract(
    [outer],
    b.except.flatMap((e) => {
      const iv = parseCidr(e);
      return iv ? [iv] : [];
    }),
  );
}
