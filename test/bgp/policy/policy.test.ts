import t from "tap";
import {
  compileFilters,
  evaluate,
  prefixCidr,
  type BgpFilter,
  type FilterRule,
} from "../../../bgp/policy/filter.js";
import {
  exportRoute,
  importRoute,
  type ExportPeer,
  type RouteOrigin,
} from "../../../bgp/policy/route-policy.js";
import { parsePrefix, type PrefixKey } from "../../../bgp/rib/prefix.js";
import { AsSegmentType, Origin, type PathAttributes } from "../../../bgp/wire/index.js";

const key = (s: string): PrefixKey => {
  const p = parsePrefix(s);
  if ("error" in p) throw new Error(p.error);
  return p.key;
};
function compile(filters: BgpFilter[]) {
  const c = compileFilters(filters, "test");
  if (c.problems.length > 0) throw new Error(JSON.stringify(c.problems));
  return [...c.filters.values()];
}
const base: PathAttributes = {
  origin: Origin.IGP,
  asPath: [{ type: AsSegmentType.AS_SEQUENCE, asns: [65002] }],
};

t.test("filter rules: Calico's operators and prefix lengths, and our matches", async (t) => {
  const rows: [string, FilterRule, string, PathAttributes, boolean][] = [
    [
      "Equal hits",
      { action: "Accept", matchOperator: "Equal", cidr: "10.0.0.0/24" },
      "10.0.0.0/24",
      base,
      true,
    ],
    [
      "Equal misses a longer one",
      { action: "Accept", matchOperator: "Equal", cidr: "10.0.0.0/24" },
      "10.0.0.0/25",
      base,
      false,
    ],
    [
      "NotEqual",
      { action: "Accept", matchOperator: "NotEqual", cidr: "10.0.0.0/24" },
      "10.0.1.0/24",
      base,
      true,
    ],
    ["In inside", { action: "Accept", matchOperator: "In", cidr: "10.0.0.0/16" }, "10.0.3.64/26", base, true],
    [
      "In outside",
      { action: "Accept", matchOperator: "In", cidr: "10.0.0.0/16" },
      "10.1.0.0/26",
      base,
      false,
    ],
    [
      "In shorter than cidr",
      { action: "Accept", matchOperator: "In", cidr: "10.0.0.0/16" },
      "10.0.0.0/8",
      base,
      false,
    ],
    [
      "In with max",
      { action: "Accept", matchOperator: "In", cidr: "10.0.0.0/16", prefixLength: { max: 24 } },
      "10.0.3.64/26",
      base,
      false,
    ],
    [
      "In with min",
      { action: "Accept", matchOperator: "In", cidr: "10.0.0.0/16", prefixLength: { min: 26 } },
      "10.0.3.0/24",
      base,
      false,
    ],
    [
      "NotIn",
      { action: "Accept", matchOperator: "NotIn", cidr: "10.0.0.0/16" },
      "192.168.0.0/24",
      base,
      true,
    ],
    ["no cidr matches all", { action: "Accept" }, "1.2.3.0/24", base, true],
    [
      "community present",
      { action: "Accept", communities: ["65000:100"] },
      "1.2.3.0/24",
      { ...base, communities: [65000 * 65536 + 100] },
      true,
    ],
    ["community absent", { action: "Accept", communities: ["65000:100"] }, "1.2.3.0/24", base, false],
    [
      "large community",
      { action: "Accept", largeCommunities: ["65000:1:2"] },
      "1.2.3.0/24",
      { ...base, largeCommunities: [{ globalAdmin: 65000, localData1: 1, localData2: 2 }] },
      true,
    ],
    ["AS path regex", { action: "Accept", asPathRegex: "^65002$" }, "1.2.3.0/24", base, true],
    ["AS path regex misses", { action: "Accept", asPathRegex: "(^| )65009( |$)" }, "1.2.3.0/24", base, false],
    ["peer type", { action: "Accept", peerType: "iBGP" }, "1.2.3.0/24", base, false],
  ];
  for (const [name, rule, prefix, attrs, hit] of rows) {
    const f = compile([{ name: "f", importV4: [rule] }]);
    const v = evaluate(f, "import", {
      prefix: prefixCidr(key(prefix)),
      attributes: attrs,
      local: false,
      peerType: "eBGP",
    });
    t.equal(v !== undefined, hit, name);
  }
});

t.test("bad filters are refused naming the field", async (t) => {
  const p = (f: BgpFilter): string[] =>
    compileFilters([f], "bgp config x").problems.map((x) => `${x.path}: ${x.message}`);
  t.match(p({ name: "f", importV4: [{ action: "Accept", cidr: "fd00::/8" }] }), [
    /importV4\[0\]\.cidr: .*not an IPv4/,
  ]);
  t.match(p({ name: "f", importV4: [{ action: "Accept", communities: ["x"] }] }), [
    /communities\[0\]: .*not a community/,
  ]);
  t.match(p({ name: "f", importV4: [{ action: "Accept", asPathRegex: "(" }] }), [
    /asPathRegex: is not a regular/,
  ]);
  t.match(p({ name: "f", importV4: [{ action: "Reject", localPref: 5 }] }), [
    /action: a Reject rule cannot change/,
  ]);
  t.match(p({ name: "f", importV4: [{ action: "Accept", source: "RemotePeers" }] }), [
    /source: applies to export/,
  ]);
  t.match(
    p({
      name: "f",
      exportV4: [{ action: "Accept", cidr: "10.0.0.0/8", prefixLength: { min: 30, max: 20 } }],
    }),
    [/min is larger than max/],
  );
});

const local: RouteOrigin = { local: true, ebgp: false, rrClient: false, address: "", routerId: "" };
const client1: RouteOrigin = {
  local: false,
  ebgp: false,
  rrClient: true,
  address: "10.0.0.1",
  routerId: "1.1.1.1",
};
const nonClient: RouteOrigin = {
  local: false,
  ebgp: false,
  rrClient: false,
  address: "10.0.0.5",
  routerId: "5.5.5.5",
};
const external: RouteOrigin = {
  local: false,
  ebgp: true,
  rrClient: false,
  address: "10.0.9.1",
  routerId: "9.9.9.9",
};
const peer = (o: Partial<ExportPeer>): ExportPeer => ({
  address: "10.0.0.2",
  asn: 65001,
  ebgp: false,
  rrClient: false,
  nextHopMode: "Auto",
  filters: [],
  ...o,
});
const client2 = peer({ rrClient: true });
const nonClient2 = peer({ address: "10.0.0.6" });
const tor = peer({ address: "10.0.9.9", asn: 65100, ebgp: true });
const rr = { localAs: 65001, routerId: "10.0.0.100", clusterId: "7.7.7.7" };
const node = { localAs: 65001, routerId: "10.0.0.100" };
const k = key("10.244.1.0/26");

t.test("RFC 4271 §9.2 and RFC 4456 §6: who gets a learned route", async (t) => {
  const rows: [string, RouteOrigin, ExportPeer, typeof rr | typeof node, boolean][] = [
    ["own route to iBGP", local, nonClient2, node, true],
    ["own route to eBGP", local, tor, node, true],
    ["full mesh: iBGP-learned never to iBGP", nonClient, nonClient2, node, false],
    ["RR: client's route to another client", client1, client2, rr, true],
    ["RR: client's route to a non-client", client1, nonClient2, rr, true],
    ["RR: non-client's route to a client", nonClient, client2, rr, true],
    ["RR: non-client's route not to a non-client", nonClient, nonClient2, rr, false],
    ["never back to where it came from", client1, peer({ address: "10.0.0.1", rrClient: true }), rr, false],
    ["learned route not to eBGP by default", client1, tor, rr, false],
    ["eBGP-learned not to iBGP by default on a node", external, nonClient2, node, false],
  ];
  for (const [name, from, to, self, sent] of rows)
    t.equal(exportRoute(k, base, from, to, self) !== undefined, sent, name);
});

t.test("reflection sets ORIGINATOR_ID once and prepends the CLUSTER_ID; keeps the next hop", async (t) => {
  const r = exportRoute(k, { origin: Origin.IGP, asPath: [] }, client1, client2, rr);
  t.equal(r?.attributes.originatorId, "1.1.1.1");
  t.same(r?.attributes.clusterList, ["7.7.7.7"]);
  t.equal(r?.keepNextHop, true);
  const again = exportRoute(
    k,
    { asPath: [], originatorId: "3.3.3.3", clusterList: ["8.8.8.8"] },
    client1,
    client2,
    rr,
  );
  t.equal(again?.attributes.originatorId, "3.3.3.3");
  t.same(again?.attributes.clusterList, ["7.7.7.7", "8.8.8.8"]);
  const self = exportRoute(k, { asPath: [] }, client1, peer({ rrClient: true, nextHopMode: "Self" }), rr);
  t.equal(self?.keepNextHop, false, "nextHopMode Self");
});

t.test(
  "export filters: accept a learned route to eBGP with prepend and communities; iBGP attributes stripped",
  async (t) => {
    const filters = compile([
      {
        name: "to-tor",
        exportV4: [
          { action: "Reject", cidr: "10.244.9.0/26", matchOperator: "Equal" },
          {
            action: "Accept",
            source: "RemotePeers",
            cidr: "10.244.0.0/16",
            addCommunities: ["65001:7"],
            addLargeCommunities: ["65001:0:7"],
            prepend: 2,
          },
        ],
      },
    ]);
    const to = peer({ address: "10.0.9.9", asn: 65100, ebgp: true, filters });
    const a: PathAttributes = {
      asPath: [],
      localPref: 300,
      med: 5,
      originatorId: "1.1.1.1",
      clusterList: ["7.7.7.7"],
    };
    const r = exportRoute(k, a, client1, to, rr);
    t.equal(r?.by, "filter to-tor exportV4[1]");
    t.same(r?.attributes.communities, [65001 * 65536 + 7]);
    t.same(r?.attributes.largeCommunities, [{ globalAdmin: 65001, localData1: 0, localData2: 7 }]);
    t.same(r?.attributes.asPath, [{ type: AsSegmentType.AS_SEQUENCE, asns: [65001, 65001] }]);
    t.equal(r?.attributes.localPref, undefined);
    t.equal(r?.attributes.originatorId, undefined);
    t.equal(r?.attributes.clusterList, undefined);
    t.equal(r?.attributes.med, undefined);
    t.equal(r?.keepNextHop, false, "next hop self toward eBGP");
    t.equal(exportRoute(key("10.244.9.0/26"), a, client1, to, rr), undefined, "the Reject rule first");
    t.equal(
      exportRoute(key("10.245.0.0/26"), a, client1, to, rr),
      undefined,
      "no rule: default (learned: no)",
    );
    t.equal(exportRoute(key("10.245.0.0/26"), a, local, to, rr)?.by, "default", "own routes by default");
  },
);

t.test("import defaults protect a cluster; filters can open and change", async (t) => {
  const pools = [{ prefix: prefixCidr(key("10.244.0.0/16")) }];
  const none = { ebgp: false, filters: [] };
  t.ok(importRoute(k, base, none, pools, 65001), "iBGP inside a pool");
  t.notOk(importRoute(key("10.9.0.0/24"), base, none, pools, 65001), "iBGP outside every pool");
  t.notOk(
    importRoute(key("10.9.0.0/24"), base, { ebgp: true, filters: [] }, pools, 65001),
    "eBGP without a filter",
  );
  t.ok(
    importRoute(key("10.9.0.0/24"), base, { ebgp: true, filters: [] }, undefined, 65001),
    "plain speaker: all",
  );
  const filters = compile([
    {
      name: "tor-in",
      importV4: [{ action: "Accept", cidr: "10.9.0.0/16", localPref: 250, addCommunities: ["1:2"] }],
    },
  ]);
  const r = importRoute(key("10.9.0.0/24"), base, { ebgp: true, filters }, pools, 65001);
  t.equal(r?.attributes.localPref, 250);
  t.same(r?.attributes.communities, [65538]);
  const reject = compile([
    { name: "r", importV4: [{ action: "Reject", cidr: "10.244.5.0/26", matchOperator: "Equal" }] },
  ]);
  t.notOk(
    importRoute(key("10.244.5.0/26"), base, { ebgp: false, filters: reject }, pools, 65001),
    "a Reject rule wins over the pool default",
  );
});
