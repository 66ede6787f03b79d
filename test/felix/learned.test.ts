import t from "tap";
import { LearnedRoutes, type PeerUptime } from "../../felix/calc/learned.js";

const local = [{ dst: "10.244.1.0/26", type: "blackhole" as const }];

t.test("learned routes, and stale ones kept over a restart of either side", async (t) => {
  const peers = new Map<string, number | "down">([["10.0.0.2", "down"]]);
  const uptime: PeerUptime = (a) => peers.get(a);
  const l = new LearnedRoutes(5_000, 120_000);
  l.adopt([{ dst: "10.244.2.0/26", hops: ["10.0.0.2"] }], 0);
  t.same(
    l.routes(local),
    [{ dst: "10.244.2.0/26", nexthops: [{ gateway: "10.0.0.2" }] }],
    "adopted at start",
  );
  l.expire(1_000, uptime);
  t.equal(l.counts().stale, 1, "kept while the session is down");
  peers.set("10.0.0.2", 2);
  l.expire(3_000, uptime);
  t.equal(l.counts().stale, 1, "kept while the peer has been up less than the grace time");
  l.learn("10.244.2.0/26", ["10.0.0.2"], 3_100);
  t.same(l.counts(), { learned: 1, stale: 0 }, "announced again: learned, no longer stale");

  peers.set("10.0.0.2", "down");
  l.learn("10.244.2.0/26", undefined, 10_000);
  l.expire(10_001, uptime);
  t.same(
    l.routes(local).map((r) => r.dst),
    ["10.244.2.0/26"],
    "withdrawn because the session dropped: kept",
  );
  l.expire(130_000, uptime);
  t.same(l.routes(local), [], "gone after the restart time");

  peers.set("10.0.0.2", 600);
  l.learn("10.244.3.0/26", ["10.0.0.2"], 0);
  l.learn("10.244.3.0/26", undefined, 1);
  l.expire(2, uptime);
  t.same(l.routes(local), [], "withdrawn by a healthy peer: removed at once");
  l.learn("10.244.4.0/26", ["192.0.2.9"], 0);
  l.learn("10.244.4.0/26", undefined, 1);
  l.expire(2, uptime);
  t.same(l.routes(local), [], "a next hop that is no peer of ours: nothing to wait for");
  l.learn("10.244.1.0/26", ["10.0.0.2"], 0);
  t.same(l.routes(local), [], "never over our own block");
});
