/**
 * The state file `tortie policy render|explain --state FILE` read: multi-document YAML of v1
 * Namespace, v1 Pod, v1 ServiceAccount (optional, for Calico serviceAccounts.selector), `kind: List`
 * wrappers, and policy objects. Bad documents become problems; the good ones still load.
 */
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { type FieldProblem, UserError, errorMessage } from "../core/errors.js";
import { parseAddr } from "./cidr.js";
import {
  type ClusterState,
  type ContainerPort,
  type EndpointSliceState,
  type NamespaceState,
  type NetworkSetState,
  type TierState,
  PROTO,
  type PodState,
  type ServiceAccountState,
  networkSetRef,
} from "./ir.js";
import type { Policy, StagedPolicy } from "./model.js";
import {
  dnsLabelProblem,
  dnsSubdomainProblem,
  isNetworkSetKind,
  isPolicyKind,
  isStagedKind,
  isTierKind,
  validateNetworkSet,
  validatePolicy,
  validateStagedPolicy,
  validateTier,
} from "./validate.js";

export interface LoadedState {
  readonly state: ClusterState;
  /** Valid, normalised policies, in file order. */
  readonly policies: readonly Policy[];
  /** Every problem found; objects with problems are left out of `state` / `policies`. */
  readonly problems: readonly FieldProblem[];
  /** Calico staged policies: never enforced; `explain --staged` previews them. */
  readonly staged?: readonly StagedPolicy[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

function labelsOf(md: Obj, add: (path: string, msg: string) => void): Record<string, string> {
  const raw = md["labels"];
  const out: Record<string, string> = {};
  if (raw === undefined || raw === null) return out;
  if (!isObj(raw)) {
    add("metadata.labels", "must be a map of strings");
    return out;
  }
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") add(`metadata.labels.${k}`, "must be a string");
    else out[k] = v;
  }
  return out;
}

function loadPod(o: Obj, md: Obj, name: string, add: (p: string, m: string) => void): PodState {
  const namespace = str(md["namespace"]) ?? "default";
  const spec = isObj(o["spec"]) ? o["spec"] : {};
  const status = isObj(o["status"]) ? o["status"] : {};
  const ports: ContainerPort[] = [];
  const containers = Array.isArray(spec["containers"]) ? (spec["containers"] as unknown[]) : [];
  containers.forEach((c, i) => {
    if (!isObj(c)) return add(`spec.containers[${i}]`, "must be an object");
    const list = Array.isArray(c["ports"]) ? (c["ports"] as unknown[]) : [];
    list.forEach((pt, j) => {
      const path = `spec.containers[${i}].ports[${j}]`;
      if (!isObj(pt)) return add(path, "must be an object");
      const cp = pt["containerPort"];
      if (typeof cp !== "number" || !Number.isInteger(cp) || cp < 1 || cp > 65535)
        return add(`${path}.containerPort`, "must be an integer between 1 and 65535");
      const proto = pt["protocol"] ?? "TCP";
      if (proto !== "TCP" && proto !== "UDP" && proto !== "SCTP")
        return add(`${path}.protocol`, 'must be one of "TCP", "UDP", "SCTP"');
      const pname = str(pt["name"]);
      ports.push({ containerPort: cp, protocol: proto, ...(pname !== undefined ? { name: pname } : {}) });
    });
  });
  const ips: string[] = [];
  const addIp = (v: unknown, path: string): void => {
    const a = typeof v === "string" ? parseAddr(v) : null;
    if (a === null) add(path, `invalid IP address ${JSON.stringify(v)}`);
    else if (!ips.includes(a.text)) ips.push(a.text);
  };
  if (Array.isArray(status["podIPs"]))
    (status["podIPs"] as unknown[]).forEach((e, i) =>
      addIp(isObj(e) ? e["ip"] : undefined, `status.podIPs[${i}].ip`),
    );
  if (status["podIP"] !== undefined) addIp(status["podIP"], "status.podIP");
  // A host-network pod's IP is its node's: it has no pod interface and must not join selector sets
  // (Calico does the same). A finished pod's IP may already belong to a new pod.
  const inactive =
    spec["hostNetwork"] === true || status["phase"] === "Succeeded" || status["phase"] === "Failed";
  return {
    namespace,
    name,
    labels: labelsOf(md, add),
    nodeName: str(spec["nodeName"]) ?? null,
    serviceAccountName: str(spec["serviceAccountName"]) ?? str(spec["serviceAccount"]) ?? "default",
    ports,
    ips: inactive ? [] : ips,
  };
}

/** What one document is: a List to unwrap, or at most one object, plus its problems. */
export interface ParsedObject {
  readonly items?: readonly unknown[];
  readonly namespace?: NamespaceState;
  readonly pod?: PodState;
  readonly serviceAccount?: ServiceAccountState;
  readonly networkSet?: NetworkSetState;
  readonly tier?: TierState;
  /** A Service's EndpointSlice; null for one the policy cannot use (FQDN, no Service label). */
  readonly endpointSlice?: EndpointSliceState | null;
  readonly policy?: Policy;
  readonly staged?: StagedPolicy;
  /** Non-empty means the object is bad: none of the fields above is set. */
  readonly problems: readonly FieldProblem[];
}

/**
 * Parses one document (a v1 Namespace, Pod, ServiceAccount, List, or a policy object). Shared by
 * the state file loader and the policy engine's `upsert`, so both accept and reject the same things.
 */
export function parseObject(doc: unknown, where = "object"): ParsedObject {
  if (doc === null || doc === undefined) return { problems: [] };
  if (!isObj(doc)) return { problems: [{ object: where, path: "(document)", message: "must be an object" }] };
  const apiVersion = doc["apiVersion"];
  const kind = doc["kind"];
  if (apiVersion === "v1" && kind === "List")
    return { items: Array.isArray(doc["items"]) ? (doc["items"] as unknown[]) : [], problems: [] };
  if (isPolicyKind(apiVersion, kind)) {
    const r = validatePolicy(doc);
    return r.ok ? { policy: r.policy, problems: [] } : { problems: r.problems };
  }
  if (isNetworkSetKind(apiVersion, kind)) {
    const r = validateNetworkSet(doc);
    return r.ok ? { networkSet: r.set, problems: [] } : { problems: r.problems };
  }
  if (isStagedKind(apiVersion, kind)) {
    const r = validateStagedPolicy(doc);
    return r.ok ? { staged: r.staged, problems: [] } : { problems: r.problems };
  }
  if (isTierKind(apiVersion, kind)) {
    const r = validateTier(doc);
    return r.ok ? { tier: r.tier, problems: [] } : { problems: r.problems };
  }
  const md = isObj(doc["metadata"]) ? doc["metadata"] : {};
  if (apiVersion === "discovery.k8s.io/v1" && kind === "EndpointSlice") return loadEndpointSlice(doc, md);
  const name = str(md["name"]);
  const ns = str(md["namespace"]) ?? "default";
  const objName =
    kind === "Namespace"
      ? `Namespace ${name ?? "(unnamed)"}`
      : `${String(kind)} ${ns}/${name ?? "(unnamed)"}`;
  const local: FieldProblem[] = [];
  const add = (path: string, message: string): void => {
    local.push({ object: objName, path, message });
  };
  if (apiVersion !== "v1" || (kind !== "Namespace" && kind !== "Pod" && kind !== "ServiceAccount"))
    return {
      problems: [
        {
          object: where,
          path: "kind",
          message: `unsupported apiVersion/kind ${String(apiVersion)}/${String(kind)} (want v1 Namespace, Pod, ServiceAccount, List, a (staged) NetworkPolicy, a NetworkSet, a Tier or an EndpointSlice)`,
        },
      ],
    };
  if (name === undefined)
    return { problems: [{ object: objName, path: "metadata.name", message: "required" }] };
  const np = kind === "Namespace" ? dnsLabelProblem(name) : dnsSubdomainProblem(name);
  if (np) add("metadata.name", np);
  if (kind !== "Namespace") {
    const nsp = dnsLabelProblem(ns);
    if (nsp) add("metadata.namespace", nsp);
  }
  if (kind === "Namespace") {
    // The API server sets this label on every namespace; selectors rely on it.
    const labels = { ...labelsOf(md, add), "kubernetes.io/metadata.name": name };
    return local.length ? { problems: local } : { namespace: { name, labels }, problems: [] };
  }
  if (kind === "Pod") {
    const pod = loadPod(doc, md, name, add);
    return local.length ? { problems: local } : { pod, problems: [] };
  }
  const labels = labelsOf(md, add);
  return local.length
    ? { problems: local }
    : { serviceAccount: { namespace: ns, name, labels }, problems: [] };
}

const PROTOCOLS: Readonly<Record<string, number>> = { TCP: PROTO.tcp, UDP: PROTO.udp, SCTP: PROTO.sctp };

/**
 * A Service's EndpointSlice, as written by the EndpointSlice controller: every endpoint's addresses
 * and the slice's numbered ports. Problems name the slice and the field.
 */
function loadEndpointSlice(o: Obj, md: Obj): ParsedObject {
  const name = str(md["name"]);
  const namespace = str(md["namespace"]) ?? "default";
  const object = `EndpointSlice ${namespace}/${name ?? "(unnamed)"}`;
  const problems: FieldProblem[] = [];
  const add = (path: string, message: string): void => void problems.push({ object, path, message });
  if (name === undefined) add("metadata.name", "required");
  const labels = isObj(md["labels"]) ? md["labels"] : {};
  const service = str(labels["kubernetes.io/service-name"]);
  const type = o["addressType"];
  if (type !== "IPv4" && type !== "IPv6" && type !== "FQDN") add("addressType", "must be IPv4, IPv6 or FQDN");
  const family = type === "IPv4" ? 4 : 6;
  const addresses: string[] = [];
  const endpoints = o["endpoints"] ?? [];
  if (!Array.isArray(endpoints)) add("endpoints", "must be a list");
  else
    endpoints.forEach((e: unknown, i) => {
      const list = isObj(e) ? e["addresses"] : undefined;
      if (!Array.isArray(list)) return add(`endpoints[${i}].addresses`, "must be a list of addresses");
      list.forEach((a: unknown, j) => {
        if (type === "FQDN") return;
        const p = typeof a === "string" ? parseAddr(a) : null;
        if (!p || p.family !== family)
          add(`endpoints[${i}].addresses[${j}]`, `must be an ${String(type)} address`);
        else addresses.push(p.text);
      });
    });
  const ports: { port: number; protocol: number }[] = [];
  const rawPorts = o["ports"] ?? [];
  if (!Array.isArray(rawPorts)) add("ports", "must be a list");
  else
    rawPorts.forEach((p: unknown, i) => {
      if (!isObj(p)) return add(`ports[${i}]`, "must be an object");
      const protocol = PROTOCOLS[str(p["protocol"]) ?? "TCP"];
      if (protocol === undefined) add(`ports[${i}].protocol`, "must be TCP, UDP or SCTP");
      const port = p["port"];
      if (port === undefined || port === null) return;
      if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)
        return add(`ports[${i}].port`, "must be between 1 and 65535, inclusive");
      if (protocol !== undefined) ports.push({ port, protocol });
    });
  if (problems.length > 0 || name === undefined) return { problems };
  if (service === undefined || type === "FQDN") return { endpointSlice: null, problems: [] };
  return {
    endpointSlice: { namespace, name, service, family, addresses: [...new Set(addresses)], ports },
    problems: [],
  };
}

/** Parses the text of a state file. `source` names it in problems about whole documents. */
export function loadStateText(text: string, source = "state"): LoadedState {
  const namespaces = new Map<string, NamespaceState>();
  const pods = new Map<string, PodState>();
  const sas = new Map<string, ServiceAccountState>();
  const networkSets = new Map<string, NetworkSetState>();
  const slices = new Map<string, EndpointSliceState>();
  const tiers = new Map<string, TierState>();
  const policies: Policy[] = [];
  const staged: StagedPolicy[] = [];
  const problems: FieldProblem[] = [];

  const one = (doc: unknown, where: string): void => {
    const r = parseObject(doc, where);
    if (r.items) {
      r.items.forEach((it, i) => one(it, `${where} items[${i}]`));
      return;
    }
    const local = [...r.problems];
    if (r.policy) policies.push(r.policy);
    if (r.staged) staged.push(r.staged);
    if (r.namespace) {
      if (namespaces.has(r.namespace.name))
        local.push({
          object: `Namespace ${r.namespace.name}`,
          path: "metadata.name",
          message: "duplicate object",
        });
      else namespaces.set(r.namespace.name, r.namespace);
    }
    if (r.pod) {
      const key = `${r.pod.namespace}/${r.pod.name}`;
      if (pods.has(key))
        local.push({ object: `Pod ${key}`, path: "metadata.name", message: "duplicate object" });
      else pods.set(key, r.pod);
    }
    if (r.serviceAccount) sas.set(`${r.serviceAccount.namespace}/${r.serviceAccount.name}`, r.serviceAccount);
    if (r.networkSet) {
      const s = r.networkSet;
      const key = networkSetRef(s.namespace, s.name);
      if (networkSets.has(key))
        local.push({ object: key, path: "metadata.name", message: "duplicate object" });
      else networkSets.set(key, s);
    }
    if (r.tier) {
      if (tiers.has(r.tier.name))
        local.push({ object: `Tier ${r.tier.name}`, path: "metadata.name", message: "duplicate object" });
      else tiers.set(r.tier.name, r.tier);
    }
    if (r.endpointSlice) slices.set(`${r.endpointSlice.namespace}/${r.endpointSlice.name}`, r.endpointSlice);
    problems.push(...local);
  };

  // JSON is YAML too; a JSON state file (`kubectl get -o json` gives a List) skips the much slower
  // YAML parser, which matters at 10,000 pods.
  if (/^\s*[{[]/.test(text)) {
    let json: unknown;
    let parsed = false;
    try {
      json = JSON.parse(text);
      parsed = true;
    } catch {
      // not strict JSON: fall through to the YAML parser, which reports the error with a position
    }
    if (parsed) {
      (Array.isArray(json) ? json : [json]).forEach((d, i) => one(d, `${source} document ${i + 1}`));
      return finish();
    }
  }
  let docs;
  try {
    docs = parseAllDocuments(text);
  } catch (err) {
    return {
      state: { namespaces: [], pods: [], serviceAccounts: [] },
      policies: [],
      problems: [{ object: source, path: "(file)", message: errorMessage(err) }],
    };
  }
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((d, i) => {
    const where = `${source} document ${i + 1}`;
    if (d.errors.length > 0) {
      for (const e of d.errors) problems.push({ object: where, path: "(yaml)", message: e.message });
      return;
    }
    one(d.toJS(), where);
  });

  return finish();

  function finish(): LoadedState {
    // Pods and NetworkSets in namespaces the file does not declare still count; their namespace has
    // only the automatic name label (as it would in a cluster).
    const implied = [
      ...[...pods.values()].map((p) => p.namespace),
      ...[...networkSets.values()].flatMap((s) => (s.namespace === null ? [] : [s.namespace])),
    ];
    for (const ns of implied)
      if (!namespaces.has(ns))
        namespaces.set(ns, { name: ns, labels: { "kubernetes.io/metadata.name": ns } });
    const byName = <T extends { name: string }>(a: T, b: T): number =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    return {
      state: {
        namespaces: [...namespaces.values()].sort(byName),
        pods: [...pods.values()].sort((a, b) =>
          byName({ name: `${a.namespace}/${a.name}` }, { name: `${b.namespace}/${b.name}` }),
        ),
        serviceAccounts: [...sas.values()].sort((a, b) =>
          byName({ name: `${a.namespace}/${a.name}` }, { name: `${b.namespace}/${b.name}` }),
        ),
        endpointSlices: [...slices.entries()]
          .sort((a, b) => byName({ name: a[0] }, { name: b[0] }))
          .map((e) => e[1]),
        networkSets: [...networkSets.entries()]
          .sort((a, b) => byName({ name: a[0] }, { name: b[0] }))
          .map((e) => e[1]),
        ...(tiers.size ? { tiers: [...tiers.values()].sort(byName) } : {}),
      },
      policies,
      problems,
      ...(staged.length ? { staged } : {}),
    };
  }
}

/** Reads and parses a state file; an unreadable file is a UserError, bad documents are problems. */
export function loadStateFile(path: string): LoadedState {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new UserError(`cannot read state file ${path}: ${errorMessage(err)}`);
  }
  return loadStateText(text, path);
}
