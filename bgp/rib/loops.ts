import type { PathAttributes } from "../wire/index.js";

/** What a speaker knows about itself to spot a route that came back to it. */
export interface LoopContext {
  readonly localAs: number;
  readonly routerId: string;
  /** RFC 4456 CLUSTER_ID when this speaker reflects routes (defaults to the router id there). */
  readonly clusterId?: string;
}

export type LoopReason = "own-as" | "originator-id" | "cluster-list";

/**
 * Why a received path must not be used (RFC 4271 §9.1.2 own AS in AS_PATH; RFC 4456 §8
 * ORIGINATOR_ID equal to our router id, our CLUSTER_ID in CLUSTER_LIST), or undefined.
 */
export function loopReason(a: PathAttributes, ctx: LoopContext): LoopReason | undefined {
  for (const s of a.asPath ?? []) if (s.asns.includes(ctx.localAs)) return "own-as";
  if (a.originatorId !== undefined && a.originatorId === ctx.routerId) return "originator-id";
  if (ctx.clusterId !== undefined && a.clusterList?.includes(ctx.clusterId)) return "cluster-list";
  return undefined;
}
