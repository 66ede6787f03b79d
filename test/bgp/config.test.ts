import t from "tap";
import { ValidationError } from "../../core/errors.js";
import { checkConfig } from "../../bgp/config.js";

const good = {
  routerId: "10.0.0.1",
  asn: 65001,
  listen: { address: "0.0.0.0", port: 179 },
  peers: [
    { address: "10.0.0.2", asn: 65002, holdTime: 9, keepalive: 3 },
    { address: "fd00::2", asn: 4200000000, passive: true },
  ],
  originate: ["10.1.0.0/26", "fd00:1::/64"],
};

t.test("a good config parses", async (t) => {
  const p = checkConfig(good);
  t.equal(p.originate.length, 2);
  t.equal(p.config.peers.length, 2);
  t.same(checkConfig({ ...good, originate: undefined }).originate, []);
});

const bad: [string, unknown, RegExp][] = [
  ["routerId missing", { ...good, routerId: undefined }, /^bgp config: routerId: is required$/],
  ["routerId not IPv4", { ...good, routerId: "fd00::1" }, /^bgp config: routerId: must match format "ipv4"$/],
  ["asn zero", { ...good, asn: 0 }, /^bgp config: asn: must be >= 1$/],
  ["asn too big", { ...good, asn: 4294967296 }, /^bgp config: asn: must be <= 4294967295$/],
  [
    "listen port",
    { ...good, listen: { address: "::", port: "x" } },
    /^bgp config: listen\.port: must be integer$/,
  ],
  [
    "listen address",
    { ...good, listen: { address: "nope", port: 1 } },
    /^bgp config: listen\.address: must be an IPv4 or IPv6 address$/,
  ],
  [
    "peer asn",
    { ...good, peers: [{ address: "10.0.0.2", asn: -1 }] },
    /^bgp config: peers\[0\]\.asn: must be >= 1$/,
  ],
  [
    "peer address",
    { ...good, peers: [{ address: "10.0.0.300", asn: 1 }] },
    /^bgp config: peers\[0\]\.address: must be an IPv4 or IPv6 address$/,
  ],
  [
    "hold time 2",
    { ...good, peers: [{ address: "10.0.0.2", asn: 1, holdTime: 2 }] },
    /^bgp config: peers\[0\]\.holdTime: must be 0 or at least 3/,
  ],
  [
    "unknown field",
    { ...good, peers: [{ address: "10.0.0.2", asn: 1, pasive: true }] },
    /^bgp config: peers\[0\]\.pasive: is not a known field$/,
  ],
  [
    "duplicate peer",
    {
      ...good,
      peers: [
        { address: "10.0.0.2", asn: 1 },
        { address: "10.0.0.2", asn: 2 },
      ],
    },
    /^bgp config: peers\[1\]\.address: 10\.0\.0\.2 is listed twice$/,
  ],
  [
    "originate host bits",
    { ...good, originate: ["10.1.0.1/26"] },
    /^bgp config: originate\[0\]: 10\.1\.0\.1\/26 has host bits set/,
  ],
  [
    "originate garbage",
    { ...good, originate: ["10.1.0.0/26", "x"] },
    /^bgp config: originate\[1\]: "x" is not a prefix/,
  ],
  ["not an object", "hello", /^bgp config: \(top level\): must be object$/],
  ["kernel table 255", { ...good, kernel: { table: 255 } }, /^bgp config: kernel\.table: must not be 255/],
  [
    "client without a cluster id",
    { ...good, peers: [{ address: "10.0.0.2", asn: 65001, routeReflectorClient: true }] },
    /^bgp config: peers\[0\]\.routeReflectorClient: needs clusterId/,
  ],
  [
    "eBGP client",
    {
      ...good,
      clusterId: "1.1.1.1",
      peers: [{ address: "10.0.0.2", asn: 65002, routeReflectorClient: true }],
    },
    /^bgp config: peers\[0\]\.routeReflectorClient: a client must be an iBGP peer$/,
  ],
  [
    "unknown filter",
    { ...good, peers: [{ address: "10.0.0.2", asn: 1, filters: ["nope"] }] },
    /^bgp config: peers\[0\]\.filters\[0\]: no filter named nope$/,
  ],
  [
    "bad filter cidr",
    { ...good, filters: [{ name: "f", exportV4: [{ action: "Accept", cidr: "10.0.0.0/33" }] }] },
    /^bgp config: filters\[0\]\.exportV4\[0\]\.cidr: "10\.0\.0\.0\/33" is not a CIDR$/,
  ],
  [
    "bad filter action",
    { ...good, filters: [{ name: "f", importV4: [{ action: "Maybe" }] }] },
    /^bgp config: filters\[0\]\.importV4\[0\]\.action: must be equal to one of the allowed values$/,
  ],
  [
    "bad pool",
    { ...good, pools: ["10.244.0.1/16"] },
    /^bgp config: pools\[0\]: 10\.244\.0\.1\/16 has host bits set/,
  ],
  [
    "bad service range",
    { ...good, serviceClusterIPs: [{ cidr: "banana" }] },
    /^bgp config: serviceClusterIPs\[0\]\.cidr: "banana" is not a prefix/,
  ],
  [
    "ttlSecurity 0",
    { ...good, peers: [{ address: "10.0.0.2", asn: 1, ttlSecurity: 0 }] },
    /ttlSecurity: must be >= 1/,
  ],
];

t.test("routing additions parse: service ranges are originated, pools and filters compiled", async (t) => {
  const p = checkConfig({
    ...good,
    clusterId: "1.1.1.1",
    multipath: true,
    kernel: { table: 100, protocol: 201 },
    gracefulRestart: { restartTime: 60 },
    pools: ["10.244.0.0/16"],
    serviceClusterIPs: [{ cidr: "10.96.0.0/12" }],
    serviceExternalIPs: [{ cidr: "192.0.2.0/24" }],
    serviceLoadBalancerIPs: [{ cidr: "198.51.100.0/24" }],
    filters: [{ name: "f", importV4: [{ action: "Accept", cidr: "10.0.0.0/8", prefixLength: { max: 26 } }] }],
    peers: [{ address: "10.0.0.2", asn: 65001, routeReflectorClient: true, filters: ["f"], password: "x" }],
  });
  t.equal(p.originate.length, 5);
  t.equal(p.pools?.length, 1);
  t.ok(p.filters?.get("f"));
  t.equal(checkConfig(good).pools, undefined, "no pools: a plain speaker's import defaults");
});

t.test("bad configs: one line naming the field", async (t) => {
  for (const [name, doc, re] of bad) {
    try {
      checkConfig(doc);
      t.fail(`${name}: accepted`);
    } catch (err) {
      t.ok(err instanceof ValidationError, name);
      const msg = (err as Error).message;
      t.match(msg, re, name);
      t.notOk(msg.includes("\n"), `${name}: one line`);
    }
  }
});
