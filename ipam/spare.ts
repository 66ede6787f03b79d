import { familyBits, parseAddr } from "./addr.js";
import { poolOf, eligiblePools } from "./select.js";
import type { IPPool } from "./pool.js";

/**
 * The node agent keeps a block with free addresses ready for every pool that
 * selects its node, so that a pod's ADD finds a free address instead of
 * claiming a block itself (three datastore writes, about 120 ms of the ADD's
 * p99 on the file store). These are the pure decisions: when the agent claims
 * the next block in the background, and which empty blocks garbage collection
 * may give back without throwing away the spare just claimed.
 */

/**
 * A pool is topped up when the free addresses in the node's affine blocks of it
 * drop below this fraction of one block: a quarter of a /26 is 16 pods, more
 * than a node starts between two background claims (one claim is ~3 writes,
 * tens of ms), while a node that runs few pods seldom holds a second block.
 */
export const SPARE_FRACTION = 1 / 4;

/** How many free addresses a pool must keep on the node before a background claim: at least 1. */
export function spareThreshold(pool: IPPool, fraction = SPARE_FRACTION): number {
  const size = 2 ** (familyBits(pool.family) - pool.blockSize);
  return Math.max(1, Math.floor(size * fraction));
}

/** One of the node's affine blocks as the decision sees it. */
export interface AffineBlockState {
  readonly cidr: string;
  /** Addresses that can still be handed out (reservations excluded). */
  readonly free: number;
  /** No address allocated at all. */
  readonly empty: boolean;
}

/** Free addresses per pool name over the node's affine blocks (blocks outside every pool are ignored). */
export function freeByPool(
  pools: readonly IPPool[],
  blocks: readonly AffineBlockState[],
): Map<string, number> {
  const out = new Map<string, number>(pools.map((p) => [p.name, 0]));
  for (const b of blocks) {
    const p = poolOf(pools, b.cidr.split("/")[0] ?? "");
    if (p) out.set(p.name, (out.get(p.name) ?? 0) + b.free);
  }
  return out;
}

/**
 * The pools the node should claim a block in now: every enabled pool whose
 * nodeSelector matches the node (both families), in eligiblePools' order,
 * whose free addresses on the node are below its threshold. Disabled pools and
 * pools not selecting the node are never pre-claimed.
 */
export function poolsToTopUp(
  pools: readonly IPPool[],
  nodeLabels: Readonly<Record<string, string>>,
  blocks: readonly AffineBlockState[],
  fraction = SPARE_FRACTION,
): IPPool[] {
  const eligible = [...eligiblePools(pools, 4, nodeLabels), ...eligiblePools(pools, 6, nodeLabels)];
  const free = freeByPool(eligible, blocks);
  return eligible.filter((p) => (free.get(p.name) ?? 0) < spareThreshold(p, fraction));
}

/**
 * The empty blocks of one node that garbage collection may give back. Per pool,
 * one empty block stays while the node's other blocks of the pool have fewer
 * free addresses than the threshold: that is the spare poolsToTopUp would claim
 * again at once. Every other empty block is surplus. Blocks in no pool are left
 * to `ipam check` (block-outside-pools).
 */
export function surplusEmptyBlocks(
  pools: readonly IPPool[],
  blocks: readonly AffineBlockState[],
  fraction = SPARE_FRACTION,
): string[] {
  const out: string[] = [];
  for (const pool of pools) {
    const mine = blocks.filter((b) => poolOf([pool], b.cidr.split("/")[0] ?? "") === pool);
    const empty = mine.filter((b) => b.empty).sort((a, b) => compareCidr(a.cidr, b.cidr));
    const freeElsewhere = mine.filter((b) => !b.empty).reduce((n, b) => n + b.free, 0);
    const keep = freeElsewhere < spareThreshold(pool, fraction) ? 1 : 0;
    out.push(...empty.slice(keep).map((b) => b.cidr));
  }
  return out;
}

/** Address order, so that the kept spare is the same one whichever order the blocks were listed in. */
function compareCidr(a: string, b: string): number {
  const x = parseAddr(a.split("/")[0] ?? "").value;
  const y = parseAddr(b.split("/")[0] ?? "").value;
  return x < y ? -1 : x > y ? 1 : 0;
}
