import t from "tap";
import { ValidationError } from "../../core/errors.js";
import { checkPoolsDisjoint, parsePool, selectorMatches } from "../../ipam/pool.js";
import { unclaimedBlocks } from "../../ipam/select.js";

t.test("pool defaults per family and carried dataplane fields", async (t) => {
  const p4 = parsePool("p4", { cidr: "10.0.0.0/16", natOutgoing: true, vxlanMode: "CrossSubnet" });
  t.equal(p4.blockSize, 26);
  t.equal(p4.natOutgoing, true);
  t.equal(p4.vxlanMode, "CrossSubnet");
  t.equal(p4.ipipMode, "Never");
  t.equal(p4.nodeSelector, "all()");
  t.equal(parsePool("p6", { cidr: "fd00::/64" }).blockSize, 122);
});

t.test("bad pools name the object and the field", async (t) => {
  const cases: [unknown, RegExp][] = [
    [{}, /IPPool bad: spec.cidr: is required/],
    [{ cidr: "10.0.0.1/16" }, /spec.cidr: 10.0.0.1\/16 has host bits set \(did you mean 10.0.0.0\/16\?\)/],
    [{ cidr: "10.0.0.0/16", blockSize: 19 }, /spec.blockSize: must be an integer from 20 to 32 for IPv4/],
    [{ cidr: "fd00::/64", blockSize: 64 }, /spec.blockSize: must be an integer from 116 to 128 for IPv6/],
    [{ cidr: "10.0.0.0/27", blockSize: 26 }, /spec.blockSize: \/26 blocks do not fit in 10.0.0.0\/27/],
    [
      { cidr: "10.0.0.0/16", vxlanMode: "Sometimes" },
      /spec.vxlanMode: must be one of Never, Always, CrossSubnet/,
    ],
    [{ cidr: "10.0.0.0/16", nodeSelector: "rack ~ 'x'" }, /spec.nodeSelector: unsupported selector term/],
    [{ cidr: "10.0.0.0/16", disabled: "yes" }, /spec.disabled: must be true or false/],
  ];
  for (const [spec, re] of cases) t.throws(() => parsePool("bad", spec), re);
  t.throws(
    () =>
      checkPoolsDisjoint([
        parsePool("a", { cidr: "10.0.0.0/16" }),
        parsePool("b", { cidr: "10.0.128.0/17" }),
      ]),
    ValidationError,
  );
});

t.test("node selectors", async (t) => {
  const labels = { rack: "r1", zone: "a", gpu: "" };
  t.ok(selectorMatches("all()", labels));
  t.ok(selectorMatches("rack == 'r1' && has(gpu)", labels));
  t.notOk(selectorMatches("rack != 'r1'", labels));
  t.ok(selectorMatches("zone in {'a', 'b'}", labels));
  t.ok(selectorMatches("zone not in {'b'} && !has(ssd)", labels));
  t.notOk(selectorMatches("has(ssd)", labels));
});

t.test("unclaimed blocks start at a per-node offset and skip taken ones, IPv4 and IPv6", async (t) => {
  const p = parsePool("p", { cidr: "10.0.0.0/24", blockSize: 26 });
  const all = unclaimedBlocks(p, new Set(), "node-a", 10);
  t.equal(all.length, 4);
  t.equal(new Set(all.map((c) => c.base)).size, 4);
  const taken = new Set(["10.0.0.0/26", "10.0.0.64/26", "10.0.0.128/26"]);
  t.same(
    unclaimedBlocks(p, taken, "node-b", 10).map((c) => c.base),
    [0x0a0000c0n],
  );
  const v6 = parsePool("v6", { cidr: "fd00::/48" });
  const got = unclaimedBlocks(v6, new Set(), "n", 3);
  t.equal(got.length, 3, "a /48 of /122 blocks is walked lazily");
  t.ok(got.every((c) => c.prefix === 122 && c.family === 6));
});
