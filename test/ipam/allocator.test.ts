import fc from "fast-check";
import t from "tap";
import { Allocator } from "../../ipam/allocator.js";
import { checkSnapshot, allocations, readSnapshot } from "../../ipam/check.js";
import { NoFreeBlocksError, PoolExhaustedError } from "../../ipam/errors.js";
import { collectGarbage } from "../../ipam/gc.js";
import { MemoryDatastore } from "../../ipam/memstore.js";
import { podRequest } from "../../ipam/select.js";
import { ipamObject, type IpamDatastore, type IpamKind, type IpamObject } from "../../ipam/store.js";

async function withPools(ds: IpamDatastore, pools: Record<string, Record<string, unknown>>): Promise<void> {
  for (const [name, spec] of Object.entries(pools))
    await ds.create("IPPool", ipamObject("IPPool", name, spec));
}

const req = (handle: string, node: string, extra: Record<string, unknown> = {}) => ({
  handle,
  node,
  namespace: "default",
  pod: handle,
  num4: 1,
  num6: 0,
  ...extra,
});

async function problemsOf(ds: IpamDatastore) {
  return checkSnapshot(await readSnapshot(ds), Date.now(), 0);
}

t.test("a node claims a block on demand and allocates from it; same handle is idempotent", async (t) => {
  const ds = new MemoryDatastore();
  await withPools(ds, { p4: { cidr: "10.0.0.0/24" } });
  const a = new Allocator(ds);
  const [x] = await a.assign(req("c1", "n1"));
  t.equal(x?.pool, "p4");
  const [again] = await a.assign(req("c1", "n1"));
  t.equal(again?.address, x?.address, "a retried ADD gets the same address");
  const snap = await readSnapshot(ds);
  t.equal(snap.blocks.length, 1);
  t.equal(snap.blocks[0]?.data.affinity, "host:n1");
  t.same(
    snap.affinities.map((f) => f.spec.state),
    ["confirmed"],
  );
  t.same(await a.releaseHandle("c1"), [x?.address]);
  t.same(await a.releaseHandle("c1"), [], "release is idempotent");
  t.same(await problemsOf(ds), [], "ipam check finds nothing");
});

t.test("a cached configuration misses a pool made a moment ago: one fresh read, no failure", async (t) => {
  const ds = new MemoryDatastore();
  await withPools(ds, { p4: { cidr: "10.0.0.0/24" } });
  const a = new Allocator(ds, { configCacheMs: 60_000 });
  await a.assign(req("c1", "n1"));
  await withPools(ds, { fresh: { cidr: "10.9.0.0/24" } });
  const [x] = await a.assign(req("c2", "n1", { pools4: ["fresh"] }));
  t.equal(x?.pool, "fresh", "the requested pool is found on a second look");
  await t.rejects(
    a.assign(req("c3", "n1", { pools4: ["never"] })),
    /requested IPv4 pool never does not exist/,
  );
  t.same(await a.releaseHandle("c3"), [], "the failed request left nothing");
  const empty = new MemoryDatastore();
  const b = new Allocator(empty, { configCacheMs: 60_000 });
  await t.rejects(b.assign(req("d1", "n1")), /no enabled IPv4 pool selects node n1/);
  await withPools(empty, { late: { cidr: "10.8.0.0/24" } });
  t.equal((await b.assign(req("d2", "n1")))[0]?.pool, "late", "the first pool, made after a failed ADD");
});

t.test("dual stack, IPv6 /122 default, pools by annotation and fixed addresses", async (t) => {
  const ds = new MemoryDatastore();
  await withPools(ds, {
    a: { cidr: "10.1.0.0/16" },
    b: { cidr: "10.2.0.0/16", blockSize: 28 },
    v6: { cidr: "fd00:1::/112" },
  });
  const alloc = new Allocator(ds);
  const got = await alloc.assign({ ...req("d1", "n1"), num6: 1 });
  t.same(got.map((g) => g.family).sort(), [4, 6]);
  const v6 = got.find((g) => g.family === 6);
  t.match(v6?.address, /^fd00:1::/);
  const blocks = (await readSnapshot(ds)).blocks.map((b) => b.data.cidr);
  t.ok(
    blocks.some((c) => c.endsWith("/122")),
    "IPv6 blocks default to /122",
  );

  const r = podRequest(
    "default/web",
    { "ipam.tortie.io/ipv4pools": '["b"]' },
    { "ipam.tortie.io/ipv4pools": '["a"]' },
  );
  const [fromB] = await alloc.assign({ ...req("d2", "n1"), pools4: r.pools[4] });
  t.match(fromB?.address, /^10\.2\./, "the pod's annotation wins over the namespace's");
  t.equal((await readSnapshot(ds)).blocks.filter((b) => b.data.cidr.endsWith("/28")).length, 1);

  const fixed = podRequest("default/db", { "ipam.tortie.io/ipAddrs": '["10.1.200.7"]' }, {}).fixed;
  const [f] = await alloc.assign({ ...req("d3", "n2"), fixed });
  t.equal(f?.address, "10.1.200.7");
  await t.rejects(alloc.assign({ ...req("d4", "n2"), fixed }), { code: "AddressInUse" });
  await t.rejects(alloc.assign({ ...req("d5", "n2"), fixed: ["192.168.0.1"] }), { code: "AddressNotInPool" });
  await t.rejects(alloc.assign({ ...req("d6", "n1"), pools4: ["nope"] }), { code: "NoPool" });
  t.throws(
    () => podRequest("default/x", { "ipam.tortie.io/ipAddrs": "10.0.0.1" }, {}),
    /ipam.tortie.io\/ipAddrs: not JSON/,
  );
  t.same(await problemsOf(ds), [], "ipam check finds nothing");
});

t.test("reservations are never handed out; nodeSelector and disabled pools are honoured", async (t) => {
  const ds = new MemoryDatastore();
  await withPools(ds, {
    off: { cidr: "10.9.0.0/24", disabled: true },
    rack1: { cidr: "10.8.0.0/24", nodeSelector: "rack == 'r1'" },
    any: { cidr: "10.0.0.0/28", blockSize: 28 },
  });
  await ds.create(
    "IPReservation",
    ipamObject("IPReservation", "r", { reservedCIDRs: ["10.0.0.0/30", "10.0.0.15"] }),
  );
  await ds.create("Node", {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "r1node", labels: { rack: "r1" } },
  });
  const alloc = new Allocator(ds);
  const got: string[] = [];
  for (let i = 0; i < 11; i++) got.push(...(await alloc.assign(req(`h${i}`, "n1"))).map((g) => g.address));
  t.equal(new Set(got).size, 11);
  t.notOk(got.some((a) => ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.15"].includes(a)));
  await t.rejects(alloc.assign(req("h11", "n1")), PoolExhaustedError, "16 - 5 reserved = 11 addresses");
  const [r1] = await alloc.assign(req("r", "r1node"));
  t.match(r1?.address, /^10\.8\./, "a node that the selector matches uses the rack pool first (name order)");
});

t.test("borrowing: a node with no claimable block borrows unless strictAffinity", async (t) => {
  const ds = new MemoryDatastore();
  await withPools(ds, { tiny: { cidr: "10.0.0.0/27", blockSize: 28 } });
  const a = new Allocator(ds);
  await a.assign(req("x1", "n1"));
  await a.assign(req("x2", "n2"));
  // Both blocks are claimed now; n3 can claim none.
  const strict = new Allocator(ds, { strictAffinity: true });
  await t.rejects(strict.assign(req("x3", "n3")), NoFreeBlocksError);
  const [b] = await a.assign(req("x3", "n3"));
  t.ok(b, "borrowed");
  const snap = await readSnapshot(ds);
  const row = allocations(snap).find((r) => r.handle === "x3");
  t.equal(row?.node, "n3");
  t.not(
    snap.blocks.find((x) => x.data.cidr === row?.block)?.data.affinity,
    "host:n3",
    "from another node's block",
  );
  t.same(await problemsOf(ds), [], "ipam check finds nothing");
});

t.test("property: concurrent nodes, each with parallel ADDs, never share an address or a block", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 2, max: 6 }),
      fc.integer({ min: 1, max: 12 }),
      fc.boolean(),
      fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 10 }),
      fc.integer({ min: 1, max: 3 }),
      async (nodes, perNode, strict, releases, parallel) => {
        const ds = new MemoryDatastore();
        await withPools(ds, { p: { cidr: "10.0.0.0/26", blockSize: 29 } });
        // Every ADD runs to its end, failed or not, before the store is checked.
        const results = await Promise.all(
          Array.from({ length: nodes }, async (_, n) => {
            const alloc = new Allocator(ds, { strictAffinity: strict });
            const got: string[] = [];
            const failed: unknown[] = [];
            // Several ADDs of one node at once, as the kubelet sends them.
            let next = 0;
            const worker = async (): Promise<void> => {
              while (next < perNode) {
                const i = next++;
                await alloc.assign(req(`n${n}-p${i}`, `n${n}`)).then(
                  (g) => got.push(...g.map((x) => x.address)),
                  (e: unknown) => failed.push(e),
                );
              }
            };
            await Promise.all(Array.from({ length: parallel }, worker));
            return { got, failed };
          }),
        );
        for (const e of results.flatMap((r) => r.failed))
          if (!(e instanceof NoFreeBlocksError || e instanceof PoolExhaustedError)) throw e;
        const alloc = new Allocator(ds);
        for (const i of releases) await alloc.releaseHandle(`n${i % nodes}-p${i % perNode}`);
        const snap = await readSnapshot(ds);
        const rows = allocations(snap);
        if (new Set(rows.map((r) => r.address)).size !== rows.length) return false;
        if (
          strict &&
          rows.some(
            (r) => snap.blocks.find((b) => b.data.cidr === r.block)?.data.affinity !== `host:${r.node}`,
          )
        )
          return false;
        const total = results.reduce((n, r) => n + r.got.length, 0);
        if (total > 64) return false;
        return checkSnapshot(snap, Date.now(), 0).length === 0;
      },
    ),
    { numRuns: 40 },
  );
});

t.test(
  "a pending affinity withdrawn between a failed create and its read: the claim tries again",
  async (t) => {
    // Two ADDs of n1 race for the same block. The other one creates the pending affinity just before
    // ours, loses the block to another node and deletes the affinity just after our create failed on
    // it (seen in CI on etcd).
    class Racing extends MemoryDatastore {
      raced = 0;
      withdrawn = 0;
      override async create(kind: IpamKind, obj: IpamObject): Promise<IpamObject> {
        if (kind === "BlockAffinity" && this.raced++ === 0) await super.create(kind, obj);
        return super.create(kind, obj);
      }
      override async get(kind: IpamKind, name: string, namespace?: string): Promise<IpamObject> {
        if (kind === "BlockAffinity" && this.withdrawn++ === 0) await this.delete(kind, name, namespace);
        return super.get(kind, name, namespace);
      }
    }
    const ds = new Racing();
    await withPools(ds, { p: { cidr: "10.0.0.0/28", blockSize: 29 } });
    const [got] = await new Allocator(ds).assign(req("p", "n1"));
    t.equal(ds.withdrawn, 1, "the affinity vanished under the claim");
    t.match(got?.address, /^10\.0\.0\.([0-9]|1[0-5])$/, "n1 still claims a block and allocates from it");
    const snap = await readSnapshot(ds);
    t.same(
      snap.blocks.map((b) => b.data.affinity),
      ["host:n1"],
      "one block, n1's",
    );
    t.same(await problemsOf(ds), [], "ipam check finds nothing");
  },
);

t.test("a claim left half-made by a dead allocator is repaired and never double-claimed", async (t) => {
  const ds = new MemoryDatastore();
  await withPools(ds, { p: { cidr: "10.0.0.0/28", blockSize: 29 } });
  const clock = { now: 1_000_000 };
  const a = new Allocator(ds, { now: () => clock.now });
  // Dead allocator 1: wrote a pending affinity for the first block and died.
  await ds.create(
    "BlockAffinity",
    ipamObject("BlockAffinity", "10-0-0-0-29.n1", {
      node: "n1",
      cidr: "10.0.0.0/29",
      state: "pending",
      time: clock.now,
    }),
  );
  // Dead allocator 2: created the block for n2 but died before confirming.
  await ds.create(
    "BlockAffinity",
    ipamObject("BlockAffinity", "10-0-0-8-29.n2", {
      node: "n2",
      cidr: "10.0.0.8/29",
      state: "pending",
      time: clock.now,
    }),
  );
  const { newBlock } = await import("../../ipam/block.js");
  const { parseCidr } = await import("../../ipam/addr.js");
  await ds.create(
    "IPAMBlock",
    ipamObject("IPAMBlock", "10-0-0-8-29", newBlock(parseCidr("10.0.0.8/29"), "n2")),
  );
  // Dead allocator 3: wrote a handle and died before the block.
  await ds.create(
    "IPAMHandle",
    ipamObject("IPAMHandle", "dead", {
      handleID: "dead",
      blocks: ["10.0.0.8/29"],
      node: "n2",
      time: clock.now,
    }),
  );

  const [n2] = await a.assign(req("live", "n2"));
  t.match(n2?.address, /^10\.0\.0\.(8|9|1[0-5])$/, "n2 adopts its half-confirmed block");
  const [n3] = await a.assign(req("other", "n3"));
  t.match(n3?.address, /^10\.0\.0\.[0-7]$/, "n3 claims the block n1 never created");
  clock.now += 120_000;
  const before = checkSnapshot(await readSnapshot(ds), clock.now, 60_000);
  t.same(before.map((p) => p.kind).sort(), ["handle-without-address", "stale-pending-affinity"]);
  const actions = await collectGarbage(a, 60_000, clock.now);
  t.same(actions.map((x) => x.action).sort(), ["delete-affinity", "delete-empty-handle"]);
  t.same(checkSnapshot(await readSnapshot(ds), clock.now, 60_000), []);
});

t.test(
  "gc releases handles whose pod is gone after the grace period, and empty surplus blocks",
  async (t) => {
    const ds = new MemoryDatastore();
    await withPools(ds, { p: { cidr: "10.0.0.0/24", blockSize: 30 } });
    const clock = { now: 5_000_000 };
    const a = new Allocator(ds, { now: () => clock.now });
    await ds.create("Pod", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "alive", namespace: "default" },
    });
    for (const h of ["alive", "gone1", "gone2", "gone3", "gone4"]) await a.assign(req(h, "n1"));
    t.equal((await readSnapshot(ds)).blocks.length, 2);
    t.same(
      (await collectGarbage(a, 60_000, clock.now + 1000)).map((x) => x.action),
      [],
      "nothing before the grace period",
    );
    const leaks = checkSnapshot(await readSnapshot(ds), clock.now, 60_000).filter(
      (p) => p.kind === "handle-without-pod",
    );
    t.equal(leaks.length, 4, "check reports every handle without pod");
    const actions = await collectGarbage(a, 60_000, clock.now + 61_000);
    t.equal(actions.filter((x) => x.action === "release-leaked-handle").length, 4);
    const snap = await readSnapshot(ds);
    t.same(
      allocations(snap).map((r) => r.handle),
      ["alive"],
    );
    t.equal(snap.blocks.length, 1, "the emptied second block went back to the pool");
    t.same(checkSnapshot(snap, clock.now + 61_000, 60_000), []);
  },
);
