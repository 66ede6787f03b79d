import { fileURLToPath } from "node:url";
import type { Test } from "tap";
import { run } from "../../core/exec.js";
import { allocations, checkSnapshot, readSnapshot } from "../../ipam/check.js";
import { openIpamDatastore } from "../../ipam/open.js";
import { ipamObject } from "../../ipam/store.js";
import type { Daemon, Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";

/**
 * The concurrency case, shared by the file-store and etcd suites:
 * 50 simulated nodes x 110 pods allocate at once (5 processes of 10 nodes, as
 * 2 cores run them best), two allocators are SIGKILLed mid-run and restarted
 * as the kubelet would retry; then no address has two owners, every pod has
 * exactly one, and after gc `tortie ipam check` finds nothing.
 */

const WORKER = fileURLToPath(new URL("./alloc-worker.js", import.meta.url));
const CLI = fileURLToPath(new URL("../../cli/main.js", import.meta.url));
const PROCESSES = 5;
const NODES_PER_PROCESS = 10;
const PODS = 110;
const KILLED = [0, 1];

interface Line {
  handle: string;
  address: string;
}
const lines = (d: Daemon): Line[] =>
  d
    .output()
    .split("\n")
    .filter((l) => l.startsWith('{"handle"'))
    .map((l) => JSON.parse(l) as Line);

/** `parallel`: ADDs in flight per simulated node (the kubelet runs several at once). */
export async function concurrencyCase(t: Test, kit: Kit, url: string, parallel: number): Promise<void> {
  const ds = await openIpamDatastore(url);
  t.teardown(() => ds.close());
  await ds.create("IPPool", ipamObject("IPPool", "pool4", { cidr: "10.0.0.0/16" }));

  const nodesOf = (p: number) =>
    Array.from({ length: NODES_PER_PROCESS }, (_, i) => `node${p * NODES_PER_PROCESS + i}`);
  const start = (p: number, tag: string) =>
    kit.spawn(null, process.execPath, [WORKER, url, nodesOf(p).join(","), String(PODS), String(parallel)], {
      name: `alloc-${p}-${tag}`,
    });
  const first = Array.from({ length: PROCESSES }, (_, p) => start(p, "a"));

  // Kill some allocators in the middle of their work: 20 requests are in flight in each at any moment.
  const printedBeforeKill: Line[] = [];
  for (const p of KILLED) {
    const d = first[p];
    if (!d) throw new Error("no worker");
    await waitFor(`allocator ${p} to be mid-run`, () => lines(d).length >= 150, {
      timeoutMs: 120_000,
      intervalMs: 100,
    });
    d.signal("SIGKILL");
    await d.waitForExit();
    t.equal(d.exitStatus?.signal, "SIGKILL", `allocator ${p} was killed`);
    printedBeforeKill.push(...lines(d));
  }
  // The kubelet retries the pods of a node whose ADDs failed, with the same container ids.
  const again = KILLED.map((p) => start(p, "b"));
  const finishers = [...first.filter((_, p) => !KILLED.includes(p)), ...again];
  for (const d of finishers) {
    await d.waitForExit(240_000);
    t.equal(d.exitStatus?.code, 0, `${d.name} finished: ${d.output().slice(-300)}`);
  }

  const snap = await readSnapshot(ds);
  const rows = allocations(snap);
  const byHandle = new Map<string, string[]>();
  for (const r of rows) byHandle.set(r.handle, [...(byHandle.get(r.handle) ?? []), r.address]);
  t.equal(new Set(rows.map((r) => r.address)).size, rows.length, "no address has two owners");
  t.equal(byHandle.size, PROCESSES * NODES_PER_PROCESS * PODS, "every pod has an address");
  t.ok(
    [...byHandle.values()].every((a) => a.length === 1),
    "and exactly one, also the pods whose allocator died",
  );
  const owner = new Map(rows.map((r) => [r.address, r.handle]));
  t.ok(
    [...printedBeforeKill, ...finishers.flatMap(lines)].every((l) => owner.get(l.address) === l.handle),
    "every address an allocator reported is still held by the handle it was given to",
  );
  const claims = snap.blocks.map((b) => b.data.cidr);
  t.equal(new Set(claims).size, claims.length, "no block exists twice");
  t.ok(
    rows.every((r) => snap.blocks.find((b) => b.data.cidr === r.block)?.data.affinity === `host:${r.node}`),
    "with room in the pool, no node borrowed",
  );

  // What dead allocators may leave: a claim never confirmed, a handle written just before its block.
  const debris = checkSnapshot(snap, Date.now(), 0);
  t.ok(
    debris.every((p) => p.kind === "stale-pending-affinity" || p.kind === "handle-without-address"),
    `only the debris the write order allows: ${JSON.stringify(debris)}`,
  );
  await run(process.execPath, [CLI, "ipam", "gc", "--datastore", url, "--grace-period", "0s", "--json"]);
  const check = await run(process.execPath, [
    CLI,
    "ipam",
    "check",
    "--datastore",
    url,
    "--grace-period",
    "0s",
    "--json",
  ]);
  t.same(JSON.parse(check).problems, [], "after gc, ipam check finds nothing (and exits 0)");
}
