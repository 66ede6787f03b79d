import fc from "fast-check";
import t from "tap";
import {
  DECISION_STEPS,
  comparePaths,
  selectBest,
  type DecisionOptions,
  type Path,
  type PathSource,
  type Reason,
} from "../../../bgp/rib/decision.js";
import { loopReason } from "../../../bgp/rib/loops.js";
import { AsSegmentType, Origin, type PathAttributes } from "../../../bgp/wire/index.js";

let nextSource = 1;
function path(
  attrs: PathAttributes,
  from: Partial<PathSource> = {},
  extra: { igpCost?: number; source?: number } = {},
): Path {
  const asPath = attrs.asPath ?? [];
  return {
    source: extra.source ?? nextSource++,
    from: { local: false, ebgp: false, peerAddress: "10.0.0.9", routerId: 9, ...from },
    attributes: { origin: Origin.IGP, ...attrs },
    asPathLength: asPath.reduce((n, s) => n + (s.type === AsSegmentType.AS_SET ? 1 : s.asns.length), 0),
    ...(extra.igpCost !== undefined ? { igpCost: extra.igpCost } : {}),
  };
}
const seq = (...asns: number[]): PathAttributes["asPath"] => [{ type: AsSegmentType.AS_SEQUENCE, asns }];

interface Case {
  readonly name: string;
  readonly winner: Path;
  readonly loser: Path;
  readonly reason: Reason;
  readonly opts?: DecisionOptions;
}

/** One row per step of RFC 4271 §9.1.2.2 (and RFC 4456 §9): two paths that part exactly there. */
const cases: Case[] = [
  {
    name: "our own route beats any learned one",
    winner: path({}, { local: true, peerAddress: "", routerId: 0 }),
    loser: path({ localPref: 1000 }),
    reason: "local-origin",
  },
  {
    name: "higher LOCAL_PREF",
    winner: path({ localPref: 200 }),
    loser: path({ localPref: 100 }),
    reason: "local-pref",
  },
  {
    name: "a missing LOCAL_PREF counts as the default",
    winner: path({ localPref: 101 }),
    loser: path({}),
    reason: "local-pref",
  },
  {
    name: "shorter AS_PATH",
    winner: path({ asPath: seq(65001) }),
    loser: path({ asPath: seq(65001, 65002) }),
    reason: "as-path-length",
  },
  {
    name: "an AS_SET counts as one",
    winner: path({ asPath: [{ type: AsSegmentType.AS_SET, asns: [1, 2, 3] }] }),
    loser: path({ asPath: seq(4, 5) }),
    reason: "as-path-length",
  },
  {
    name: "lower ORIGIN",
    winner: path({ origin: Origin.IGP }),
    loser: path({ origin: Origin.INCOMPLETE }),
    reason: "origin",
  },
  {
    name: "lower MED from the same neighbour AS",
    winner: path({ asPath: seq(65002), med: 10 }, { peerAddress: "10.0.0.20", routerId: 20 }),
    loser: path({ asPath: seq(65002), med: 20 }, { peerAddress: "10.0.0.3", routerId: 3 }),
    reason: "med",
  },
  {
    name: "a missing MED is the lowest",
    winner: path({ asPath: seq(65002) }, { peerAddress: "10.0.0.20", routerId: 20 }),
    loser: path({ asPath: seq(65002), med: 5 }, { peerAddress: "10.0.0.3", routerId: 3 }),
    reason: "med",
  },
  {
    name: "MED between neighbour ASes only with always-compare",
    winner: path({ asPath: seq(65002), med: 10 }, { peerAddress: "10.0.0.20", routerId: 20 }),
    loser: path({ asPath: seq(65003), med: 20 }, { peerAddress: "10.0.0.3", routerId: 3 }),
    reason: "med",
    opts: { alwaysCompareMed: true },
  },
  {
    name: "MED ignored between different neighbour ASes",
    winner: path({ asPath: seq(65003), med: 20 }, { peerAddress: "10.0.0.3", routerId: 3 }),
    loser: path({ asPath: seq(65002), med: 10 }, { peerAddress: "10.0.0.20", routerId: 20 }),
    reason: "router-id",
  },
  {
    name: "eBGP over iBGP",
    winner: path({ asPath: seq(65002) }, { ebgp: true, peerAddress: "10.0.0.20", routerId: 20 }),
    loser: path({ asPath: seq(65003) }, { ebgp: false, peerAddress: "10.0.0.3", routerId: 3 }),
    reason: "ebgp-over-ibgp",
  },
  {
    name: "lower IGP cost to the next hop",
    winner: path({}, { peerAddress: "10.0.0.20", routerId: 20 }, { igpCost: 5 }),
    loser: path({}, { peerAddress: "10.0.0.3", routerId: 3 }, { igpCost: 10 }),
    reason: "igp-cost",
  },
  {
    name: "lower BGP Identifier",
    winner: path({}, { peerAddress: "10.0.0.20", routerId: 1 }),
    loser: path({}, { peerAddress: "10.0.0.3", routerId: 2 }),
    reason: "router-id",
  },
  {
    name: "ORIGINATOR_ID stands in for the BGP Identifier (RFC 4456 §9)",
    winner: path({ originatorId: "0.0.0.1" }, { peerAddress: "10.0.0.20", routerId: 50 }),
    loser: path({}, { peerAddress: "10.0.0.3", routerId: 2 }),
    reason: "router-id",
  },
  {
    name: "shorter CLUSTER_LIST",
    winner: path({ originatorId: "1.1.1.1", clusterList: ["2.2.2.2"] }, { peerAddress: "10.0.0.20" }),
    loser: path(
      { originatorId: "1.1.1.1", clusterList: ["3.3.3.3", "2.2.2.2"] },
      { peerAddress: "10.0.0.3" },
    ),
    reason: "cluster-list-length",
  },
  {
    name: "lower peer address",
    winner: path({}, { peerAddress: "10.0.0.3" }),
    loser: path({}, { peerAddress: "10.0.0.20" }),
    reason: "peer-address",
  },
  {
    name: "IPv4 peer address before IPv6",
    winner: path({}, { peerAddress: "192.168.0.1" }),
    loser: path({}, { peerAddress: "fd00::1" }),
    reason: "peer-address",
  },
];

t.test("every step of the decision process decides in its place", async (t) => {
  const covered = new Set(cases.map((c) => c.reason));
  for (const s of DECISION_STEPS)
    if (s.reason !== "source") t.ok(covered.has(s.reason), `a case for ${s.reason}`);
  for (const c of cases) {
    for (const order of [
      [c.winner, c.loser],
      [c.loser, c.winner],
    ]) {
      const s = selectBest(order, c.opts);
      t.equal(s?.best, c.winner, `${c.name}: winner`);
      t.equal(s?.reason, c.reason, `${c.name}: reason`);
    }
  }
});

t.test("a single path wins as the only path; no path, no winner", async (t) => {
  const p = path({});
  t.same(selectBest([p]), { best: p, reason: "only-path", multipath: [p] });
  t.equal(selectBest([]), undefined);
});

t.test("MED is compared within each neighbour AS, whatever the order (RFC 3345)", async (t) => {
  // Pairwise, a beats b (MED), b beats c (router id), c beats a (router id): a cycle. The set decides.
  const a = path({ asPath: seq(1), med: 0 }, { peerAddress: "10.0.0.3", routerId: 3 });
  const b = path({ asPath: seq(1), med: 10 }, { peerAddress: "10.0.0.1", routerId: 1 });
  const c = path({ asPath: seq(2), med: 5 }, { peerAddress: "10.0.0.2", routerId: 2 });
  const winners = new Set(
    [
      [a, b, c],
      [a, c, b],
      [b, a, c],
      [b, c, a],
      [c, a, b],
      [c, b, a],
    ].map((o) => selectBest(o)?.best),
  );
  t.same([...winners], [c]);
});

t.test("multipath: paths tied up to the IGP cost share forwarding; our own route never does", async (t) => {
  const a = path({ asPath: seq(65002) }, { ebgp: true, peerAddress: "10.0.0.2", routerId: 2 });
  const b = path({ asPath: seq(65003) }, { ebgp: true, peerAddress: "10.0.0.3", routerId: 3 });
  const longer = path({ asPath: seq(65004, 1) }, { ebgp: true, peerAddress: "10.0.0.1", routerId: 1 });
  const s = selectBest([b, longer, a]);
  t.equal(s?.best, a);
  t.same(s?.multipath, [a, b]);
  const own = path({}, { local: true, peerAddress: "", routerId: 0 });
  t.same(selectBest([own, a])?.multipath, [own]);
});

const arbPath = fc
  .record({
    localPref: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    len: fc.integer({ min: 0, max: 3 }),
    firstAs: fc.integer({ min: 1, max: 3 }),
    origin: fc.constantFrom(Origin.IGP, Origin.EGP, Origin.INCOMPLETE),
    med: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    ebgp: fc.boolean(),
    igpCost: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
    routerId: fc.integer({ min: 1, max: 4 }),
    clusters: fc.integer({ min: 0, max: 2 }),
    peer: fc.integer({ min: 1, max: 250 }),
  })
  .map((r) =>
    path(
      {
        ...(r.localPref !== undefined ? { localPref: r.localPref } : {}),
        asPath: r.len === 0 ? [] : seq(r.firstAs, ...Array<number>(r.len - 1).fill(9)),
        origin: r.origin,
        ...(r.med !== undefined ? { med: r.med } : {}),
        clusterList: Array<string>(r.clusters).fill("1.1.1.1"),
      },
      { ebgp: r.ebgp, routerId: r.routerId, peerAddress: `10.0.0.${r.peer}` },
      r.igpCost !== undefined ? { igpCost: r.igpCost } : {},
    ),
  );

t.test("properties: antisymmetric always; a total order with always-compare-med", async (t) => {
  fc.assert(
    fc.property(arbPath, arbPath, (a, b) => Math.sign(comparePaths(a, b)) === -Math.sign(comparePaths(b, a))),
  );
  const o = { alwaysCompareMed: true };
  fc.assert(
    fc.property(arbPath, arbPath, arbPath, (a, b, c) => {
      // Transitivity: a < b and b < c imply a < c.
      if (comparePaths(a, b, o) < 0 && comparePaths(b, c, o) < 0) return comparePaths(a, c, o) < 0;
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

t.test("properties: the winner does not depend on the order paths arrive in", async (t) => {
  fc.assert(
    fc.property(fc.array(arbPath, { minLength: 1, maxLength: 6 }), fc.boolean(), (paths, acm) => {
      const o = { alwaysCompareMed: acm };
      const forward = selectBest(paths, o)?.best;
      const backward = selectBest([...paths].reverse(), o)?.best;
      return forward === backward;
    }),
  );
  t.pass();
});

t.test("loop detection: own AS, ORIGINATOR_ID, CLUSTER_LIST", async (t) => {
  const ctx = { localAs: 65001, routerId: "10.0.0.1", clusterId: "1.1.1.1" };
  t.equal(loopReason({ asPath: seq(65002, 65001) }, ctx), "own-as");
  t.equal(loopReason({ asPath: [{ type: AsSegmentType.AS_SET, asns: [65001] }] }, ctx), "own-as");
  t.equal(loopReason({ originatorId: "10.0.0.1" }, ctx), "originator-id");
  t.equal(loopReason({ clusterList: ["2.2.2.2", "1.1.1.1"] }, ctx), "cluster-list");
  t.equal(loopReason({ clusterList: ["1.1.1.1"] }, { localAs: 65001, routerId: "10.0.0.1" }), undefined);
  t.equal(
    loopReason({ asPath: seq(65002), originatorId: "10.0.0.2", clusterList: ["2.2.2.2"] }, ctx),
    undefined,
  );
});
