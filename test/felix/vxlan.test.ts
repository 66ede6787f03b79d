import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { reconcileSysctls, relaxedRpFilter, rpFilterLinks } from "../../felix/dataplane/interfaces.js";
import { ClusterCache } from "../../felix/calc/cache.js";
import {
  ANN_VXLAN_ADDR,
  ANN_VXLAN_MAC,
  borrowedIn,
  computeVxlan,
  vtepMac,
  vxlanInput,
  type VxlanInput,
  type VxlanNode,
  type VxlanPool,
} from "../../felix/calc/vxlan.js";

const pool = (mode: VxlanPool["mode"], extra: Partial<VxlanPool> = {}): VxlanPool => ({
  name: "pods",
  cidr: "10.244.0.0/16",
  mode,
  disabled: false,
  ...extra,
});
const n1: VxlanNode = { name: "n1", address: "10.0.0.1/24", tunnelAddr: "10.244.1.0", mac: vtepMac("n1") };
const sameSubnet: VxlanNode = {
  name: "n2",
  address: "10.0.0.2/24",
  tunnelAddr: "10.244.2.0",
  mac: "0a:00:00:00:00:02",
};
const otherSubnet: VxlanNode = {
  name: "n3",
  address: "10.0.1.3/24",
  tunnelAddr: "10.244.3.0",
  mac: "0a:00:00:00:00:03",
};
const blocks = [
  { cidr: "10.244.1.0/26", node: "n1" },
  { cidr: "10.244.2.0/26", node: "n2" },
  { cidr: "10.244.3.0/26", node: "n3" },
  { cidr: "10.244.3.64/26", node: "n3" },
];
const input = (pools: VxlanPool[], nodes: VxlanNode[] = [n1, sameSubnet, otherSubnet]): VxlanInput => ({
  self: { name: "n1", ip: "10.0.0.1/24" },
  nodes,
  pools,
  blocks,
  underlayMtu: 1500,
});
const tunnel = (via: string) => [{ gateway: via, dev: "vxlan.tortie", onlink: true }];

t.test("vtepMac: stable, unicast, locally administered, one per node", async (t) => {
  t.equal(vtepMac("n1"), vtepMac("n1"));
  t.not(vtepMac("n1"), vtepMac("n2"));
  const first = parseInt(vtepMac("n1").slice(0, 2), 16);
  t.equal(first & 1, 0, "unicast");
  t.equal(first & 2, 2, "locally administered");
  t.match(vtepMac("x"), /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
});

const table: {
  name: string;
  in: VxlanInput;
  device: boolean;
  routes: { dst: string; nexthops: unknown }[];
  neighbours: { ip: string; mac: string }[];
  fdb: { mac: string; dst: string }[];
  problems?: RegExp;
}[] = [
  {
    name: "Never: no device, nothing programmed (BGP routes the pool)",
    in: input([pool("Never")]),
    device: false,
    routes: [],
    neighbours: [],
    fdb: [],
  },
  {
    name: "Always: every remote block over the tunnel, same subnet or not",
    in: input([pool("Always")]),
    device: true,
    routes: [
      { dst: "10.244.2.0/26", nexthops: tunnel("10.244.2.0") },
      { dst: "10.244.3.0/26", nexthops: tunnel("10.244.3.0") },
      { dst: "10.244.3.64/26", nexthops: tunnel("10.244.3.0") },
    ],
    neighbours: [
      { ip: "10.244.2.0", mac: "0a:00:00:00:00:02" },
      { ip: "10.244.3.0", mac: "0a:00:00:00:00:03" },
    ],
    fdb: [
      { mac: "0a:00:00:00:00:02", dst: "10.0.0.2" },
      { mac: "0a:00:00:00:00:03", dst: "10.0.1.3" },
    ],
  },
  {
    name: "CrossSubnet: same subnet routed to the node, other subnet tunnelled",
    in: input([pool("CrossSubnet")]),
    device: true,
    routes: [
      { dst: "10.244.2.0/26", nexthops: [{ gateway: "10.0.0.2" }] },
      { dst: "10.244.3.0/26", nexthops: tunnel("10.244.3.0") },
      { dst: "10.244.3.64/26", nexthops: tunnel("10.244.3.0") },
    ],
    neighbours: [{ ip: "10.244.3.0", mac: "0a:00:00:00:00:03" }],
    fdb: [{ mac: "0a:00:00:00:00:03", dst: "10.0.1.3" }],
  },
  {
    name: "a node without a VTEP yet gets no route (BGP still may route its block)",
    in: input([pool("Always")], [n1, { name: "n2", address: "10.0.0.2/24" }, otherSubnet]),
    device: true,
    routes: [
      { dst: "10.244.3.0/26", nexthops: tunnel("10.244.3.0") },
      { dst: "10.244.3.64/26", nexthops: tunnel("10.244.3.0") },
    ],
    neighbours: [{ ip: "10.244.3.0", mac: "0a:00:00:00:00:03" }],
    fdb: [{ mac: "0a:00:00:00:00:03", dst: "10.0.1.3" }],
  },
  {
    name: "a disabled pool's existing blocks stay tunnelled (disabled only stops new allocations)",
    in: input([pool("Always", { disabled: true })], [n1, otherSubnet]),
    device: true,
    routes: [
      { dst: "10.244.3.0/26", nexthops: tunnel("10.244.3.0") },
      { dst: "10.244.3.64/26", nexthops: tunnel("10.244.3.0") },
    ],
    neighbours: [{ ip: "10.244.3.0", mac: "0a:00:00:00:00:03" }],
    fdb: [{ mac: "0a:00:00:00:00:03", dst: "10.0.1.3" }],
  },
  {
    name: "IPv6 pools are not tunnelled: named as a problem, no device for them alone",
    in: input([{ name: "v6", cidr: "fd00:244::/48", mode: "Always", disabled: false }]),
    device: false,
    routes: [],
    neighbours: [],
    fdb: [],
    problems: /IPPool v6: spec.vxlanMode: Always is not supported for IPv6 pools/,
  },
  {
    name: "blocks outside every VXLAN pool are left to BGP",
    in: input([{ ...pool("Always"), cidr: "10.244.3.0/24" }]),
    device: true,
    routes: [
      { dst: "10.244.3.0/26", nexthops: tunnel("10.244.3.0") },
      { dst: "10.244.3.64/26", nexthops: tunnel("10.244.3.0") },
    ],
    neighbours: [{ ip: "10.244.3.0", mac: "0a:00:00:00:00:03" }],
    fdb: [{ mac: "0a:00:00:00:00:03", dst: "10.0.1.3" }],
  },
  {
    name: "borrowed addresses: a /32 to the borrowing node, also out of our own block; ours stay local",
    in: {
      ...input([pool("Always")], [n1, otherSubnet]),
      borrowed: [
        { addr: "10.244.1.7", node: "n3" },
        { addr: "10.244.3.9", node: "n1" },
        { addr: "10.99.0.1", node: "n3" },
      ],
    },
    device: true,
    routes: [
      { dst: "10.244.1.7/32", nexthops: tunnel("10.244.3.0") },
      { dst: "10.244.3.0/26", nexthops: tunnel("10.244.3.0") },
      { dst: "10.244.3.64/26", nexthops: tunnel("10.244.3.0") },
    ],
    neighbours: [{ ip: "10.244.3.0", mac: "0a:00:00:00:00:03" }],
    fdb: [{ mac: "0a:00:00:00:00:03", dst: "10.0.1.3" }],
  },
  {
    name: "CrossSubnet: a borrowed address on a same-subnet node is routed to it natively",
    in: { ...input([pool("CrossSubnet")], [n1, sameSubnet]), borrowed: [{ addr: "10.244.1.8", node: "n2" }] },
    device: true,
    routes: [
      { dst: "10.244.1.8/32", nexthops: [{ gateway: "10.0.0.2" }] },
      { dst: "10.244.2.0/26", nexthops: [{ gateway: "10.0.0.2" }] },
    ],
    neighbours: [],
    fdb: [],
  },
  {
    name: "bad annotations are named and the node is not tunnelled to",
    in: input(
      [pool("Always")],
      [n1, { ...otherSubnet, mac: "zz" }, { ...sameSubnet, tunnelAddr: "not-an-ip" }],
    ),
    device: true,
    routes: [],
    neighbours: [],
    fdb: [],
    problems: /Node n2: metadata.annotations.tortie.io\/ipv4-vxlan-tunnel-addr: "not-an-ip"/,
  },
];

for (const c of table)
  t.test(c.name, async (t) => {
    const d = computeVxlan(c.in);
    t.equal(d.device !== undefined, c.device, "device wanted");
    t.same(d.routes, c.routes, "routes");
    t.same(d.neighbours, c.neighbours, "neighbours");
    t.same(d.fdb, c.fdb, "fdb");
    if (c.problems) t.match(d.problems.join("\n"), c.problems);
    else t.same(d.problems, []);
  });

t.test("borrowedIn: allocations held by a node other than the owner, by address", async (t) => {
  const allocations: ({ handle: string; node: string } | null)[] = Array.from({ length: 64 }, () => null);
  allocations[0] = { handle: "a", node: "n1" };
  allocations[5] = { handle: "b", node: "n2" };
  allocations[63] = { handle: "c", node: "n3" };
  const block = (affinity: string | null) => ({
    apiVersion: "tortie.io/v1",
    kind: "IPAMBlock",
    metadata: { name: "10-244-1-0-26" },
    spec: { cidr: "10.244.1.0/26", affinity, allocations, unallocated: [] },
  });
  t.same(borrowedIn(block("host:n1")), [
    { addr: "10.244.1.5", node: "n2" },
    { addr: "10.244.1.63", node: "n3" },
  ]);
  t.same(borrowedIn(block(null)).length, 3, "an unclaimed block's addresses are all someone's loan");
  t.same(
    borrowedIn({ ...block("host:n1"), spec: { ...block("host:n1").spec, cidr: "fd00::/122" } }),
    [],
    "IPv6 blocks: no overlay",
  );
});

t.test("the device: Calico's VNI and port, local = node address, MTU 50 below the underlay", async (t) => {
  const d = computeVxlan(input([pool("Always")]));
  t.same(d.device, {
    name: "vxlan.tortie",
    vni: 4096,
    port: 4789,
    local: "10.0.0.1",
    mac: vtepMac("n1"),
    mtu: 1450,
    address: "10.244.1.0",
  });
  t.same(d.tunnelPools, ["pods"]);
  t.equal(
    computeVxlan({ ...input([pool("Always")]), self: { name: "n1", ip: undefined } }).device,
    undefined,
  );
  t.same(
    computeVxlan(input([pool("Always", { disabled: true })])).tunnelPools,
    [],
    "no tunnel address from a disabled pool",
  );
  t.equal(d.tunnelValid, true, "the published tunnel address lies in an enabled VXLAN pool");
  t.equal(
    computeVxlan(input([{ ...pool("Always"), cidr: "10.245.0.0/16" }])).tunnelValid,
    false,
    "a tunnel address outside every VXLAN pool is given up",
  );
  t.equal(computeVxlan(input([pool("Always", { disabled: true })])).tunnelValid, false);
  const noAddr = computeVxlan(input([pool("Always")], [{ name: "n1", address: "10.0.0.1/24" }]));
  t.equal(noAddr.device?.address, undefined, "device before IPAM gave a tunnel address");
});

t.test("vxlanInput reads Nodes' annotations, pools and block owners from the cache", async (t) => {
  const c = new ClusterCache();
  const obj = (kind: string, name: string, spec: unknown, annotations?: Record<string, string>) => ({
    apiVersion: "tortie.io/v1",
    kind,
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec,
  });
  c.apply("Node", "ADDED", {
    ...obj(
      "Node",
      "n3",
      {},
      {
        "tortie.io/ipv4-address": "10.0.1.3/24",
        [ANN_VXLAN_ADDR]: "10.244.3.0",
        [ANN_VXLAN_MAC]: "0A:00:00:00:00:03",
      },
    ),
    apiVersion: "v1",
  });
  c.apply("IPPool", "ADDED", obj("IPPool", "pods", { cidr: "10.244.0.0/16", vxlanMode: "Always" }));
  c.apply(
    "IPAMBlock",
    "ADDED",
    obj("IPAMBlock", "b1", {
      cidr: "10.244.3.0/26",
      affinity: "host:n3",
      allocations: [
        { handle: "h", node: "n3" },
        { handle: "lent", node: "n2" },
      ],
      unallocated: [],
    }),
  );
  c.apply(
    "BlockAffinity",
    "ADDED",
    obj("BlockAffinity", "a1", { cidr: "10.244.3.64/26", node: "n3", state: "confirmed" }),
  );
  c.apply(
    "BlockAffinity",
    "ADDED",
    obj("BlockAffinity", "a2", { cidr: "10.244.4.0/26", node: "n3", state: "pending" }),
  );
  const d = computeVxlan(vxlanInput(c, { name: "n1", ip: "10.0.0.1/24" }, 9000));
  t.equal(d.device?.mtu, 8950);
  t.same(
    d.routes.map((r) => r.dst),
    ["10.244.3.0/26", "10.244.3.64/26"],
    "pending affinities are not routed",
  );
  t.same(d.fdb, [{ mac: "0a:00:00:00:00:03", dst: "10.0.1.3" }], "MAC annotation read case-insensitively");
  t.same(
    vxlanInput(c, { name: "n1", ip: "10.0.0.1/24" }).borrowed,
    [{ addr: "10.244.3.1", node: "n2" }],
    "the block's second address is n2's loan",
  );
});

t.test(
  "rp_filter: tort* and vxlan.tortie made loose (2) only where the effective value is strict",
  async (t) => {
    t.same(rpFilterLinks(["lo", "eth0", "tort0123456789a", "vxlan.tortie", "vxlan.calico"]), [
      "tort0123456789a",
      "vxlan.tortie",
    ]);
    const cases: [string, string, string | undefined][] = [
      ["0", "0", undefined],
      ["0", "1", "2"],
      ["1", "0", "2"],
      ["1", "2", undefined],
      ["2", "1", undefined],
      ["0", "2", undefined],
    ];
    for (const [all, link, want] of cases)
      t.equal(relaxedRpFilter(all, link), want, `all=${all} link=${link}`);
    const root = mkdtempSync(join(tmpdir(), "tortie-sysctl-"));
    t.teardown(() => rmSync(root, { recursive: true, force: true }));
    const put = (path: string, v: string) => {
      mkdirSync(join(root, path, ".."), { recursive: true });
      writeFileSync(join(root, path), v);
    };
    put("ipv4/ip_forward", "1");
    put("ipv4/conf/all/rp_filter", "1");
    for (const l of ["eth0", "vxlan.tortie", "tort0123456789a"]) put(`ipv4/conf/${l}/rp_filter`, "0");
    put("ipv4/conf/tort0123456789a/proxy_arp", "1");
    put("ipv4/neigh/tort0123456789a/proxy_delay", "0");
    const r = reconcileSysctls(false, root);
    t.same([...r.repaired].sort(), [
      "ipv4/conf/tort0123456789a/rp_filter",
      "ipv4/conf/vxlan.tortie/rp_filter",
    ]);
    t.equal(readFileSync(join(root, "ipv4/conf/vxlan.tortie/rp_filter"), "utf8"), "2");
    t.equal(readFileSync(join(root, "ipv4/conf/eth0/rp_filter"), "utf8"), "0", "other links untouched");
    t.equal(readFileSync(join(root, "ipv4/conf/all/rp_filter"), "utf8"), "1", "all untouched");
    t.same(reconcileSysctls(false, root).repaired, [], "nothing to do the second time");
  },
);
