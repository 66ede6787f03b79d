/**
 * The pure half of the agent: from the cluster cache to what this node's kernel and BGP speaker must
 * hold. No I/O; every list in the result is sorted, so the result depends only on the cache contents,
 * never on the order the events arrived in.
 */
import ipaddr from "ipaddr.js";
import { checkConfig } from "../../bgp/config.js";
import type { BgpFilter, FilterRule } from "../../bgp/policy/filter.js";
import { ValidationError } from "../../core/errors.js";
import { hostIfName } from "../../core/ifname.js";
import type { RouteSpec } from "../../core/kernel-routes.js";
import type { ObjectOf, StoredObject } from "../../datastore/types.js";
import { matches, parseSelector } from "../../policy/selector.js";
import { objectKey, type ClusterCache } from "./cache.js";

export const ANN_IPV4 = "tortie.io/ipv4-address";
export const ANN_ASN = "tortie.io/as-number";
export const ANN_RR_CLUSTER = "tortie.io/route-reflector-cluster-id";
export const DEFAULT_ASN = 64512;
export const DEFAULT_BGP_PORT = 179;

export interface LocalEndpoint {
  readonly namespace: string;
  readonly pod: string;
  readonly ifName: string;
  /** Addresses without prefix length, canonical. */
  readonly ips: readonly string[];
}

export interface BgpPeerWant {
  readonly address: string;
  readonly port: number;
  readonly asn: number;
  /** Where the peer came from: "mesh", "BGPPeer <name>". */
  readonly source: string;
  /** We are a route reflector and this peer, in our AS, is not one: it is our client (RFC 4456). */
  readonly routeReflectorClient: boolean;
  /** BGPPeer spec.nextHopMode, when given. */
  readonly nextHopMode?: "Auto" | "Self" | "Keep";
  /** BGPFilter names (spec.filters), only those that exist and are valid, in the BGPPeer's order. */
  readonly filters?: readonly string[];
  /** RFC 5082 GTSM hops (BGPPeer spec.ttlSecurity, 0 = off). */
  readonly ttlSecurity?: number;
  /** BGPPeer spec.failureDetectionMode BFDIfDirectlyConnected: single-hop BFD watches the session. */
  readonly bfd?: boolean;
  /** RFC 2385 TCP-MD5 key, read from the Secret that spec.password.secretKeyRef names. */
  readonly password?: string;
}

export interface BgpWant {
  readonly routerId: string;
  readonly asn: number;
  readonly listenPort: number;
  readonly routeReflectorClusterId: string | undefined;
  readonly peers: readonly BgpPeerWant[];
  /** The node's affine blocks that BGP export allows. */
  readonly originate: readonly string[];
  /** Valid BGPFilters, by name; a bad one is left out (and listed under problems). */
  readonly filters: readonly BgpFilter[];
  /** Every IPPool CIDR: iBGP import is limited to these, eBGP import to what a filter accepts. */
  readonly pools: readonly string[];
  /** BGPConfiguration default's service ranges, advertised from every node (as Calico does). */
  readonly serviceClusterIPs: readonly string[];
  readonly serviceExternalIPs: readonly string[];
  readonly serviceLoadBalancerIPs: readonly string[];
  /** RFC 4724 restart time we announce, in seconds. */
  readonly restartTime: number;
}

/** RFC 4724 restart time announced when no BGPPeer asks for another (BIRD's and FRR's default). */
export const DEFAULT_RESTART_TIME = 120;

export interface Masquerade {
  /** Every pool's CIDR: traffic to these is not masqueraded. */
  readonly pools: { readonly v4: readonly string[]; readonly v6: readonly string[] };
  /** Pools with natOutgoing: traffic from these to outside all pools is masqueraded. */
  readonly natPools: { readonly v4: readonly string[]; readonly v6: readonly string[] };
}

export interface Desired {
  readonly node: string;
  readonly localEndpoints: readonly LocalEndpoint[];
  readonly affineBlocks: readonly string[];
  /** Local routes: a host route per local pod address to its veth, a blackhole per affine block. */
  readonly routes: readonly RouteSpec[];
  readonly masquerade: Masquerade;
  /** undefined when this node has no IPv4 address to speak BGP from. */
  readonly bgp: BgpWant | undefined;
  /** Objects that could not be used, each naming the object and field. */
  readonly problems: readonly string[];
}

export interface Self {
  readonly name: string;
  /** ADDR/LEN, the BGP address (also what felix writes into its Node's annotation). */
  readonly ip: string | undefined;
  /** Where BGP passwords' Secrets live (the agent's own namespace, as Calico does); kube-system if absent. */
  readonly secretsNamespace?: string;
}

export const DEFAULT_SECRETS_NAMESPACE = "kube-system";
type PasswordRef = { readonly secretKeyRef?: { readonly name: string; readonly key: string } };
/** A v1 Secret's payload: `data` base64, `stringData` plain (what a hand-written file store object holds). */
type SecretData = { readonly data?: Record<string, string>; readonly stringData?: Record<string, string> };
const decodeBase64 = (s: string): string => Buffer.from(s, "base64").toString("utf8");
/** Linux's TCP_MD5SIG_MAXKEYLEN: a longer key is refused by setsockopt. */
const MD5_MAX_KEY = 80;

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const isV6 = (a: string): boolean => a.includes(":");
const stripLen = (c: string): string => c.split("/")[0] ?? c;

function canonicalIp(a: string): string | undefined {
  try {
    return ipaddr.process(stripLen(a)).toString();
  } catch {
    return undefined;
  }
}

function canonicalCidr(c: string): string | undefined {
  try {
    const [addr, len] = ipaddr.parseCIDR(c);
    const net = ipaddr.IPv4.isValid(addr.toString())
      ? ipaddr.IPv4.networkAddressFromCIDR(c)
      : ipaddr.IPv6.networkAddressFromCIDR(c);
    return `${net.toString()}/${len}`;
  } catch {
    return undefined;
  }
}

function podIps(pod: ObjectOf<"Pod">): string[] {
  const st = pod.status;
  const raw = st?.podIPs?.length ? st.podIPs.map((p) => p.ip) : st?.podIP ? [st.podIP] : [];
  return raw.map(canonicalIp).filter((x): x is string => x !== undefined);
}

/**
 * The endpoint for one pod of this node: from its WorkloadEndpoint (the CNI plugin's record) when
 * there is one, else from the pod itself when it is scheduled here and has an IP.
 */
export function endpointOf(
  cache: ClusterCache,
  node: string,
  namespace: string,
  pod: string,
  wep: ObjectOf<"WorkloadEndpoint"> | undefined,
): LocalEndpoint | undefined {
  const finish = (e: LocalEndpoint): LocalEndpoint => ({ ...e, ips: [...new Set(e.ips)].sort(cmp) });
  if (wep) {
    const p = cache.get("Pod", wep.spec.pod, namespace);
    const fromPod = p ? podIps(p) : [];
    const fromWep = wep.spec.ipNetworks.map(canonicalIp).filter((x): x is string => x !== undefined);
    return finish({
      namespace,
      pod: wep.spec.pod,
      ifName: wep.spec.interfaceName,
      ips: fromPod.length > 0 ? fromPod : fromWep,
    });
  }
  const p = cache.get("Pod", pod, namespace) ?? (namespace === "default" ? cache.get("Pod", pod) : undefined);
  if (!p || p.spec.nodeName !== node || p.spec.hostNetwork === true) return undefined;
  const ips = podIps(p);
  if (ips.length === 0) return undefined;
  return finish({ namespace, pod, ifName: hostIfName(namespace, pod), ips });
}

/**
 * This node's pods: WorkloadEndpoints the CNI plugin wrote for it, then pods scheduled here with an
 * IP. Of several WorkloadEndpoints for one pod, the last by namespace/name counts.
 */
export function localEndpoints(cache: ClusterCache, node: string): LocalEndpoint[] {
  const weps = new Map<string, ObjectOf<"WorkloadEndpoint">>();
  for (const w of cache
    .list("WorkloadEndpoint")
    .filter((w) => w.spec.node === node)
    .sort((a, b) => cmp(objectKey(a), objectKey(b))))
    weps.set(`${w.metadata.namespace ?? "default"}/${w.spec.pod}`, w);
  const keys = new Set(weps.keys());
  for (const p of cache.list("Pod"))
    if (p.spec.nodeName === node) keys.add(`${p.metadata.namespace ?? "default"}/${p.metadata.name}`);
  return [...keys].sort(cmp).flatMap((k) => {
    const i = k.indexOf("/");
    return endpointOf(cache, node, k.slice(0, i), k.slice(i + 1), weps.get(k)) ?? [];
  });
}

/** The block a BlockAffinity (confirmed) or IPAMBlock (`affinity: host:<node>`) gives this node. */
export function affineBlockOf(
  kind: "BlockAffinity" | "IPAMBlock",
  obj: StoredObject,
  node: string,
): string | undefined {
  if (kind === "BlockAffinity") {
    const a = obj as ObjectOf<"BlockAffinity">;
    return a.spec.node === node && a.spec.state === "confirmed" ? canonicalCidr(a.spec.cidr) : undefined;
  }
  const b = obj as ObjectOf<"IPAMBlock">;
  return b.spec.affinity === `host:${node}` ? canonicalCidr(b.spec.cidr) : undefined;
}

/** Blocks whose affinity is this node: confirmed BlockAffinities, and IPAMBlocks saying `host:<node>`. */
export function affineBlocks(cache: ClusterCache, node: string): string[] {
  const out = new Set<string>();
  for (const a of cache.list("BlockAffinity")) {
    const c = affineBlockOf("BlockAffinity", a, node);
    if (c) out.add(c);
  }
  for (const b of cache.list("IPAMBlock")) {
    const c = affineBlockOf("IPAMBlock", b, node);
    if (c) out.add(c);
  }
  return [...out].sort(cmp);
}

/** A host route per local pod address to its veth, a blackhole per affine block; sorted. */
export function localRoutes(eps: readonly LocalEndpoint[], blocks: readonly string[]): RouteSpec[] {
  const routes: RouteSpec[] = [];
  for (const e of eps)
    for (const ip of e.ips)
      routes.push({ dst: `${ip}/${isV6(ip) ? 128 : 32}`, nexthops: [{ dev: e.ifName }] });
  for (const b of blocks) routes.push({ dst: b, type: "blackhole" });
  return routes.sort((a, b) => cmp(a.dst, b.dst));
}

function contains(cidr: string, block: string): boolean {
  try {
    const inner = ipaddr.parseCIDR(block);
    const outer = ipaddr.parseCIDR(cidr);
    return inner[0].kind() === outer[0].kind() && inner[1] >= outer[1] && inner[0].match(outer);
  } catch {
    return false;
  }
}

export function masquerade(cache: ClusterCache): Masquerade {
  const pools = { v4: new Set<string>(), v6: new Set<string>() };
  const nat = { v4: new Set<string>(), v6: new Set<string>() };
  for (const p of cache.list("IPPool")) {
    const c = canonicalCidr(p.spec.cidr);
    if (!c) continue;
    const fam = isV6(c) ? "v6" : "v4";
    pools[fam].add(c);
    if ((p.spec.natOutgoing ?? p.spec["nat-outgoing"] ?? false) && p.spec.disabled !== true) nat[fam].add(c);
  }
  const sorted = (s: Set<string>): string[] => [...s].sort(cmp);
  return {
    pools: { v4: sorted(pools.v4), v6: sorted(pools.v6) },
    natPools: { v4: sorted(nat.v4), v6: sorted(nat.v6) },
  };
}

function asnOf(node: ObjectOf<"Node"> | undefined, global: number | undefined, problems: string[]): number {
  const raw = node?.metadata.annotations?.[ANN_ASN];
  if (raw !== undefined) {
    const n = Number(raw);
    if (Number.isInteger(n) && n >= 1 && n <= 4294967295) return n;
    problems.push(
      `Node ${node?.metadata.name ?? "?"}: metadata.annotations.${ANN_ASN}: ${JSON.stringify(raw)} is not an AS number`,
    );
  }
  return global ?? DEFAULT_ASN;
}

function nodeAddress(node: ObjectOf<"Node">): string | undefined {
  const raw = node.metadata.annotations?.[ANN_IPV4];
  if (raw === undefined) return undefined;
  const a = canonicalIp(raw);
  return a !== undefined && !isV6(a) ? a : undefined;
}

/** `IP`, `IP:port`, `[IPv6]:port`. */
function parsePeerIp(s: string): { address: string; port: number } | undefined {
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(s);
  const v4 = /^([\d.]+):(\d+)$/.exec(s);
  const [addr, port] = v6 ? [v6[1], Number(v6[2])] : v4 ? [v4[1], Number(v4[2])] : [s, DEFAULT_BGP_PORT];
  const a = addr === undefined ? undefined : canonicalIp(addr);
  if (a === undefined || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return { address: a, port };
}

function selects(
  selector: string | undefined,
  labels: Record<string, string>,
  what: string,
  problems: string[],
) {
  if (selector === undefined || selector.trim() === "") return false;
  try {
    return matches(parseSelector(selector), labels);
  } catch (err) {
    problems.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    return false;
  }
}

/** A Go duration as Calico writes them ("120s", "2m", "1h30m") → whole seconds; undefined if not one. */
export function parseDuration(s: string): number | undefined {
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  const parts = [...s.trim().matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((m) => m[0]).join("") !== s.trim()) return undefined;
  return Math.round(parts.reduce((sum, m) => sum + Number(m[1]) * (unit[m[2] ?? "s"] ?? 1), 0));
}

/** Calico's rule fields; anything else in a stored rule is not ours to pass on. */
function calicoRule(r: Record<string, unknown>): FilterRule {
  const pick = ["action", "matchOperator", "cidr", "prefixLength", "source"] as const;
  return Object.fromEntries(
    pick.filter((k) => r[k] !== undefined).map((k) => [k, r[k]]),
  ) as unknown as FilterRule;
}

const FILTER_LISTS = ["exportV4", "importV4", "exportV6", "importV6"] as const;

/**
 * Every BGPFilter as the speaker takes it, each checked on its own with the speaker's own checks
 * (a bad one must not make the whole speaker config unusable): bad ones are left out and named.
 */
export function bgpFilters(cache: ClusterCache, problems: string[]): BgpFilter[] {
  const out: BgpFilter[] = [];
  for (const f of cache.list("BGPFilter").sort((a, b) => cmp(a.metadata.name, b.metadata.name))) {
    const what = `BGPFilter ${f.metadata.name}`;
    const spec = f.spec as Partial<Record<(typeof FILTER_LISTS)[number], Record<string, unknown>[]>>;
    const unsupported = FILTER_LISTS.flatMap((list) =>
      (spec[list] ?? []).flatMap((r, i) =>
        r["interface"] !== undefined ? [`spec.${list}[${i}].interface`] : [],
      ),
    );
    if (unsupported.length > 0) {
      problems.push(
        `${what}: ${unsupported[0] ?? ""}: interface matches are not supported (no interface routes are exported)`,
      );
      continue;
    }
    const filter: BgpFilter = {
      name: f.metadata.name,
      ...Object.fromEntries(
        FILTER_LISTS.filter((l) => spec[l] !== undefined).map((l) => [l, (spec[l] ?? []).map(calicoRule)]),
      ),
    };
    try {
      checkConfig(
        {
          routerId: "0.0.0.1",
          asn: 1,
          listen: { address: "0.0.0.1", port: 0 },
          peers: [],
          filters: [filter],
        },
        what,
      );
      out.push(filter);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      for (const p of err.problems)
        problems.push(`${what}: ${p.path.replace(/^filters\[0\]\.?/, "spec.")}: ${p.message}`);
    }
  }
  return out;
}

function cidrsOf(
  list: readonly { readonly cidr: string }[] | undefined,
  what: string,
  problems: string[],
): string[] {
  const out = new Set<string>();
  (list ?? []).forEach((r, i) => {
    const c = canonicalCidr(r.cidr);
    if (c === undefined) problems.push(`${what}[${i}].cidr: ${JSON.stringify(r.cidr)} is not a CIDR`);
    else out.add(c);
  });
  return [...out].sort(cmp);
}

/**
 * Local pod addresses outside every block affine to this node (IPAM borrowed them from another
 * node's block), as /32s: the block's owner advertises the whole block, so without a more specific
 * route from here the other nodes would send this pod's traffic to the owner's blackhole.
 */
export function borrowedAddresses(eps: readonly LocalEndpoint[], blocks: readonly string[]): string[] {
  const own = blocks.flatMap((b) => {
    try {
      return [ipaddr.parseCIDR(b)];
    } catch {
      return [];
    }
  });
  const out: string[] = [];
  for (const e of eps)
    for (const ip of e.ips) {
      if (isV6(ip)) continue;
      const a = ipaddr.parse(ip);
      if (!own.some((c) => c[0].kind() === a.kind() && a.match(c))) out.push(`${ip}/32`);
    }
  return out.sort(cmp);
}

export function bgpFor(
  cache: ClusterCache,
  self: Self,
  blocks: readonly string[],
  problems: string[],
  borrowed: readonly string[] = [],
): BgpWant | undefined {
  const routerId = self.ip === undefined ? undefined : canonicalIp(self.ip);
  if (routerId === undefined || isV6(routerId)) return undefined;
  const config = cache.get("BGPConfiguration", "default")?.spec;
  const me = cache.get("Node", self.name);
  const myLabels = { ...(me?.metadata.labels ?? {}) };
  const clusterId = me?.metadata.annotations?.[ANN_RR_CLUSTER];
  const asn = asnOf(me, config?.asNumber, problems);
  const listenPort = config?.listenPort ?? DEFAULT_BGP_PORT;
  const nodes = cache
    .list("Node")
    .filter((n) => n.metadata.name !== self.name)
    .sort((a, b) => cmp(a.metadata.name, b.metadata.name));
  const isRR = (n: ObjectOf<"Node"> | undefined): boolean =>
    n?.metadata.annotations?.[ANN_RR_CLUSTER] !== undefined;
  const peers = new Map<string, BgpPeerWant>();
  const add = (p: BgpPeerWant): void => {
    if (p.address === routerId) return;
    const had = peers.get(p.address);
    // An explicit BGPPeer wins over the mesh; between two BGPPeers the first by name wins.
    if (!had || (had.source === "mesh" && p.source !== "mesh")) peers.set(p.address, p);
  };
  const filters = bgpFilters(cache, problems);
  const filterNames = new Set(filters.map((f) => f.name));
  const restartTimes: number[] = [];
  const restartTime = (raw: string | undefined, what: string): void => {
    if (raw === undefined) return;
    const secs = parseDuration(raw);
    if (secs === undefined || secs < 1 || secs > 4095)
      problems.push(`${what}: ${JSON.stringify(raw)} is not a duration from 1s to 4095s (RFC 4724)`);
    else restartTimes.push(secs);
  };
  const secretsNs = self.secretsNamespace ?? DEFAULT_SECRETS_NAMESPACE;
  /**
   * A password's Secret, read into the peer; undefined when it names a Secret or key that is not
   * there: that peering waits for it (fail closed) rather than come up unsigned.
   */
  const passwordOf = (ref: PasswordRef | undefined, what: string): Partial<BgpPeerWant> | undefined => {
    const r = ref?.secretKeyRef;
    if (r === undefined) return {};
    const where = `${what}.secretKeyRef`;
    const secret = cache.get("Secret", r.name, secretsNs) as SecretData | undefined;
    if (!secret) {
      problems.push(`${where}: no Secret ${secretsNs}/${r.name}: the peering waits for it`);
      return undefined;
    }
    const encoded = secret.data?.[r.key];
    const key = secret.stringData?.[r.key] ?? (encoded !== undefined ? decodeBase64(encoded) : undefined);
    if (key === undefined) {
      problems.push(`${where}: Secret ${secretsNs}/${r.name} has no key ${JSON.stringify(r.key)}`);
      return undefined;
    }
    const bytes = Buffer.byteLength(key);
    if (bytes < 1 || bytes > MD5_MAX_KEY) {
      problems.push(
        `${where}: the password in ${secretsNs}/${r.name} is ${bytes} bytes (1 to ${MD5_MAX_KEY})`,
      );
      return undefined;
    }
    return { password: key };
  };
  const ownNode = (n: ObjectOf<"Node">, source: string, extra: Partial<BgpPeerWant> = {}): void => {
    const address = nodeAddress(n);
    if (address === undefined) return;
    const peerAsn = asnOf(n, config?.asNumber, problems);
    add({
      address,
      port: listenPort,
      asn: peerAsn,
      source,
      routeReflectorClient: clusterId !== undefined && !isRR(n) && peerAsn === asn,
      ...extra,
    });
  };
  const meshPassword = passwordOf(
    config?.nodeMeshPassword,
    "BGPConfiguration default: spec.nodeMeshPassword",
  );
  const mesh = config?.nodeToNodeMeshEnabled !== false;
  if (mesh && meshPassword) for (const n of nodes) ownNode(n, "mesh", meshPassword);
  if (mesh && nodes.length > 0)
    restartTime(config?.nodeMeshMaxRestartTime, "BGPConfiguration default: spec.nodeMeshMaxRestartTime");
  const bgpPeers = cache.list("BGPPeer").sort((a, b) => cmp(a.metadata.name, b.metadata.name));
  for (const p of bgpPeers) {
    const s = p.spec;
    const what = `BGPPeer ${p.metadata.name}`;
    const forMe =
      s.node !== undefined && s.node !== ""
        ? s.node === self.name
        : s.nodeSelector !== undefined && s.nodeSelector.trim() !== ""
          ? selects(s.nodeSelector, myLabels, `${what}: spec.nodeSelector`, problems)
          : true;
    if (!forMe) continue;
    const peerFilters = (s.filters ?? []).filter((name, i) => {
      if (filterNames.has(name)) return true;
      problems.push(`${what}: spec.filters[${i}]: no usable BGPFilter named ${JSON.stringify(name)}`);
      return false;
    });
    const ttl = s.ttlSecurity ?? 0;
    if (ttl > 254)
      problems.push(`${what}: spec.ttlSecurity: ${ttl} hops leaves no TTL to check (at most 254)`);
    const nextHopMode = s.nextHopMode ?? (s.keepOriginalNextHop === true ? "Keep" : undefined);
    const password = passwordOf(s.password, `${what}: spec.password`);
    if (!password) continue;
    const extra: Partial<BgpPeerWant> = {
      ...password,
      ...(peerFilters.length > 0 ? { filters: peerFilters } : {}),
      ...(ttl >= 1 && ttl <= 254 ? { ttlSecurity: ttl } : {}),
      ...(nextHopMode !== undefined ? { nextHopMode } : {}),
      // Single-hop BFD never comes Up over more than one hop (TTL 255 both ways): "if directly connected".
      ...(s.failureDetectionMode === "BFDIfDirectlyConnected" ? { bfd: true } : {}),
    };
    restartTime(s.maxRestartTime, `${what}: spec.maxRestartTime`);
    if (s.peerSelector !== undefined && s.peerSelector.trim() !== "") {
      for (const n of nodes)
        if (selects(s.peerSelector, { ...(n.metadata.labels ?? {}) }, `${what}: spec.peerSelector`, problems))
          ownNode(n, what, extra);
      continue;
    }
    if (s.peerIP === undefined) {
      problems.push(`${what}: spec.peerIP: required when spec.peerSelector is not given`);
      continue;
    }
    const ip = parsePeerIp(s.peerIP);
    if (!ip) {
      problems.push(`${what}: spec.peerIP: ${JSON.stringify(s.peerIP)} is not an IP or IP:port`);
      continue;
    }
    add({
      ...ip,
      asn: s.asNumber ?? asn,
      source: what,
      routeReflectorClient: false,
      ...extra,
    });
  }
  const noExport = cache
    .list("IPPool")
    .filter((p) => p.spec.disableBGPExport === true)
    .map((p) => p.spec.cidr);
  const allPools = cache.list("IPPool").map((p) => p.spec.cidr);
  return {
    routerId,
    asn,
    listenPort,
    routeReflectorClusterId: clusterId,
    peers: [...peers.values()].sort((a, b) => cmp(a.address, b.address)),
    // Borrowed addresses only inside a pool (never a host-network or foreign address), as blocks are.
    originate: [
      ...blocks.filter((b) => !isV6(b) && !noExport.some((c) => contains(c, b))),
      ...borrowed.filter(
        (a) => allPools.some((c) => contains(c, a)) && !noExport.some((c) => contains(c, a)),
      ),
    ],
    filters,
    pools: [...new Set(cache.list("IPPool").flatMap((p) => canonicalCidr(p.spec.cidr) ?? []))].sort(cmp),
    serviceClusterIPs: cidrsOf(
      config?.serviceClusterIPs,
      "BGPConfiguration default: spec.serviceClusterIPs",
      problems,
    ),
    serviceExternalIPs: cidrsOf(
      config?.serviceExternalIPs,
      "BGPConfiguration default: spec.serviceExternalIPs",
      problems,
    ),
    serviceLoadBalancerIPs: cidrsOf(
      config?.serviceLoadBalancerIPs,
      "BGPConfiguration default: spec.serviceLoadBalancerIPs",
      problems,
    ),
    restartTime: restartTimes.length > 0 ? Math.max(...restartTimes) : DEFAULT_RESTART_TIME,
  };
}

export function computeDesired(cache: ClusterCache, self: Self): Desired {
  const problems: string[] = [];
  const localEps = localEndpoints(cache, self.name);
  const blocks = affineBlocks(cache, self.name);
  const routes = localRoutes(localEps, blocks);
  const bgp = bgpFor(cache, self, blocks, problems, borrowedAddresses(localEps, blocks));
  return {
    node: self.name,
    localEndpoints: localEps,
    affineBlocks: blocks,
    routes,
    masquerade: masquerade(cache),
    bgp,
    problems: problems.sort(cmp),
  };
}

/**
 * Routes for what BGP learned: every best route except those for our own blocks or pod addresses
 * (a stale advertisement of something that is now ours must not send our traffic away).
 */
export function learnedRoutes(
  learned: ReadonlyMap<string, readonly string[]>,
  desired: Pick<Desired, "routes">,
): RouteSpec[] {
  const own = new Set(desired.routes.map((r) => r.dst));
  const out: RouteSpec[] = [];
  for (const [prefix, hops] of learned) {
    if (own.has(prefix) || hops.length === 0) continue;
    out.push({ dst: prefix, nexthops: hops.map((gateway) => ({ gateway })) });
  }
  return out.sort((a, b) => cmp(a.dst, b.dst));
}
