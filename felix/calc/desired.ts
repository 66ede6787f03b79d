/**
 * The pure half of the agent: from the cluster cache to what this node's kernel and BGP speaker must
 * hold. No I/O; every list in the result is sorted, so the result depends only on the cache contents,
 * never on the order the events arrived in.
 */
import ipaddr from "ipaddr.js";
import { hostIfName } from "../../core/ifname.js";
import type { RouteSpec } from "../../core/kernel-routes.js";
import type { ObjectOf } from "../../datastore/types.js";
import { matches, parseSelector } from "../../policy/selector.js";
import type { ClusterCache } from "./cache.js";

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
}

export interface BgpWant {
  readonly routerId: string;
  readonly asn: number;
  readonly listenPort: number;
  readonly routeReflectorClusterId: string | undefined;
  readonly peers: readonly BgpPeerWant[];
  /** The node's affine blocks that BGP export allows. */
  readonly originate: readonly string[];
}

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
}

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

/** This node's pods: WorkloadEndpoints the CNI plugin wrote for it, then pods scheduled here with an IP. */
export function localEndpoints(cache: ClusterCache, node: string): LocalEndpoint[] {
  const out = new Map<string, LocalEndpoint>();
  for (const w of cache.list("WorkloadEndpoint")) {
    if (w.spec.node !== node) continue;
    const namespace = w.metadata.namespace ?? "default";
    const pod = cache.get("Pod", w.spec.pod, namespace);
    const fromPod = pod ? podIps(pod) : [];
    const fromWep = w.spec.ipNetworks.map(canonicalIp).filter((x): x is string => x !== undefined);
    out.set(`${namespace}/${w.spec.pod}`, {
      namespace,
      pod: w.spec.pod,
      ifName: w.spec.interfaceName,
      ips: fromPod.length > 0 ? fromPod : fromWep,
    });
  }
  for (const p of cache.list("Pod")) {
    if (p.spec.nodeName !== node || p.spec.hostNetwork === true) continue;
    const namespace = p.metadata.namespace ?? "default";
    const key = `${namespace}/${p.metadata.name}`;
    const ips = podIps(p);
    if (out.has(key) || ips.length === 0) continue;
    out.set(key, { namespace, pod: p.metadata.name, ifName: hostIfName(namespace, p.metadata.name), ips });
  }
  return [...out.values()]
    .map((e) => ({ ...e, ips: [...new Set(e.ips)].sort(cmp) }))
    .sort((a, b) => cmp(`${a.namespace}/${a.pod}`, `${b.namespace}/${b.pod}`));
}

/** Blocks whose affinity is this node: confirmed BlockAffinities, and IPAMBlocks saying `host:<node>`. */
export function affineBlocks(cache: ClusterCache, node: string): string[] {
  const out = new Set<string>();
  for (const a of cache.list("BlockAffinity"))
    if (a.spec.node === node && a.spec.state === "confirmed") {
      const c = canonicalCidr(a.spec.cidr);
      if (c) out.add(c);
    }
  for (const b of cache.list("IPAMBlock"))
    if (b.spec.affinity === `host:${node}`) {
      const c = canonicalCidr(b.spec.cidr);
      if (c) out.add(c);
    }
  return [...out].sort(cmp);
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

export function bgpFor(cache: ClusterCache, self: Self, blocks: readonly string[], problems: string[]) {
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
  const ownNode = (n: ObjectOf<"Node">, source: string): void => {
    const address = nodeAddress(n);
    if (address === undefined) return;
    const peerAsn = asnOf(n, config?.asNumber, problems);
    add({
      address,
      port: listenPort,
      asn: peerAsn,
      source,
      routeReflectorClient: clusterId !== undefined && !isRR(n) && peerAsn === asn,
    });
  };
  if (config?.nodeToNodeMeshEnabled !== false) for (const n of nodes) ownNode(n, "mesh");
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
    if (s.peerSelector !== undefined && s.peerSelector.trim() !== "") {
      for (const n of nodes)
        if (selects(s.peerSelector, { ...(n.metadata.labels ?? {}) }, `${what}: spec.peerSelector`, problems))
          ownNode(n, what);
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
      ...(s.nextHopMode !== undefined ? { nextHopMode: s.nextHopMode } : {}),
    });
  }
  const noExport = cache
    .list("IPPool")
    .filter((p) => p.spec.disableBGPExport === true)
    .map((p) => p.spec.cidr);
  return {
    routerId,
    asn,
    listenPort,
    routeReflectorClusterId: clusterId,
    peers: [...peers.values()].sort((a, b) => cmp(a.address, b.address)),
    originate: blocks.filter((b) => !isV6(b) && !noExport.some((c) => contains(c, b))),
  };
}

export function computeDesired(cache: ClusterCache, self: Self): Desired {
  const problems: string[] = [];
  const localEps = localEndpoints(cache, self.name);
  const blocks = affineBlocks(cache, self.name);
  const routes: RouteSpec[] = [];
  for (const e of localEps)
    for (const ip of e.ips)
      routes.push({ dst: `${ip}/${isV6(ip) ? 128 : 32}`, nexthops: [{ dev: e.ifName }] });
  for (const b of blocks) routes.push({ dst: b, type: "blackhole" });
  routes.sort((a, b) => cmp(a.dst, b.dst));
  const bgp = bgpFor(cache, self, blocks, problems);
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
