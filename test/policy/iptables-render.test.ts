import t from "tap";
import { matchArgs, renderIptables, renderIptablesText } from "../../policy/iptables/render.js";
import { fixtureIR } from "./samples/ir.js";
import { readSnapshot } from "./snapshot.js";

t.test("iptables bundle for the sample IR matches its snapshot", async (t) => {
  const text = renderIptablesText(fixtureIR("a"));
  t.same(text.split("\n"), readSnapshot("iptables-a", text.split("\n")));
});

t.test("families split: IPv6-only rules stay out of iptables and IPv4-only out of ip6tables", async (t) => {
  const b = renderIptables(fixtureIR("a"));
  t.notOk([...b.v4.values()].flat().some((l) => l.includes("tpe-00000000000000b2:3.0")));
  t.ok([...b.v6.values()].flat().some((l) => l.includes("tpe-00000000000000b2:3.0")));
  t.notOk([...b.v6.values()].flat().some((l) => l.includes("tpi-00000000000000b1:0.0")));
  t.same(
    b.ipsets.find((s) => s.name === "tortie-ts4-00000000000000a2")?.elements,
    ["0.0.0.0/1", "128.0.0.0/1"],
    "hash:net cannot hold a /0",
  );
});

t.test("long port lists: positive lists split into rules, negated ones into ANDed matches", async (t) => {
  const ports = Array.from({ length: 20 }, (_, i) => 1000 + i);
  const base = { id: "r", family: 4 as const };
  const pos = matchArgs(
    { ...base, match: { protocol: { proto: 6, negate: false }, dstPorts: [{ ports, negate: false }] } },
    4,
  );
  t.equal(pos.length, 2);
  t.match(pos[1], /--dports 1015,1016,1017,1018,1019$/);
  const neg = matchArgs(
    { ...base, match: { protocol: { proto: 6, negate: false }, dstPorts: [{ ports, negate: true }] } },
    4,
  );
  t.equal(neg.length, 1);
  t.equal(neg[0]?.match(/! --dports/g)?.length, 2);
});
