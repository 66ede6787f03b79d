import { cidrOverlaps, cidrSize, formatCidr, parseCidr } from "./addr.js";
import {
  affineNode,
  allocatedEntries,
  blockDataProblems,
  usedCount,
  type AllocationAttrs,
  type BlockData,
} from "./block.js";
import { blockCount, parsePool, type IPPool } from "./pool.js";
import { poolOf } from "./select.js";
import { specOf, type BlockAffinitySpec, type IPAMHandleSpec, type IpamDatastore } from "./store.js";

/** Everything IPAM has stored, read once: the input of show, check and gc. */
export interface IpamSnapshot {
  readonly pools: readonly IPPool[];
  readonly blocks: readonly { name: string; resourceVersion: string; data: BlockData }[];
  readonly handles: readonly { name: string; spec: IPAMHandleSpec }[];
  readonly affinities: readonly { name: string; spec: BlockAffinitySpec }[];
  /** `namespace/name` of every Pod, or undefined when the datastore holds no Pods (nothing to compare with). */
  readonly pods: ReadonlySet<string> | undefined;
}

export async function readSnapshot(ds: IpamDatastore): Promise<IpamSnapshot> {
  const [pools, blocks, handles, affinities, pods] = await Promise.all([
    ds.list("IPPool"),
    ds.list("IPAMBlock"),
    ds.list("IPAMHandle"),
    ds.list("BlockAffinity"),
    ds.list("Pod"),
  ]);
  return {
    pools: pools.items.map((o) => parsePool(o.metadata.name, o.spec)),
    blocks: blocks.items.map((o) => ({
      name: o.metadata.name,
      resourceVersion: o.metadata.resourceVersion ?? "",
      data: specOf<BlockData>(o),
    })),
    handles: handles.items.map((o) => ({ name: o.metadata.name, spec: specOf<IPAMHandleSpec>(o) })),
    affinities: affinities.items.map((o) => ({ name: o.metadata.name, spec: specOf<BlockAffinitySpec>(o) })),
    pods:
      pods.items.length === 0
        ? undefined
        : new Set(pods.items.map((p) => `${p.metadata.namespace ?? ""}/${p.metadata.name}`)),
  };
}

export type ProblemKind =
  | "block-data"
  | "blocks-overlap"
  | "address-two-owners"
  | "address-without-handle"
  | "handle-without-pod"
  | "handle-without-address"
  | "block-claimed-twice"
  | "affinity-without-block"
  | "stale-pending-affinity"
  | "block-without-affinity"
  | "block-outside-pools";

export interface IpamProblem {
  readonly kind: ProblemKind;
  /** The record it is about, e.g. `IPAMBlock 10-0-0-0-26`. */
  readonly object: string;
  readonly message: string;
}

export interface AllocationRow extends AllocationAttrs {
  readonly address: string;
  readonly block: string;
}

export function allocations(s: IpamSnapshot): AllocationRow[] {
  return s.blocks.flatMap((b) =>
    allocatedEntries(b.data).map((e) => ({ address: e.address, block: b.data.cidr, ...e.attrs })),
  );
}

/**
 * Every inconsistency in a snapshot. Records younger than `graceMs` that can
 * be the in-flight state of a live allocator (a handle written just before its
 * block, a claim not yet confirmed) are not reported.
 */
export function checkSnapshot(s: IpamSnapshot, now: number, graceMs: number): IpamProblem[] {
  const problems: IpamProblem[] = [];
  const add = (kind: ProblemKind, object: string, message: string) =>
    problems.push({ kind, object, message });
  const blockByCidr = new Map(s.blocks.map((b) => [b.data.cidr, b]));

  for (const b of s.blocks) {
    for (const p of blockDataProblems(b.data)) add("block-data", `IPAMBlock ${b.name}`, p);
    const c = parseCidr(b.data.cidr);
    if (!s.pools.some((p) => p.family === c.family && cidrOverlaps(p.cidr, c)))
      add("block-outside-pools", `IPAMBlock ${b.name}`, `block ${b.data.cidr} is in no IPPool`);
  }
  const sorted = [...s.blocks].sort((a, b) => {
    const x = parseCidr(a.data.cidr);
    const y = parseCidr(b.data.cidr);
    return x.family - y.family || (x.base < y.base ? -1 : x.base > y.base ? 1 : 0);
  });
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1];
    const b = sorted[i];
    if (a && b && cidrOverlaps(parseCidr(a.data.cidr), parseCidr(b.data.cidr)))
      add("blocks-overlap", `IPAMBlock ${b.name}`, `${b.data.cidr} overlaps block ${a.data.cidr}`);
  }

  const owners = new Map<string, string>();
  const handleNames = new Map(s.handles.map((h) => [h.spec.handleID, h]));
  const handlesWithAddress = new Set<string>();
  for (const row of allocations(s)) {
    const prev = owners.get(row.address);
    if (prev !== undefined && prev !== row.handle)
      add("address-two-owners", `address ${row.address}`, `held by handles ${prev} and ${row.handle}`);
    owners.set(row.address, row.handle);
    handlesWithAddress.add(row.handle);
    if (!handleNames.has(row.handle))
      add(
        "address-without-handle",
        `address ${row.address}`,
        `allocated to handle ${row.handle}, which has no IPAMHandle record`,
      );
  }

  for (const h of s.handles) {
    const obj = `IPAMHandle ${h.name}`;
    if (!handlesWithAddress.has(h.spec.handleID) && now - h.spec.time > graceMs)
      add(
        "handle-without-address",
        obj,
        `handle ${h.spec.handleID} holds no address (blocks ${h.spec.blocks.join(", ")})`,
      );
    if (s.pods && h.spec.pod !== undefined && !s.pods.has(`${h.spec.namespace ?? ""}/${h.spec.pod}`))
      add("handle-without-pod", obj, `pod ${h.spec.namespace ?? ""}/${h.spec.pod} does not exist`);
  }

  const confirmed = new Map<string, string[]>();
  for (const a of s.affinities) {
    const obj = `BlockAffinity ${a.name}`;
    const b = blockByCidr.get(a.spec.cidr);
    if (a.spec.state === "confirmed") {
      confirmed.set(a.spec.cidr, [...(confirmed.get(a.spec.cidr) ?? []), a.spec.node]);
      if (!b)
        add("affinity-without-block", obj, `node ${a.spec.node} claims ${a.spec.cidr}, which has no block`);
      else if (affineNode(b.data) !== a.spec.node)
        add(
          "block-claimed-twice",
          obj,
          `node ${a.spec.node} claims ${a.spec.cidr}, whose block is affine to ${b.data.affinity ?? "no node"}`,
        );
    } else if (now - a.spec.time > graceMs)
      add(
        "stale-pending-affinity",
        obj,
        `claim of ${a.spec.cidr} by ${a.spec.node} has been ${a.spec.state} since ${new Date(a.spec.time).toISOString()}`,
      );
  }
  for (const [cidr, nodes] of confirmed)
    if (nodes.length > 1) add("block-claimed-twice", `block ${cidr}`, `claimed by nodes ${nodes.join(", ")}`);
  for (const b of s.blocks) {
    const node = affineNode(b.data);
    if (node !== undefined && !s.affinities.some((a) => a.spec.cidr === b.data.cidr && a.spec.node === node))
      add(
        "block-without-affinity",
        `IPAMBlock ${b.name}`,
        `block ${b.data.cidr} is affine to ${node} but has no BlockAffinity record`,
      );
  }
  return problems;
}

export interface PoolUsage {
  readonly pool: string;
  readonly cidr: string;
  readonly blockSize: number;
  readonly disabled: boolean;
  readonly size: string;
  readonly blocks: number;
  readonly blocksTotal: string;
  readonly used: number;
}

export interface BlockUsage {
  readonly cidr: string;
  readonly pool: string;
  readonly node: string | null;
  readonly used: number;
  readonly size: number;
}

export interface IpamUsage {
  readonly pools: PoolUsage[];
  readonly blocks: BlockUsage[];
}

export function usage(s: IpamSnapshot): IpamUsage {
  const blocks = s.blocks
    .map((b) => ({
      cidr: b.data.cidr,
      pool: poolOf(s.pools, b.data.cidr.split("/")[0] ?? "")?.name ?? "",
      node: affineNode(b.data) ?? null,
      used: usedCount(b.data),
      size: b.data.allocations.length,
    }))
    .sort((a, b) => a.pool.localeCompare(b.pool) || a.cidr.localeCompare(b.cidr, "en", { numeric: true }));
  const pools = s.pools.map((p) => {
    const mine = blocks.filter((b) => b.pool === p.name);
    return {
      pool: p.name,
      cidr: formatCidr(p.cidr),
      blockSize: p.blockSize,
      disabled: p.disabled,
      size: cidrSize(p.cidr).toString(),
      blocks: mine.length,
      blocksTotal: blockCount(p).toString(),
      used: mine.reduce((n, b) => n + b.used, 0),
    };
  });
  return { pools, blocks };
}
