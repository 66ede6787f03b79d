import { createHash } from "node:crypto";
import { UserError } from "../core/errors.js";
import {
  cidrContains,
  cidrOverlaps,
  cidrSize,
  formatCidr,
  parseAddr,
  parseCidr,
  type Cidr,
  type Family,
} from "./addr.js";
import type { ReservedOrdinal } from "./block.js";
import { IpamError } from "./errors.js";
import { blockCount, nthBlock, selectorMatches, type IPPool } from "./pool.js";

/** Our annotation domain (Calico's `cni.projectcalico.org/...` idea): on the Namespace or, overriding it, the Pod. */
export const ANNOTATION_IPV4_POOLS = "ipam.tortie.io/ipv4pools";
export const ANNOTATION_IPV6_POOLS = "ipam.tortie.io/ipv6pools";
export const ANNOTATION_IP_ADDRS = "ipam.tortie.io/ipAddrs";

export type Annotations = Readonly<Record<string, string>>;

function jsonList(text: string, where: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new UserError(`${where}: not JSON: ${text}`);
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string"))
    throw new UserError(`${where}: must be a JSON list of strings, e.g. ["pool-a"]`);
  return v;
}

/** What a pod asks for by annotation: pools per family (names or CIDRs) and fixed addresses. */
export interface PodRequest {
  readonly pools: Readonly<Partial<Record<Family, readonly string[]>>>;
  readonly fixed: readonly string[];
}

/** The pod's annotation wins over its namespace's for each key (Calico's precedence). */
export function podRequest(podRef: string, pod: Annotations, namespace: Annotations): PodRequest {
  const pick = (key: string): { value: string; where: string } | undefined => {
    const p = pod[key];
    if (p !== undefined) return { value: p, where: `Pod ${podRef}: annotation ${key}` };
    const n = namespace[key];
    return n !== undefined ? { value: n, where: `Namespace of ${podRef}: annotation ${key}` } : undefined;
  };
  const pools: Partial<Record<Family, readonly string[]>> = {};
  const v4 = pick(ANNOTATION_IPV4_POOLS);
  if (v4) pools[4] = jsonList(v4.value, v4.where);
  const v6 = pick(ANNOTATION_IPV6_POOLS);
  if (v6) pools[6] = jsonList(v6.value, v6.where);
  const fixedAnn = pod[ANNOTATION_IP_ADDRS];
  const fixed =
    fixedAnn === undefined ? [] : jsonList(fixedAnn, `Pod ${podRef}: annotation ${ANNOTATION_IP_ADDRS}`);
  for (const a of fixed) {
    try {
      parseAddr(a);
    } catch {
      throw new UserError(
        `Pod ${podRef}: annotation ${ANNOTATION_IP_ADDRS}: ${JSON.stringify(a)} is not an IP address`,
      );
    }
  }
  return { pools, fixed };
}

/**
 * The pools a node may allocate from for one family, in the order to try them:
 * the requested ones (by name or CIDR) if any, else every enabled pool whose
 * nodeSelector matches the node.
 */
export function eligiblePools(
  pools: readonly IPPool[],
  family: Family,
  nodeLabels: Readonly<Record<string, string>>,
  requested?: readonly string[],
): IPPool[] {
  const ofFamily = pools.filter((p) => p.family === family);
  if (requested && requested.length > 0) {
    return requested.map((r) => {
      const p = ofFamily.find((x) => x.name === r || formatCidr(x.cidr) === r);
      if (!p) throw new IpamError("NoPool", `requested IPv${family} pool ${r} does not exist`);
      if (p.disabled) throw new IpamError("NoPool", `requested pool ${p.name} is disabled`);
      if (!selectorMatches(p.nodeSelector, nodeLabels))
        throw new IpamError(
          "NoPool",
          `requested pool ${p.name} does not select this node (nodeSelector ${p.nodeSelector})`,
        );
      return p;
    });
  }
  return ofFamily
    .filter((p) => !p.disabled && selectorMatches(p.nodeSelector, nodeLabels))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function poolOf(pools: readonly IPPool[], address: string): IPPool | undefined {
  const { family, value } = parseAddr(address);
  return pools.find((p) => cidrContains(p.cidr, family, value));
}

/** A per-node starting block, so that nodes claiming at once mostly try different blocks. */
function startIndex(node: string, count: bigint): bigint {
  const h = createHash("sha1").update(node).digest();
  return h.readBigUInt64BE(0) % count;
}

/**
 * Up to `limit` unclaimed block CIDRs of a pool, starting at the node's own
 * offset and wrapping around. `taken` holds the CIDRs of existing blocks.
 */
export function unclaimedBlocks(
  pool: IPPool,
  taken: ReadonlySet<string>,
  node: string,
  limit: number,
): Cidr[] {
  const count = blockCount(pool);
  const start = startIndex(node, count);
  const out: Cidr[] = [];
  // Every taken block is skipped at most once, so the walk ends after taken.size + limit steps.
  const maxSteps = BigInt(taken.size + limit);
  for (let i = 0n; i < count && i <= maxSteps && out.length < limit; i++) {
    const c = nthBlock(pool, (start + i) % count);
    if (!taken.has(formatCidr(c))) out.push(c);
  }
  return out;
}

/** The ordinals of a block that fall inside any reservation. */
export function reservedOrdinals(block: Cidr, reservations: readonly Cidr[]): ReservedOrdinal {
  const hits = reservations.filter((r) => cidrOverlaps(r, block));
  if (hits.length === 0) return () => false;
  return (o) => hits.some((r) => cidrContains(r, block.family, block.base + BigInt(o)));
}

export function parseReservations(cidrs: readonly string[]): Cidr[] {
  return cidrs.map((c) => (c.includes("/") ? parseCidr(c) : single(c)));
}

function single(a: string): Cidr {
  const { family, value } = parseAddr(a);
  return { family, base: value, prefix: family === 4 ? 32 : 128 };
}

export function blockAddressCount(c: Cidr): number {
  return Number(cidrSize(c));
}
