import fc from "fast-check";
import t from "tap";
import { Allocator } from "../../ipam/allocator.js";
import { checkSnapshot, readSnapshot } from "../../ipam/check.js";
import { collectGarbage } from "../../ipam/gc.js";
import { MemoryDatastore } from "../../ipam/memstore.js";
import { parsePool } from "../../ipam/pool.js";
import { poolsToTopUp, spareThreshold, surplusEmptyBlocks, type AffineBlockState } from "../../ipam/spare.js";
import { ipamObject, type IpamDatastore } from "../../ipam/store.js";

const p4 = parsePool("a", { cidr: "10.0.0.0/16" });
const p4b = parsePool("b", { cidr: "10.1.0.0/16", blockSize: 28 });
const p6 = parsePool("v6", { cidr: "fd00::/112" });
const off = parsePool("off", { cidr: "10.2.0.0/16", disabled: true });
const rack = parsePool("rack", { cidr: "10.3.0.0/16", nodeSelector: "rack == 'r1'" });
const blk = (cidr: string, free: number, empty = false): AffineBlockState => ({ cidr, free, empty });

t.test("the threshold is a quarter of a block, at least one address", async (t) => {
  t.equal(spareThreshold(p4), 16, "/26: 64 addresses");
  t.equal(spareThreshold(p4b), 4, "/28: 16 addresses");
  t.equal(spareThreshold(p6), 16, "/122: 64 addresses");
  t.equal(spareThreshold(parsePool("tiny", { cidr: "10.9.0.0/24", blockSize: 31 })), 1);
  t.equal(spareThreshold(p4, 1 / 2), 32, "the fraction is a parameter");
});

t.test("which pools get a block now", async (t) => {
  const pools = [p4, p4b, p6, off, rack];
  const names = (labels: Record<string, string>, blocks: AffineBlockState[]) =>
    poolsToTopUp(pools, labels, blocks).map((p) => p.name);
  t.same(
    names({}, []),
    ["a", "b", "v6"],
    "a node with no block: every enabled pool selecting it, both families",
  );
  t.same(names({ rack: "r1" }, []), ["a", "b", "rack", "v6"], "a nodeSelector that matches counts");
  t.notOk(names({}, []).includes("off"), "a disabled pool is never pre-claimed");
  t.notOk(names({ rack: "r2" }, []).includes("rack"), "nor one whose nodeSelector does not match");
  t.same(
    names({}, [blk("10.0.0.0/26", 16), blk("10.1.0.0/28", 4), blk("fd00::/122", 64)]),
    [],
    "at the threshold nothing is due",
  );
  t.same(
    names({}, [blk("10.0.0.0/26", 15), blk("10.1.0.0/28", 4), blk("fd00::/122", 64)]),
    ["a"],
    "one below it in one pool: that pool only",
  );
  t.same(
    names({}, [
      blk("10.0.0.0/26", 10),
      blk("10.0.0.64/26", 10),
      blk("10.1.0.0/28", 9),
      blk("fd00::/122", 20),
    ]),
    [],
    "free addresses add up over the node's blocks of a pool",
  );
  t.same(
    names({}, [blk("10.2.0.0/26", 64), blk("10.1.0.0/28", 16), blk("fd00::/122", 64)]),
    ["a"],
    "a block in a disabled pool does not count for another pool",
  );
});

t.test("gc's surplus: one empty block per pool stays while the node is short", async (t) => {
  const pools = [p4, p4b];
  t.same(surplusEmptyBlocks(pools, [blk("10.0.0.64/26", 64, true)]), [], "the only (spare) block stays");
  t.same(
    surplusEmptyBlocks(pools, [blk("10.0.0.0/26", 3), blk("10.0.0.64/26", 64, true)]),
    [],
    "the spare claimed because the other block ran low stays",
  );
  t.same(
    surplusEmptyBlocks(pools, [blk("10.0.0.0/26", 30), blk("10.0.0.64/26", 64, true)]),
    ["10.0.0.64/26"],
    "an empty block is surplus when the other blocks have room",
  );
  t.same(
    surplusEmptyBlocks(pools, [
      blk("10.0.1.0/26", 64, true),
      blk("10.0.0.64/26", 64, true),
      blk("10.1.0.0/28", 16, true),
    ]),
    ["10.0.1.0/26"],
    "at most one empty block per pool, the lowest kept, and each pool keeps its own",
  );
});

t.test("property: what gc gives back, the top-up does not claim again", async (t) => {
  const pools = [p4, p4b];
  const arb = fc.array(
    fc.record({
      pool: fc.constantFrom(0, 1),
      n: fc.integer({ min: 0, max: 20 }),
      used: fc.integer({ min: 0, max: 64 }),
    }),
    { maxLength: 6 },
  );
  fc.assert(
    fc.property(arb, (spec) => {
      const seen = new Set<string>();
      const blocks = spec.flatMap(({ pool, n, used }) => {
        const size = pool === 0 ? 64 : 16;
        const cidr = pool === 0 ? `10.0.${n}.0/26` : `10.1.0.${(n % 16) * 16}/28`;
        if (seen.has(cidr)) return [];
        seen.add(cidr);
        const u = Math.min(used, size);
        return [blk(cidr, size - u, u === 0)];
      });
      const surplus = new Set(surplusEmptyBlocks(pools, blocks));
      const after = blocks.filter((b) => !surplus.has(b.cidr));
      const dueBefore = poolsToTopUp(pools, {}, blocks).map((p) => p.name);
      const dueAfter = poolsToTopUp(pools, {}, after).map((p) => p.name);
      // Releasing surplus never makes a pool due that was not due before (no claim/release churn),
      for (const name of dueAfter) if (!dueBefore.includes(name)) return false;
      // and at most one empty block per pool remains.
      for (const p of pools) {
        const pre = p === p4 ? "10.0." : "10.1.";
        if (after.filter((b) => b.empty && b.cidr.startsWith(pre)).length > 1) return false;
      }
      return true;
    }),
  );
  t.pass("held for every generated node");
});

async function withPools(ds: IpamDatastore, pools: Record<string, Record<string, unknown>>): Promise<void> {
  for (const [name, spec] of Object.entries(pools))
    await ds.create("IPPool", ipamObject("IPPool", name, spec));
}

const req = (handle: string) => ({ handle, node: "n1", namespace: "default", pod: handle, num4: 1, num6: 0 });

t.test("topUp claims ahead of need, so assignments across a block boundary never claim inline", async (t) => {
  const ds = new MemoryDatastore();
  await withPools(ds, {
    p: { cidr: "10.0.0.0/24", blockSize: 28 },
    off: { cidr: "10.9.0.0/24", disabled: true },
    other: { cidr: "10.8.0.0/24", nodeSelector: "rack == 'r9'" },
  });
  const seen: string[] = [];
  const a = new Allocator(ds, { configCacheMs: 60_000, onClaim: (c, m, n) => seen.push(`${m} ${c} ${n}`) });
  t.equal((await a.topUp("n1", { fresh: true })).length, 1, "at start: one block in the one eligible pool");
  t.same(await a.topUp("n1"), [], "a second top-up finds enough free addresses");
  for (let i = 0; i < 40; i++) {
    await a.assign(req(`h${i}`));
    await a.topUp("n1");
  }
  t.same(
    a.claims,
    { inline: 0, background: 3 },
    "40 pods over /28 blocks: three background claims, no inline one",
  );
  t.ok(
    seen.every((s) => s.startsWith("background 10.0.0.") && s.endsWith(" n1")),
    "never in the disabled pool or one not selecting the node",
  );
  const snap = await readSnapshot(ds);
  t.equal(snap.blocks.length, 3);
  t.same(checkSnapshot(snap, Date.now(), 0), []);
  // Without the top-up the next block is claimed inline, and counted so.
  const b = new Allocator(ds);
  for (let i = 40; i < 49; i++) await b.assign(req(`h${i}`));
  t.same(b.claims, { inline: 1, background: 0 });
});

t.test("gc never gives back the spare the agent just claimed", async (t) => {
  const ds = new MemoryDatastore();
  await withPools(ds, { p: { cidr: "10.0.0.0/24", blockSize: 28 } });
  const clock = { now: 1_000_000 };
  const a = new Allocator(ds, { now: () => clock.now });
  for (let i = 0; i < 13; i++) await a.assign(req(`h${i}`));
  t.equal((await a.topUp("n1", { fresh: true })).length, 1, "13 of 16 used: the spare is claimed");
  t.equal((await readSnapshot(ds)).blocks.length, 2);
  const actions = await collectGarbage(a, 0, clock.now + 1);
  t.same(
    actions.filter((x) => x.action === "release-empty-block"),
    [],
    "the spare stays",
  );
  // Free most of the first block: now the spare is surplus and goes back.
  for (let i = 0; i < 10; i++) await a.releaseHandle(`h${i}`);
  const later = await collectGarbage(a, 0, clock.now + 2);
  t.equal(
    later.filter((x) => x.action === "release-empty-block").length,
    1,
    "surplus once the node has room",
  );
  t.same(await a.topUp("n1", { fresh: true }), [], "and the top-up does not claim it again");
});
