/**
 * VXLAN overlay per IPPool, as Calico's felix does it (pure): from this node, the other nodes' VTEPs
 * (their tunnel address and MAC from Node annotations), the pools and who holds which block, to the
 * device, neighbour, FDB entries and routes this node must hold. Blocks come from the datastore
 * (BlockAffinity / IPAMBlock affinity), never from BGP, so the overlay works with BGP off.
 */
import { createHash } from "node:crypto";
import ipaddr from "ipaddr.js";
import type { RouteSpec } from "../../core/kernel-routes.js";
import { allocatedEntries } from "../../ipam/block.js";
import type { ObjectOf } from "../../datastore/types.js";
import type { ClusterCache } from "./cache.js";
import { ANN_IPV4 } from "./desired.js";

export const ANN_VXLAN_ADDR = "tortie.io/ipv4-vxlan-tunnel-addr";
export const ANN_VXLAN_MAC = "tortie.io/vxlan-tunnel-mac";
export const VXLAN_DEVICE = "vxlan.tortie";
/** Calico's defaults (FelixConfiguration vxlanVNI, vxlanPort); tortie has no such kind: constants. */
export const VXLAN_VNI = 4096;
export const VXLAN_PORT = 4789;
/** Outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;
/** The IPAM handle of a node's tunnel address (Calico's name for it). */
export const tunnelHandle = (node: string): string => `vxlan-tunnel-addr-${node}`;

export type EncapMode = "Never" | "Always" | "CrossSubnet";

export interface VxlanPool {
  readonly name: string;
  readonly cidr: string;
  readonly mode: EncapMode;
  readonly disabled: boolean;
}

export interface VxlanNode {
  readonly name: string;
  /** The underlay address, ADDR/LEN (or ADDR) as in `tortie.io/ipv4-address`. */
  readonly address?: string;
  readonly tunnelAddr?: string;
  readonly mac?: string;
}

export interface BlockOwner {
  readonly cidr: string;
  readonly node: string;
}

export interface VxlanInput {
  readonly self: { readonly name: string; readonly ip: string | undefined };
  readonly nodes: readonly VxlanNode[];
  readonly pools: readonly VxlanPool[];
  readonly blocks: readonly BlockOwner[];
  /** Addresses held by a node other than their block's owner (IPAM borrowed them), with that node. */
  readonly borrowed?: readonly BorrowedAddress[];
  /** MTU of the interface holding this node's address; the device gets 50 less. */
  readonly underlayMtu?: number;
}

export interface BorrowedAddress {
  readonly addr: string;
  readonly node: string;
}

export interface VxlanDevice {
  readonly name: string;
  readonly vni: number;
  readonly port: number;
  /** This node's underlay address: the outer source. */
  readonly local: string;
  readonly mac: string;
  readonly mtu: number | undefined;
  /** This node's tunnel address (a /32 on the device), once IPAM gave one. */
  readonly address: string | undefined;
}

export interface Vtep {
  readonly node: string;
  /** The remote node's tunnel address (inner next hop). */
  readonly tunnel: string;
  readonly mac: string;
  /** The remote node's underlay address (outer destination). */
  readonly underlay: string;
}

export interface Neighbour {
  readonly ip: string;
  readonly mac: string;
}

export interface FdbEntry {
  readonly mac: string;
  /** The remote node's underlay address. */
  readonly dst: string;
}

export interface VxlanDesired {
  /** undefined: no IPv4 pool asks for VXLAN (or this node has no address), so no device. */
  readonly device: VxlanDevice | undefined;
  readonly neighbours: readonly Neighbour[];
  readonly fdb: readonly FdbEntry[];
  /** Per remote block: over the tunnel (onlink via the VTEP), or straight to the node (CrossSubnet, same subnet). */
  readonly routes: readonly RouteSpec[];
  /** The remote VTEPs this node tunnels to, by node name (what `tortie node status` lists). */
  readonly vteps: readonly Vtep[];
  /** The enabled IPv4 VXLAN pools a tunnel address may come from (names). */
  readonly tunnelPools: readonly string[];
  /** This node's published tunnel address lies in one of them (else it is given a new one). */
  readonly tunnelValid: boolean;
  readonly problems: readonly string[];
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A stable, locally administered unicast MAC per node: the same after every restart, no state needed. */
export function vtepMac(node: string): string {
  const h = createHash("sha1").update(`tortie-vxlan:${node}`).digest();
  const b = [...h.subarray(0, 6)];
  b[0] = ((b[0] ?? 0) & 0xfe) | 0x02;
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

function v4(a: string | undefined): ipaddr.IPv4 | undefined {
  if (a === undefined) return undefined;
  const s = a.split("/")[0] ?? a;
  return ipaddr.IPv4.isValidFourPartDecimal(s) ? ipaddr.IPv4.parse(s) : undefined;
}

function parseCidr(c: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  try {
    return ipaddr.parseCIDR(c);
  } catch {
    return undefined;
  }
}

function within(addr: ipaddr.IPv4, cidr: [ipaddr.IPv4 | ipaddr.IPv6, number]): boolean {
  return cidr[0].kind() === "ipv4" && addr.match(cidr);
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export function computeVxlan(input: VxlanInput): VxlanDesired {
  const problems: string[] = [];
  const pools: { pool: VxlanPool; net: [ipaddr.IPv4 | ipaddr.IPv6, number] }[] = [];
  for (const p of input.pools) {
    if (p.mode === "Never") continue;
    const net = parseCidr(p.cidr);
    if (!net) continue;
    if (net[0].kind() === "ipv6") {
      problems.push(
        `IPPool ${p.name}: spec.vxlanMode: ${p.mode} is not supported for IPv6 pools (routed natively)`,
      );
      continue;
    }
    pools.push({ pool: p, net });
  }
  const tunnelPools = pools
    .filter((p) => !p.pool.disabled)
    .map((p) => p.pool.name)
    .sort(cmp);
  const selfAddr = v4(input.self.ip);
  const me = input.nodes.find((n) => n.name === input.self.name);
  const myTunnelAddr = v4(me?.tunnelAddr);
  const myTunnel = myTunnelAddr?.toString();
  const tunnelValid =
    myTunnelAddr !== undefined && pools.some((p) => !p.pool.disabled && within(myTunnelAddr, p.net));
  const empty = {
    device: undefined,
    neighbours: [],
    fdb: [],
    routes: [],
    vteps: [],
    tunnelPools,
    tunnelValid,
    problems,
  };
  if (pools.length === 0 || selfAddr === undefined) return empty;
  // ADDR alone (no length) says nothing about the subnet: every other node counts as another subnet.
  const selfLen = Number(input.self.ip?.split("/")[1] ?? 32);
  const selfNet: [ipaddr.IPv4, number] = [selfAddr, Number.isInteger(selfLen) ? selfLen : 32];
  const device: VxlanDevice = {
    name: VXLAN_DEVICE,
    vni: VXLAN_VNI,
    port: VXLAN_PORT,
    local: selfAddr.toString(),
    mac: vtepMac(input.self.name),
    mtu: input.underlayMtu === undefined ? undefined : input.underlayMtu - VXLAN_OVERHEAD,
    address: myTunnel,
  };

  const byName = new Map<string, { addr: ipaddr.IPv4; tunnel?: string; mac?: string }>();
  for (const n of input.nodes) {
    if (n.name === input.self.name) continue;
    const addr = v4(n.address);
    if (!addr) continue;
    const tunnel = n.tunnelAddr === undefined ? undefined : v4(n.tunnelAddr)?.toString();
    if (n.tunnelAddr !== undefined && tunnel === undefined)
      problems.push(
        `Node ${n.name}: metadata.annotations.${ANN_VXLAN_ADDR}: ${JSON.stringify(n.tunnelAddr)} is not an IPv4 address`,
      );
    const mac = n.mac?.toLowerCase();
    if (mac !== undefined && !MAC_RE.test(mac))
      problems.push(
        `Node ${n.name}: metadata.annotations.${ANN_VXLAN_MAC}: ${JSON.stringify(n.mac)} is not a MAC address`,
      );
    byName.set(n.name, {
      addr,
      ...(tunnel !== undefined ? { tunnel } : {}),
      ...(mac !== undefined && MAC_RE.test(mac) ? { mac } : {}),
    });
  }

  const routes = new Map<string, RouteSpec>();
  const vteps = new Map<string, { tunnel: string; mac: string; dst: string }>();
  /** A route to `dst` (of `pool`) at node `node`: native within the subnet under CrossSubnet, else via its VTEP. */
  const routeTo = (dst: string, pool: VxlanPool, node: string): void => {
    const remote = byName.get(node);
    if (!remote) return;
    if (pool.mode === "CrossSubnet" && remote.addr.match(selfNet)) {
      // Same subnet: plain routed to the node itself, no encapsulation (Calico's "noEncap" route).
      routes.set(dst, { dst, nexthops: [{ gateway: remote.addr.toString() }] });
      return;
    }
    // No VTEP yet: no route from here, so whatever BGP learned for the block still applies.
    if (remote.tunnel === undefined || remote.mac === undefined) return;
    vteps.set(node, { tunnel: remote.tunnel, mac: remote.mac, dst: remote.addr.toString() });
    routes.set(dst, { dst, nexthops: [{ gateway: remote.tunnel, dev: VXLAN_DEVICE, onlink: true }] });
  };
  const poolOf = (a: ipaddr.IPv4, len: number): VxlanPool | undefined =>
    pools.find((p) => within(a, p.net) && len >= p.net[1])?.pool;
  for (const b of input.blocks) {
    if (b.node === input.self.name) continue;
    const net = parseCidr(b.cidr);
    if (!net || net[0].kind() !== "ipv4") continue;
    const pool = poolOf(net[0] as ipaddr.IPv4, net[1]);
    if (!pool) continue;
    routeTo(`${ipaddr.IPv4.networkAddressFromCIDR(b.cidr).toString()}/${net[1]}`, pool, b.node);
  }
  // A borrowed address lives on the borrowing node, not with its block (Calico routes each as a /32):
  // more specific than the owner's block route here, or than our own blackhole when the block is ours.
  for (const x of input.borrowed ?? []) {
    if (x.node === input.self.name) continue;
    const a = v4(x.addr);
    const pool = a && poolOf(a, 32);
    if (a && pool) routeTo(`${a.toString()}/32`, pool, x.node);
  }
  const v = [...vteps.values()];
  return {
    device,
    neighbours: v.map((x) => ({ ip: x.tunnel, mac: x.mac })).sort((a, b) => cmp(a.ip, b.ip)),
    fdb: v.map((x) => ({ mac: x.mac, dst: x.dst })).sort((a, b) => cmp(a.mac, b.mac)),
    vteps: [...vteps.entries()]
      .map(([node, x]) => ({ node, tunnel: x.tunnel, mac: x.mac, underlay: x.dst }))
      .sort((a, b) => cmp(a.node, b.node)),
    routes: [...routes.values()].sort((a, b) => cmp(a.dst, b.dst)),
    tunnelPools,
    tunnelValid,
    problems: problems.sort(cmp),
  };
}

export type BlockSource =
  | { readonly kind: "BlockAffinity"; readonly obj: ObjectOf<"BlockAffinity"> }
  | { readonly kind: "IPAMBlock"; readonly obj: ObjectOf<"IPAMBlock"> };

/** The node a block belongs to for the overlay: a confirmed BlockAffinity, or an IPAMBlock's `host:` affinity. */
export function blockOwner(b: BlockSource): string | undefined {
  if (b.kind === "BlockAffinity") return b.obj.spec.state === "confirmed" ? b.obj.spec.node : undefined;
  const aff = b.obj.spec.affinity;
  return typeof aff === "string" && aff.startsWith("host:") ? aff.slice(5) : undefined;
}

/** The addresses of an IPAMBlock held by a node other than its owner (all of them when unclaimed). */
export function borrowedIn(b: ObjectOf<"IPAMBlock">): BorrowedAddress[] {
  if (b.spec.cidr.includes(":")) return []; // the overlay is IPv4 only
  const owner = blockOwner({ kind: "IPAMBlock", obj: b });
  return allocatedEntries(b.spec)
    .filter((e) => e.attrs.node !== owner)
    .map((e) => ({ addr: e.address, node: e.attrs.node }));
}

export function vxlanInput(
  cache: ClusterCache,
  self: { readonly name: string; readonly ip: string | undefined },
  underlayMtu?: number,
): VxlanInput {
  const owners = new Map<string, string>();
  const sources: BlockSource[] = [
    ...cache.list("BlockAffinity").map((obj) => ({ kind: "BlockAffinity" as const, obj })),
    ...cache.list("IPAMBlock").map((obj) => ({ kind: "IPAMBlock" as const, obj })),
  ];
  for (const b of sources) {
    const owner = blockOwner(b);
    if (owner !== undefined) owners.set(b.obj.spec.cidr, owner);
  }
  return {
    self,
    nodes: cache.list("Node").map((n) => {
      const a = n.metadata.annotations ?? {};
      return {
        name: n.metadata.name,
        ...(a[ANN_IPV4] !== undefined ? { address: a[ANN_IPV4] } : {}),
        ...(a[ANN_VXLAN_ADDR] !== undefined ? { tunnelAddr: a[ANN_VXLAN_ADDR] } : {}),
        ...(a[ANN_VXLAN_MAC] !== undefined ? { mac: a[ANN_VXLAN_MAC] } : {}),
      };
    }),
    pools: cache.list("IPPool").map((p) => ({
      name: p.metadata.name,
      cidr: p.spec.cidr,
      mode: p.spec.vxlanMode ?? "Never",
      disabled: p.spec.disabled === true,
    })),
    blocks: [...owners].map(([cidr, node]) => ({ cidr, node })),
    borrowed: cache.list("IPAMBlock").flatMap(borrowedIn),
    ...(underlayMtu !== undefined ? { underlayMtu } : {}),
  };
}
