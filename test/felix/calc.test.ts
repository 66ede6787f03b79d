import fc from "fast-check";
import t from "tap";
import { hostIfName } from "../../core/ifname.js";
import type { StoredObject } from "../../datastore/types.js";
import { ClusterCache, WATCHED_KINDS, type WatchedKind } from "../../felix/calc/cache.js";
import { computeDesired, learnedRoutes, parseDuration, type Desired } from "../../felix/calc/desired.js";
import { Calculation } from "../../felix/calc/incremental.js";
import { speakerConfig } from "../../felix/bgp.js";

type Ev = { kind: WatchedKind; obj: StoredObject };

const node = (name: string, ann: Record<string, string>, labels: Record<string, string> = {}): Ev => ({
  kind: "Node",
  obj: { apiVersion: "v1", kind: "Node", metadata: { name, annotations: ann, labels } },
});
const ours = (kind: WatchedKind, name: string, spec: unknown, namespace?: string): Ev => ({
  kind,
  obj: {
    apiVersion: "tortie.io/v1",
    kind,
    metadata: { name, ...(namespace !== undefined ? { namespace } : {}) },
    spec,
  },
});
const pod = (ns: string, name: string, nodeName: string, ips: string[]): Ev => ({
  kind: "Pod",
  obj: {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: ns, labels: { app: name } },
    spec: { nodeName, containers: [{ name: "c" }] },
    status: ips.length ? { podIPs: ips.map((ip) => ({ ip })) } : {},
  },
});

/** A small cluster: three nodes, a NAT pool and a plain one, blocks, pods, peers. */
const FINAL: Ev[] = [
  node("n1", { "tortie.io/ipv4-address": "10.0.0.1/24" }, { rack: "a" }),
  node("n2", { "tortie.io/ipv4-address": "10.0.0.2/24", "tortie.io/as-number": "64600" }, { rack: "b" }),
  node("n3", { "tortie.io/ipv4-address": "10.0.0.3/24", "tortie.io/route-reflector-cluster-id": "1.1.1.1" }),
  ours("BGPConfiguration", "default", { asNumber: 64513 }),
  ours("BGPPeer", "tor", { nodeSelector: "rack == 'a'", peerIP: "192.0.2.254:1179", asNumber: 65000 }),
  ours("BGPPeer", "global", { peerIP: "192.0.2.253", asNumber: 65001 }),
  ours("BGPPeer", "other-node", { node: "n2", peerIP: "192.0.2.252", asNumber: 65002 }),
  ours("BGPPeer", "signed", {
    node: "n3",
    peerIP: "192.0.2.249",
    asNumber: 65003,
    password: { secretKeyRef: { name: "bgp", key: "n3" } },
  }),
  {
    kind: "Secret",
    obj: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "bgp", namespace: "kube-system" },
      stringData: { n3: "k" },
    },
  },
  ours("IPPool", "nat", { cidr: "10.244.0.0/16", natOutgoing: true }),
  ours("IPPool", "plain", { cidr: "10.250.0.0/16" }),
  ours("IPPool", "v6", { cidr: "fd00::/64", natOutgoing: true }),
  ours("BlockAffinity", "n1-a", { state: "confirmed", node: "n1", cidr: "10.244.1.0/26", time: 1 }),
  ours("BlockAffinity", "n1-b", { state: "pending", node: "n1", cidr: "10.244.1.64/26", time: 1 }),
  ours("IPAMBlock", "b2", { cidr: "10.250.0.0/26", affinity: "host:n1", allocations: [], unallocated: [] }),
  ours("IPAMBlock", "b3", { cidr: "10.244.2.0/26", affinity: "host:n2", allocations: [], unallocated: [] }),
  pod("default", "a", "n1", ["10.244.1.2"]),
  pod("default", "b", "n2", ["10.244.2.2"]),
  pod("prod", "c", "n1", []),
  // IPAM borrowed this one from n2's block (no strictAffinity): n1 advertises it as a /32.
  pod("default", "d", "n1", ["10.244.2.9"]),
  ours(
    "WorkloadEndpoint",
    "n1-c",
    { node: "n1", pod: "c", interfaceName: hostIfName("prod", "c"), ipNetworks: ["10.244.1.3/32"] },
    "prod",
  ),
];

function build(events: readonly { ev: Ev; type: "ADDED" | "DELETED" }[]): ClusterCache {
  const c = new ClusterCache();
  for (const { ev, type } of events) c.apply(ev.kind, type, ev.obj);
  return c;
}

t.test("the desired state of a node", async (t) => {
  const cache = build(FINAL.map((ev) => ({ ev, type: "ADDED" })));
  const d = computeDesired(cache, { name: "n1", ip: "10.0.0.1/24" });
  t.same(
    d.localEndpoints.map((e) => [e.namespace, e.pod, e.ifName, e.ips]),
    [
      ["default", "a", hostIfName("default", "a"), ["10.244.1.2"]],
      ["default", "d", hostIfName("default", "d"), ["10.244.2.9"]],
      ["prod", "c", hostIfName("prod", "c"), ["10.244.1.3"]],
    ],
    "a pod scheduled here with an IP, and a WorkloadEndpoint whose pod has no IP yet",
  );
  t.same(
    d.affineBlocks,
    ["10.244.1.0/26", "10.250.0.0/26"],
    "confirmed affinities and IPAMBlocks; not pending",
  );
  t.same(d.routes, [
    { dst: "10.244.1.0/26", type: "blackhole" },
    { dst: "10.244.1.2/32", nexthops: [{ dev: hostIfName("default", "a") }] },
    { dst: "10.244.1.3/32", nexthops: [{ dev: hostIfName("prod", "c") }] },
    { dst: "10.244.2.9/32", nexthops: [{ dev: hostIfName("default", "d") }] },
    { dst: "10.250.0.0/26", type: "blackhole" },
  ]);
  t.same(d.masquerade, {
    pools: { v4: ["10.244.0.0/16", "10.250.0.0/16"], v6: ["fd00::/64"] },
    natPools: { v4: ["10.244.0.0/16"], v6: ["fd00::/64"] },
  });
  t.same(d.bgp, {
    routerId: "10.0.0.1",
    asn: 64513,
    listenPort: 179,
    routeReflectorClusterId: undefined,
    peers: [
      { address: "10.0.0.2", port: 179, asn: 64600, source: "mesh", routeReflectorClient: false },
      { address: "10.0.0.3", port: 179, asn: 64513, source: "mesh", routeReflectorClient: false },
      {
        address: "192.0.2.253",
        port: 179,
        asn: 65001,
        source: "BGPPeer global",
        routeReflectorClient: false,
      },
      { address: "192.0.2.254", port: 1179, asn: 65000, source: "BGPPeer tor", routeReflectorClient: false },
    ],
    originate: ["10.244.1.0/26", "10.250.0.0/26", "10.244.2.9/32"],
    filters: [],
    pools: ["10.244.0.0/16", "10.250.0.0/16", "fd00::/64"],
    serviceClusterIPs: [],
    serviceExternalIPs: [],
    serviceLoadBalancerIPs: [],
    restartTime: 120,
  });
  t.same(d.problems, []);

  const rr = computeDesired(cache, { name: "n3", ip: "10.0.0.3/24" });
  t.equal(rr.bgp?.routeReflectorClusterId, "1.1.1.1");
  t.same(
    rr.bgp?.peers.filter((p) => p.source === "mesh").map((p) => [p.address, p.routeReflectorClient]),
    [
      ["10.0.0.1", true],
      ["10.0.0.2", false],
    ],
    "a route reflector's mesh peers in its AS that are not reflectors are its clients",
  );
  if (!rr.bgp) throw new Error("a node with an address has a BGP config");
  const parsed = speakerConfig(rr.bgp);
  t.equal(parsed.config.clusterId, "1.1.1.1", "the speaker config carries the cluster id");
  t.same(
    parsed.config.peers.filter((p) => p.routeReflectorClient).map((p) => p.address),
    ["10.0.0.1"],
  );
  t.same(parsed.config.gracefulRestart, { restartTime: 120 });
  const n2 = computeDesired(cache, { name: "n2", ip: "10.0.0.2/24" });
  t.same(
    n2.bgp?.peers.map((p) => p.address),
    ["10.0.0.1", "10.0.0.3", "192.0.2.252", "192.0.2.253"],
    "node-named peer, global peer; not the rack-a peer",
  );
  t.equal(n2.bgp?.asn, 64600, "the node's own AS number annotation wins");
});

t.test("mesh off, peer selectors, bad input named", async (t) => {
  const cache = build(
    [
      ...FINAL.filter((e) => e.kind !== "BGPConfiguration" && e.kind !== "BGPPeer"),
      ours("BGPConfiguration", "default", { nodeToNodeMeshEnabled: false }),
      ours("BGPPeer", "to-rr", { peerSelector: "has(rr)" }),
      ours("BGPPeer", "broken", { peerIP: "not-an-ip" }),
      ours("BGPPeer", "bad-sel", { nodeSelector: "rack ==", peerIP: "192.0.2.1" }),
      node("n3", { "tortie.io/ipv4-address": "10.0.0.3/24" }, { rr: "yes" }),
      node("n2", { "tortie.io/ipv4-address": "10.0.0.2/24", "tortie.io/as-number": "x" }),
    ].map((ev) => ({ ev, type: "ADDED" as const })),
  );
  const d = computeDesired(cache, { name: "n1", ip: "10.0.0.1/24" });
  t.same(
    d.bgp?.peers.map((p) => [p.address, p.asn, p.source]),
    [["10.0.0.3", 64512, "BGPPeer to-rr"]],
  );
  t.match(d.problems.join("\n"), /BGPPeer broken: spec\.peerIP: "not-an-ip" is not an IP/);
  t.match(d.problems.join("\n"), /BGPPeer bad-sel: spec\.nodeSelector/);
  t.equal(computeDesired(cache, { name: "n1", ip: undefined }).bgp, undefined, "no address, no BGP");
  const n2 = computeDesired(cache, { name: "n2", ip: "10.0.0.2/24" });
  t.match(n2.problems.join("\n"), /Node n2: metadata\.annotations\.tortie\.io\/as-number: "x"/);
});

const secret = (ns: string, name: string, data: Record<string, string>, plain = false): Ev => ({
  kind: "Secret",
  obj: {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: ns },
    ...(plain
      ? { stringData: data }
      : {
          data: Object.fromEntries(
            Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]),
          ),
        }),
  },
});

t.test(
  "BGP passwords come from Secrets in the agent's namespace; a missing one holds the peering",
  async (t) => {
    const ref = (name: string, key: string) => ({ secretKeyRef: { name, key } });
    const base = FINAL.filter((e) => e.kind !== "BGPConfiguration" && e.kind !== "BGPPeer");
    const events = (extra: Ev[]) =>
      build(
        [
          ...base,
          ours("BGPConfiguration", "default", { asNumber: 64513, nodeMeshPassword: ref("bgp-mesh", "pw") }),
          ours("BGPPeer", "tor", { peerIP: "192.0.2.254", asNumber: 65000, password: ref("bgp-tor", "tor") }),
          ours("BGPPeer", "plain", { peerIP: "192.0.2.250", asNumber: 65000 }),
          ours("BGPPeer", "long", {
            peerIP: "192.0.2.251",
            asNumber: 65000,
            password: ref("bgp-tor", "long"),
          }),
          ...extra,
        ].map((ev) => ({ ev, type: "ADDED" as const })),
      );
    const self = { name: "n1", ip: "10.0.0.1/24", secretsNamespace: "tortie" };
    const pw = (d: Desired) =>
      Object.fromEntries((d.bgp?.peers ?? []).map((p) => [p.address, p.password ?? null]));

    const none = computeDesired(events([]), self);
    t.same(
      pw(none),
      { "192.0.2.250": null },
      "no Secret yet: only the unsigned peer; neither the mesh nor tor",
    );
    t.match(
      none.problems.join("\n"),
      /BGPConfiguration default: spec\.nodeMeshPassword\.secretKeyRef: no Secret tortie\/bgp-mesh/,
    );
    t.match(none.problems.join("\n"), /BGPPeer tor: spec\.password\.secretKeyRef: no Secret tortie\/bgp-tor/);

    const elsewhere = computeDesired(
      events([secret("default", "bgp-mesh", { pw: "x" }), secret("default", "bgp-tor", { tor: "y" })]),
      self,
    );
    t.same(pw(elsewhere), { "192.0.2.250": null }, "Secrets in another namespace are not read");

    const all = computeDesired(
      events([
        secret("tortie", "bgp-mesh", { pw: "mesh-key" }),
        secret("tortie", "bgp-tor", { tor: "tor key ü", long: "x".repeat(81) }, true),
      ]),
      self,
    );
    t.same(
      pw(all),
      {
        "10.0.0.2": "mesh-key",
        "10.0.0.3": "mesh-key",
        "192.0.2.250": null,
        "192.0.2.254": "tor key ü",
      },
      "data is base64-decoded, stringData taken as it is; the mesh uses nodeMeshPassword",
    );
    t.match(
      all.problems.join("\n"),
      /BGPPeer long: spec\.password\.secretKeyRef: the password in tortie\/bgp-tor is 81 bytes \(1 to 80\)/,
    );
    const wrongKey = computeDesired(events([secret("tortie", "bgp-mesh", { other: "k" })]), self);
    t.match(wrongKey.problems.join("\n"), /Secret tortie\/bgp-mesh has no key "pw"/);
    const speaker = speakerConfig(all.bgp!);
    t.equal(
      speaker.config.peers.find((p) => p.address === "192.0.2.254")?.password,
      "tor key ü",
      "the key reaches the speaker's peer config",
    );
    t.equal(
      computeDesired(events([]), { name: "n1", ip: "10.0.0.1/24" }).problems.some((p) =>
        p.includes("kube-system/bgp-mesh"),
      ),
      true,
      "kube-system when no namespace is given",
    );
  },
);

t.test("learned routes never override our own blocks or pods", async (t) => {
  const learned = new Map<string, readonly string[]>([
    ["10.244.2.0/26", ["10.0.0.2"]],
    ["10.244.1.0/26", ["10.0.0.9"]],
    ["10.9.0.0/16", ["10.0.0.2", "10.0.0.3"]],
  ]);
  t.same(learnedRoutes(learned, { routes: [{ dst: "10.244.1.0/26", type: "blackhole" }] }), [
    { dst: "10.244.2.0/26", nexthops: [{ gateway: "10.0.0.2" }] },
    { dst: "10.9.0.0/16", nexthops: [{ gateway: "10.0.0.2" }, { gateway: "10.0.0.3" }] },
  ]);
});

t.test("the result does not depend on the order events arrive in", async (t) => {
  const reference = JSON.stringify(
    ["n1", "n2", "n3"].map((n) =>
      computeDesired(build(FINAL.map((ev) => ({ ev, type: "ADDED" }))), {
        name: n,
        ip: `10.0.0.${n.slice(1)}/24`,
      }),
    ),
  );
  const noise: Ev[] = [
    pod("default", "gone", "n1", ["10.244.1.9"]),
    ours("IPPool", "old", { cidr: "10.99.0.0/16", natOutgoing: true }),
    ours("BlockAffinity", "n1-z", { state: "confirmed", node: "n1", cidr: "10.99.0.0/26", time: 1 }),
    node("n9", { "tortie.io/ipv4-address": "10.0.0.9/24" }),
    // A record of n1's for a pod whose spec names n2: pod b's events then matter to n1 too.
    ours(
      "WorkloadEndpoint",
      "n1-b",
      { node: "n1", pod: "b", interfaceName: hostIfName("default", "b"), ipNetworks: ["10.244.1.7/32"] },
      "default",
    ),
    ours("IPAMBlock", "n1-y", {
      cidr: "10.244.9.0/26",
      affinity: "host:n1",
      allocations: [],
      unallocated: [],
    }),
  ];
  fc.assert(
    fc.property(
      fc.shuffledSubarray(FINAL, { minLength: FINAL.length, maxLength: FINAL.length }),
      fc.array(fc.tuple(fc.constantFrom(...noise), fc.nat(FINAL.length)), { maxLength: 6 }),
      fc.array(fc.nat(FINAL.length - 1), { maxLength: 4 }),
      fc.integer({ min: 1, max: 5 }),
      (order, extra, stale, takeEvery) => {
        // The final objects in any order, with objects that come and go and stale versions of final
        // objects arriving before the final ones.
        const events: { ev: Ev; type: "ADDED" | "DELETED" }[] = order.map((ev) => ({ ev, type: "ADDED" }));
        for (const [ev, at] of extra) events.splice(at, 0, { ev, type: "ADDED" });
        for (const [ev] of extra) events.push({ ev, type: "DELETED" });
        for (const i of stale) {
          const f = FINAL[i];
          if (!f) continue;
          const pos = events.findIndex((e) => e.ev === f);
          events.splice(pos, 0, {
            ev: { kind: f.kind, obj: { ...f.obj, metadata: { ...f.obj.metadata, labels: { stale: "1" } } } },
            type: "ADDED",
          });
        }
        const got = JSON.stringify(
          ["n1", "n2", "n3"].map((n) =>
            computeDesired(build(events), { name: n, ip: `10.0.0.${n.slice(1)}/24` }),
          ),
        );
        if (got !== reference) return false;
        // The incremental calculation, taken after every few events, must equal the full one on the
        // same cache at each point, and in the end the reference.
        const finals = ["n1", "n2", "n3"].map((n) => {
          const self = { name: n, ip: `10.0.0.${n.slice(1)}/24` };
          const calc = new Calculation(self);
          let last: Desired | undefined;
          events.forEach(({ ev, type }, i) => {
            calc.apply(ev.kind, type, ev.obj);
            if ((i + takeEvery) % takeEvery !== 0 && i !== events.length - 1) return;
            last = calc.take().desired;
            const full = JSON.stringify(computeDesired(calc.cache, self));
            if (JSON.stringify(last) !== full)
              throw new Error(`after event ${i}: ${JSON.stringify(last)} != ${full}`);
          });
          return last;
        });
        return JSON.stringify(finals) === reference;
      },
    ),
    { numRuns: 100 },
  );
  t.pass("100 orders give the same desired state, incrementally too");
  t.same(WATCHED_KINDS.length, 21);
});

t.test("BGPFilters, pools, service ranges and peer options reach the speaker config", async (t) => {
  const cache = build(
    [
      ...FINAL.filter((e) => e.kind !== "BGPConfiguration" && e.kind !== "BGPPeer"),
      ours("BGPConfiguration", "default", {
        asNumber: 64513,
        nodeMeshMaxRestartTime: "90s",
        serviceClusterIPs: [{ cidr: "10.96.0.0/12" }],
        serviceExternalIPs: [{ cidr: "192.0.2.0/24" }, { cidr: "not-a-cidr" }],
        serviceLoadBalancerIPs: [{ cidr: "198.51.100.0/24" }],
      }),
      ours("BGPFilter", "tor-in", {
        importV4: [{ action: "Accept", matchOperator: "In", cidr: "203.0.113.0/24" }, { action: "Reject" }],
        exportV4: [{ action: "Accept", matchOperator: "Equal", cidr: "10.244.1.0/26" }],
      }),
      ours("BGPFilter", "v6-only", {
        importV6: [{ action: "Accept", matchOperator: "In", cidr: "fd00::/48" }],
      }),
      ours("BGPFilter", "bad", {
        exportV4: [{ action: "Accept" }, { action: "Accept", matchOperator: "In", cidr: "fd00::/64" }],
      }),
      ours("BGPFilter", "iface", { exportV4: [{ action: "Accept", interface: "eth*" }] }),
      ours("BGPPeer", "tor", {
        node: "n1",
        peerIP: "192.0.2.254",
        asNumber: 65000,
        filters: ["tor-in", "bad", "v6-only", "missing"],
        ttlSecurity: 1,
        maxRestartTime: "5m",
        keepOriginalNextHop: true,
        failureDetectionMode: "BFDIfDirectlyConnected",
      }),
      ours("BGPPeer", "far", {
        peerIP: "192.0.2.250",
        asNumber: 65001,
        ttlSecurity: 255,
        maxRestartTime: "soon",
      }),
      ours("BGPPeer", "explicit", {
        peerIP: "192.0.2.251",
        asNumber: 65001,
        nextHopMode: "Self",
        keepOriginalNextHop: true,
      }),
    ].map((ev) => ({ ev, type: "ADDED" as const })),
  );
  const d = computeDesired(cache, { name: "n1", ip: "10.0.0.1/24" });
  const bgp = d.bgp;
  if (!bgp) throw new Error("no bgp");
  t.same(
    bgp.filters.map((f) => f.name),
    ["tor-in", "v6-only"],
    "the bad filters are left out, the good ones kept",
  );
  t.match(d.problems, [
    /BGPConfiguration default: spec\.serviceExternalIPs\[1\]\.cidr: "not-a-cidr" is not a CIDR/,
    /BGPFilter bad: spec\.exportV4\[1\]\.cidr: fd00::\/64 is not an IPv4 CIDR/,
    /BGPFilter iface: spec\.exportV4\[0\]\.interface: interface matches are not supported/,
    /BGPPeer far: spec\.maxRestartTime: "soon" is not a duration/,
    /BGPPeer far: spec\.ttlSecurity: 255 hops/,
    /BGPPeer tor: spec\.filters\[1\]: no usable BGPFilter named "bad"/,
    /BGPPeer tor: spec\.filters\[3\]: no usable BGPFilter named "missing"/,
  ]);
  t.equal(d.problems.length, 7);
  const parsed = speakerConfig(bgp);
  const peer = (a: string) => parsed.config.peers.find((p) => p.address === a);
  t.same(peer("192.0.2.254")?.filters, ["tor-in", "v6-only"], "the peer selects its filters in order");
  t.equal(peer("192.0.2.254")?.ttlSecurity, 1);
  t.equal(peer("192.0.2.254")?.nextHopMode, "Keep", "keepOriginalNextHop means Keep");
  t.equal(peer("192.0.2.251")?.nextHopMode, "Self", "an explicit nextHopMode wins");
  t.equal(peer("192.0.2.250")?.ttlSecurity, undefined, "a bad ttlSecurity is not passed on");
  t.equal(peer("192.0.2.250")?.filters, undefined);
  t.equal(peer("192.0.2.254")?.bfd, true, "failureDetectionMode BFDIfDirectlyConnected turns BFD on");
  t.equal(peer("192.0.2.250")?.bfd, undefined, "no BFD unless asked for");
  t.same(parsed.config.gracefulRestart, { restartTime: 300 }, "the longest maxRestartTime asked for");
  t.same([...(parsed.filters?.keys() ?? [])], ["tor-in", "v6-only"]);
  t.equal(parsed.filters?.get("tor-in")?.importV4.length, 2);
  t.same(
    parsed.pools?.map((p) => p.prefix.len),
    [16, 16, 64],
    "every pool (v4 and v6) limits import",
  );
  t.same(parsed.config.pools, ["10.244.0.0/16", "10.250.0.0/16", "fd00::/64"]);
  t.same(parsed.config.serviceClusterIPs, [{ cidr: "10.96.0.0/12" }]);
  t.same(parsed.config.serviceExternalIPs, [{ cidr: "192.0.2.0/24" }]);
  t.same(parsed.config.serviceLoadBalancerIPs, [{ cidr: "198.51.100.0/24" }]);
  t.equal(
    parsed.originate.length,
    6,
    "the two affine blocks, the borrowed /32 and the three service ranges are originated",
  );

  const plain = computeDesired(build(FINAL.map((ev) => ({ ev, type: "ADDED" }))), {
    name: "n1",
    ip: "10.0.0.1/24",
  });
  t.equal(plain.bgp?.restartTime, 120, "no maxRestartTime: 120 s");
  t.same(plain.bgp?.filters, []);
});

t.test("Go durations", async (t) => {
  t.equal(parseDuration("120s"), 120);
  t.equal(parseDuration("2m"), 120);
  t.equal(parseDuration("1h30m"), 5400);
  t.equal(parseDuration("1500ms"), 2);
  t.equal(parseDuration("2 m"), undefined);
  t.equal(parseDuration("120"), undefined);
  t.equal(parseDuration(""), undefined);
});
