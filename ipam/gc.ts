import type { Allocator } from "./allocator.js";
import { affineNode, freeCount, isEmpty } from "./block.js";
import { allocations, readSnapshot } from "./check.js";
import { surplusEmptyBlocks } from "./spare.js";
import { affinityName, blockName, ignoreNotFound, ipamObject, type BlockAffinitySpec } from "./store.js";

export interface GcAction {
  readonly action:
    | "release-leaked-handle"
    | "delete-empty-handle"
    | "release-orphan-address"
    | "confirm-affinity"
    | "delete-affinity"
    | "restore-affinity"
    | "release-empty-block";
  readonly object: string;
  readonly detail: string;
}

/**
 * One pass of garbage collection. Only what has been in its state for longer
 * than `graceMs` is touched, so a live allocator's in-flight writes (a handle
 * just created, a claim not yet confirmed, a pod that the datastore has not
 * shown yet) are never taken for debris.
 */
export async function collectGarbage(
  alloc: Allocator,
  graceMs: number,
  now = Date.now(),
): Promise<GcAction[]> {
  const ds = alloc.ds;
  const s = await readSnapshot(ds);
  const actions: GcAction[] = [];
  const old = (t: number | undefined): boolean => t === undefined || now - t > graceMs;
  const rows = allocations(s);

  // Handles whose pod is gone: release what they hold. Only when the datastore knows pods at all.
  const withAddress = new Set(rows.map((r) => r.handle));
  for (const h of s.handles) {
    const sp = h.spec;
    if (s.pods && sp.pod !== undefined && !s.pods.has(`${sp.namespace ?? ""}/${sp.pod}`) && old(sp.time)) {
      const released = await alloc.releaseHandle(sp.handleID);
      actions.push({
        action: "release-leaked-handle",
        object: `IPAMHandle ${h.name}`,
        detail: `pod ${sp.namespace ?? ""}/${sp.pod} is gone; released ${released.join(", ") || "nothing"}`,
      });
    } else if (!withAddress.has(sp.handleID) && old(sp.time)) {
      await ds.delete("IPAMHandle", h.name).catch(ignoreNotFound);
      actions.push({
        action: "delete-empty-handle",
        object: `IPAMHandle ${h.name}`,
        detail: "holds no address",
      });
    }
  }
  const handleIds = new Set(s.handles.map((h) => h.spec.handleID));
  const orphans = rows.filter((r) => !handleIds.has(r.handle) && old(r.time));
  if (orphans.length > 0) {
    const released = await alloc.releaseAddresses(orphans.map((r) => r.address));
    for (const a of released)
      actions.push({
        action: "release-orphan-address",
        object: `address ${a}`,
        detail: "its handle has no record",
      });
  }

  // Claims: the block's affinity is the truth; make the affinity records agree with it.
  const blockByCidr = new Map(s.blocks.map((b) => [b.data.cidr, b.data]));
  for (const a of s.affinities) {
    const b = blockByCidr.get(a.spec.cidr);
    const object = `BlockAffinity ${a.name}`;
    const ours = b !== undefined && affineNode(b) === a.spec.node;
    if (a.spec.state === "confirmed" && ours) continue;
    if (a.spec.state !== "confirmed" && !old(a.spec.time)) continue;
    if (ours && a.spec.state === "pending") {
      const cur = await ds.get("BlockAffinity", a.name).catch(ignoreNotFound);
      if (cur) {
        await ds.update("BlockAffinity", { ...cur, spec: { ...a.spec, state: "confirmed", time: now } });
        actions.push({
          action: "confirm-affinity",
          object,
          detail: `block ${a.spec.cidr} is ${a.spec.node}'s`,
        });
      }
      continue;
    }
    if (ours && a.spec.state === "pendingDeletion") {
      if (await alloc.releaseBlockIfEmpty(a.spec.cidr))
        actions.push({
          action: "release-empty-block",
          object: `IPAMBlock ${blockName(a.spec.cidr)}`,
          detail: "release was interrupted",
        });
      else {
        await alloc.restoreAffinity(a.spec.node, a.spec.cidr);
        actions.push({ action: "confirm-affinity", object, detail: `block ${a.spec.cidr} is in use again` });
      }
      continue;
    }
    await ds.delete("BlockAffinity", a.name).catch(ignoreNotFound);
    actions.push({
      action: "delete-affinity",
      object,
      detail: b
        ? `block ${a.spec.cidr} belongs to ${b.affinity ?? "no node"}`
        : `block ${a.spec.cidr} does not exist`,
    });
  }
  for (const b of s.blocks) {
    const node = affineNode(b.data);
    if (node === undefined) continue;
    if (s.affinities.some((a) => a.spec.cidr === b.data.cidr && a.spec.node === node)) continue;
    const spec: BlockAffinitySpec = { node, cidr: b.data.cidr, state: "confirmed", time: now };
    await ds
      .create("BlockAffinity", ipamObject("BlockAffinity", affinityName(b.data.cidr, node), spec))
      .catch(() => undefined);
    actions.push({ action: "restore-affinity", object: `IPAMBlock ${b.name}`, detail: `affine to ${node}` });
  }

  // Empty blocks: per pool, a node keeps one empty block while its other blocks there are short of
  // free addresses (the spare its agent claims ahead of need, spare.ts); the rest go back to the pool.
  const now2 = await readSnapshot(ds);
  const byNode = new Map<string, typeof s.blocks>();
  for (const b of now2.blocks) {
    const node = affineNode(b.data) ?? "";
    byNode.set(node, [...(byNode.get(node) ?? []), b]);
  }
  for (const [node, blocks] of byNode) {
    const states = blocks.map((b) => ({
      cidr: b.data.cidr,
      free: freeCount(b.data),
      empty: isEmpty(b.data),
    }));
    const surplus =
      node === "" ? states.filter((b) => b.empty).map((b) => b.cidr) : surplusEmptyBlocks(now2.pools, states);
    for (const cidr of surplus) {
      if (await alloc.releaseBlockIfEmpty(cidr))
        actions.push({
          action: "release-empty-block",
          object: `IPAMBlock ${blockName(cidr)}`,
          detail: `empty block of ${node || "no node"}`,
        });
    }
  }
  return actions;
}
