import t from "tap";
import { KernelRoutes } from "../../core/kernel-routes.js";
import { Kit } from "../kit/kit.js";

interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  type?: string;
  protocol?: string;
  metric?: number;
  nexthops?: { gateway: string; dev: string; weight: number }[];
}

t.test("routes are reconciled over rtnetlink in a namespace, touching only our own", async (t) => {
  const kit = Kit.create(t);
  const node = await kit.netns("rt-node");
  const peer = await kit.netns("rt-peer");
  await kit.veth(node, "eth0", peer, "eth0");
  await kit.veth(node, "eth1", peer, "eth1");
  await node.addr("eth0", "192.0.2.1/24");
  await node.addr("eth1", "198.51.100.1/24");
  await node.addr("eth0", "2001:db8::1/64");
  const table = 100;
  const show = async (family: "-4" | "-6", proto?: string): Promise<IpRoute[]> =>
    JSON.parse(
      await node.ip([
        "-j",
        family,
        "route",
        "show",
        "table",
        String(table),
        ...(proto ? ["proto", proto] : []),
      ]),
    ) as IpRoute[];

  // Someone else's route in the same table must survive everything below.
  await node.ip([
    "route",
    "add",
    "203.0.113.0/24",
    "via",
    "192.0.2.9",
    "table",
    String(table),
    "proto",
    "static",
  ]);

  const routes = new KernelRoutes({ netns: node.name, table, protocol: 201 });
  t.teardown(() => routes.close());
  const desired = [
    { dst: "10.1.0.0/26", nexthops: [{ gateway: "192.0.2.2" }] },
    { dst: "10.1.0.64/26", type: "blackhole" as const },
    { dst: "10.1.0.130/32", nexthops: [{ dev: "eth1" }] },
    {
      dst: "10.1.1.0/26",
      nexthops: [
        { gateway: "192.0.2.2", dev: "eth0" },
        { gateway: "198.51.100.2", dev: "eth1" },
      ],
    },
    { dst: "10.1.2.7/26", nexthops: [{ gateway: "192.0.2.3" }] }, // host bits set: programmed as its network
    { dst: "fd00:1::/122", nexthops: [{ gateway: "2001:db8::2", dev: "eth0" }] },
    { dst: "10.9.9.0/24", nexthops: [{ dev: "nosuchdev" }] },
  ];
  const first = await routes.sync(desired);
  t.equal(first.replaced, 6);
  t.same(
    first.failed,
    [{ dst: "10.9.9.0/24", reason: "no device nosuchdev" }],
    "a bad route is reported, the rest go in",
  );

  const v4 = await show("-4", "201");
  const byDst = new Map(v4.map((r) => [r.dst, r]));
  t.equal(byDst.get("10.1.0.0/26")?.gateway, "192.0.2.2");
  t.equal(byDst.get("10.1.0.64/26")?.type, "blackhole");
  t.equal(byDst.get("10.1.0.130")?.dev, "eth1");
  t.same(
    byDst
      .get("10.1.1.0/26")
      ?.nexthops?.map((h) => h.gateway)
      .sort(),
    ["192.0.2.2", "198.51.100.2"],
    "ECMP",
  );
  t.ok(byDst.has("10.1.2.0/26"));
  t.same(
    (await show("-6", "201")).map((r) => r.dst),
    ["fd00:1::/122"],
  );

  const again = await routes.sync(desired);
  t.same(
    { replaced: again.replaced, removed: again.removed, unchanged: again.unchanged },
    { replaced: 0, removed: 0, unchanged: 6 },
    "idempotent",
  );

  // Drift: one of ours deleted by hand, one changed by hand, a stray one with our protocol added.
  await node.ip(["route", "del", "10.1.0.0/26", "table", String(table)]);
  await node.ip([
    "route",
    "replace",
    "10.1.0.64/26",
    "via",
    "192.0.2.77",
    "table",
    String(table),
    "proto",
    "201",
  ]);
  await node.ip(["route", "add", "10.7.7.0/24", "via", "192.0.2.2", "table", String(table), "proto", "201"]);
  const repaired = await routes.sync(desired);
  t.equal(repaired.replaced, 2, "the deleted and the changed route are put back");
  t.equal(repaired.removed, 1, "the stray route of ours is removed");
  const after = new Map((await show("-4", "201")).map((r) => [r.dst, r]));
  t.equal(after.get("10.1.0.0/26")?.gateway, "192.0.2.2");
  t.equal(after.get("10.1.0.64/26")?.type, "blackhole");
  t.notOk(after.has("10.7.7.0/24"));

  const cleared = await routes.sync([]);
  t.equal(cleared.removed, 6);
  t.same(await show("-4", "201"), []);
  t.same(await show("-6", "201"), []);
  t.same(
    (await show("-4")).map((r) => r.dst),
    ["203.0.113.0/24"],
    "the static route that is not ours was never touched",
  );

  const failures = await routes.apply({ remove: [{ dst: "10.1.0.0/26" }] });
  t.same(failures, [], "removing a route that is already gone is not a failure");
});

t.test(
  "a sync larger than one pipelined batch: failures placed, unwanted removed, nothing lost",
  async (t) => {
    const kit = Kit.create(t);
    const node = await kit.netns("rt-big");
    const peer = await kit.netns("rt-big-peer");
    await kit.veth(node, "eth0", peer, "eth0");
    await node.addr("eth0", "192.0.2.1/24");
    const table = 101;
    const routes = new KernelRoutes({ netns: node.name, table, protocol: 201 });
    t.teardown(() => routes.close());
    const dst = (i: number): string => `10.${(i >> 10) & 255}.${(i >> 2) & 255}.${(i & 3) << 6}/26`;
    const N = 22_000; // two batches of 8192 and a remainder of 5616
    const spec = (i: number) =>
      // One refused route per batch, each somewhere else in its batch.
      i % 8192 === 4000 + (i >> 13)
        ? { dst: dst(i), nexthops: [{ dev: "nosuchdev" }] }
        : i === 17_001
          ? { dst: dst(i), nexthops: [{ gateway: "198.18.0.1" }] } // unreachable gateway: the kernel says no
          : { dst: dst(i), nexthops: [{ gateway: "192.0.2.2" }] };
    const first = await routes.sync([{ dst: "10.255.0.0/26", nexthops: [{ gateway: "192.0.2.2" }] }]);
    t.equal(first.replaced, 1);
    const rep = await routes.sync(Array.from({ length: N }, (_, i) => spec(i)));
    t.same(
      rep.failed.map((f) => f.dst).sort(),
      [dst(4000), dst(8192 + 4001), dst(16384 + 4002), dst(17_001)].sort(),
      "each refusal names its own route",
    );
    t.equal(rep.replaced, N - 4);
    t.equal(rep.removed, 1, "the route from before is unwanted now");
    const listed = await routes.list();
    t.equal(listed.length, N - 4);
    t.notOk(
      listed.some((r) => r.dst === "10.255.0.0/26"),
      "the unwanted one is gone",
    );
    const again = await routes.sync(Array.from({ length: N }, (_, i) => spec(i)));
    t.equal(again.unchanged, N - 4, "a second sync changes nothing");
    t.equal(again.replaced, 0);
    t.equal(again.failed.length, 4);
  },
);
