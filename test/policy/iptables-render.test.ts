import t from "tap";
import {
  iptablesRestoreText,
  matchArgs,
  renderIptables,
  renderIptablesText,
  savedRuleCounters,
} from "../../policy/iptables/render.js";
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

t.test("a rule's count is carried by chain, comment and which line of that comment it is", async (t) => {
  const save = [
    "*filter",
    ":FORWARD ACCEPT [9:900]",
    ":tpi-abc - [0:0]",
    "[4:400] -A FORWARD -j tortie-forward",
    '[1:60] -A someone -m comment --comment "tpr-x:0.0" -j DROP',
    '[2:120] -A tpi-abc -s 10.0.0.1/32 -m comment --comment "tpr-x:0.0" -j MARK --set-xmark 0x100000/0x100000',
    "[3:180] -A tpi-abc -s 10.0.0.2/32 -m comment --comment tpr-x:0.0 -j MARK --set-xmark 0x100000/0x100000",
    "[5:300] -A tpi-abc -m mark --mark 0x100000/0x100000 -j RETURN",
    "[0:0] -A tpi-abc -m comment --comment tpr-x:1.0 -j DROP",
    '[6:360] -A tei-0123 -m comment --comment "tei-0123:default" -j DROP',
    "COMMIT",
  ].join("\n");
  const counters = savedRuleCounters(save);
  t.same(
    [...counters],
    [
      ["tpi-abc tpr-x:0.0 0", { packets: 2, bytes: 120 }],
      ["tpi-abc tpr-x:0.0 1", { packets: 3, bytes: 180 }],
      ["tei-0123 tei-0123:default 0", { packets: 6, bytes: 360 }],
    ],
    "quoted or not, one key per line of a comment; foreign chains, plumbing and zero counts left out",
  );
  const chains = new Map([
    [
      "tpi-abc",
      [
        '-A tpi-abc -s 10.0.0.1 -m comment --comment "tpr-x:0.0" -j MARK --set-xmark 0x100000/0x100000',
        '-A tpi-abc -s 10.0.0.2 -m comment --comment "tpr-x:0.0" -j MARK --set-xmark 0x100000/0x100000',
        "-A tpi-abc -m mark --mark 0x100000/0x100000 -j RETURN",
        '-A tpi-abc -m comment --comment "tpr-x:1.0" -j DROP',
      ],
    ],
    ["tei-0123", ['-A tei-0123 -m comment --comment "tei-0123:default" -j DROP']],
  ]);
  const text = iptablesRestoreText(chains, { counters }).split("\n");
  t.same(
    text.filter((l) => l.startsWith("[")),
    [
      '[2:120] -A tpi-abc -s 10.0.0.1 -m comment --comment "tpr-x:0.0" -j MARK --set-xmark 0x100000/0x100000',
      '[3:180] -A tpi-abc -s 10.0.0.2 -m comment --comment "tpr-x:0.0" -j MARK --set-xmark 0x100000/0x100000',
      '[6:360] -A tei-0123 -m comment --comment "tei-0123:default" -j DROP',
    ],
  );
  t.equal(text.length, iptablesRestoreText(chains).split("\n").length, "no line added or lost");
  t.same(
    iptablesRestoreText(chains, { counters: new Map() }),
    iptablesRestoreText(chains),
    "without counts the input is as before",
  );
});
