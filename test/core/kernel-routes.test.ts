import t from "tap";
import { canonicalCidr, diffRoutes, type KernelRoute } from "../../core/kernel-routes.js";
import { decodeRoute, replaceRoute, RTM } from "../../core/netlink/route.js";

const r = (dst: string, extra: Partial<KernelRoute> = {}): KernelRoute => ({
  dst,
  type: "unicast",
  table: 100,
  protocol: 201,
  metric: 0,
  nexthops: [{ gateway: "192.0.2.2", weight: 1 }],
  ...extra,
});

t.test("canonicalCidr clears host bits and shortens IPv6", async (t) => {
  t.equal(canonicalCidr("10.1.2.7/26"), "10.1.2.0/26");
  t.equal(canonicalCidr("10.1.2.7/32"), "10.1.2.7/32");
  t.equal(canonicalCidr("0.0.0.0/0"), "0.0.0.0/0");
  t.equal(canonicalCidr("fd00:0:0:0:0:0:0:7f/122"), "fd00::40/122");
  t.equal(canonicalCidr("10.001.2.0/24"), "10.1.2.0/24", "leading zeros dropped");
  t.equal(canonicalCidr("10.1.2.0/024"), "10.1.2.0/24");
  t.equal(canonicalCidr("255.255.255.255/1"), "128.0.0.0/1");
  t.equal(canonicalCidr("10.0.0.0/8"), "10.0.0.0/8");
  for (const bad of [
    "10.1.2/24",
    "10.1.2.256/24",
    "10.1.2.3.4/32",
    "10..2.3/8",
    "10.1.2.3/33",
    "10.1.2.3/",
    "a.b.c.d/8",
    "10.1.2.3",
  ])
    t.throws(() => canonicalCidr(bad), `${bad} refused`);
});

t.test("diffRoutes replaces what differs, removes what is unwanted, keeps what matches", async (t) => {
  const actual = [
    r("10.0.0.0/26"),
    r("10.0.0.64/26"),
    r("10.0.0.128/26", { type: "blackhole", nexthops: [] }),
  ];
  const desired = [
    r("10.0.0.0/26"),
    r("10.0.0.64/26", { nexthops: [{ gateway: "192.0.2.3", weight: 1 }] }),
    r("10.0.1.0/26"),
  ];
  const d = diffRoutes(actual, desired);
  t.same(
    d.replace.map((x) => x.dst),
    ["10.0.0.64/26", "10.0.1.0/26"],
  );
  t.same(
    d.remove.map((x) => x.dst),
    ["10.0.0.128/26"],
  );
  t.equal(d.unchanged, 1);
  t.same(diffRoutes(desired, desired).replace, [], "no change, nothing to do");
});

t.test("ECMP next hops compare without regard to order; a metric is part of the key", async (t) => {
  const a = r("10.0.0.0/26", {
    nexthops: [
      { gateway: "192.0.2.2", ifindex: 2, weight: 1 },
      { gateway: "192.0.2.3", ifindex: 3, weight: 1 },
    ],
  });
  const b = r("10.0.0.0/26", { nexthops: [...a.nexthops].reverse() });
  t.equal(diffRoutes([a], [b]).unchanged, 1);
  const d = diffRoutes([a], [{ ...a, metric: 10 }]);
  t.equal(d.replace.length, 1);
  t.equal(d.remove.length, 1, "a route with another metric is another route");
});

t.test("RTM_NEWROUTE encodes what a dump decodes back", async (t) => {
  for (const route of [
    r("10.0.0.0/26"),
    r("10.0.0.0/26", { type: "blackhole", nexthops: [] }),
    r("10.0.0.5/32", { nexthops: [{ ifindex: 7, weight: 1 }] }),
    r("fd00::40/122", { table: 1000, nexthops: [{ gateway: "2001:db8::2", ifindex: 3, weight: 1 }] }),
    r("10.0.1.0/26", {
      metric: 20,
      nexthops: [
        { gateway: "192.0.2.2", ifindex: 2, weight: 1 },
        { gateway: "192.0.2.3", ifindex: 3, weight: 5, onlink: true },
      ],
    }),
  ]) {
    const req = replaceRoute(route);
    const back = decodeRoute({ type: RTM.NEWROUTE, flags: 0, seq: 1, payload: req.payload });
    t.same(back, route, route.dst);
  }
});
