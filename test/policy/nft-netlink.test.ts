import { readFileSync } from "node:fs";
import t from "tap";
import { NFNL_SUBSYS_NFTABLES, NftMsg } from "../../core/netlink/nft-wire.js";
import { Encoder, Unsupported, transactionOf } from "../../policy/nft/netlink.js";
import { renderDiff, renderFull } from "../../policy/nft/render.js";
import type { NftDocument, NftStatement } from "../../policy/nft/schema.js";
import { fixtureIR } from "./samples/ir.js";
import { snapshotPath } from "./snapshot.js";

/**
 * What nft 1.0.6 itself sends for these rules: `nft -j --debug=mnl -f` of `doc` (rules of the fixture
 * table, one of each shape, plus a negated range and a set of single ports), each message's bytes
 * after the 16-byte header. Two things were taken out of nft's messages, both of which the kernel
 * ignores for what it holds: the set id nft also puts on lookups of named sets (the kernel finds
 * those by name), and the userdata of anonymous sets (nft's hints for listing typeof sets). The
 * integration test (nft-netlink.itest.ts) compares what the kernel holds after both paths.
 */
interface Captured {
  readonly doc: NftDocument;
  readonly messages: readonly { readonly type: number; readonly hex: string }[];
}

const captured = JSON.parse(readFileSync(snapshotPath("nft-netlink-bytes"), "utf8")) as Captured;

t.test("rules, anonymous sets and their elements encode byte for byte as nft sends them", async (t) => {
  // nft numbered the anonymous sets of that batch from 12.
  const reqs = transactionOf(captured.doc, new Encoder(11));
  const inner = reqs.slice(1, -1);
  t.equal(inner.length, captured.messages.length, "as many messages as nft sent");
  inner.forEach((r, i) => {
    const want = captured.messages[i];
    t.equal(r.type, (NFNL_SUBSYS_NFTABLES << 8) | (want?.type ?? -1), `message ${i}: type`);
    t.equal(r.payload.toString("hex"), want?.hex, `message ${i} (type ${want?.type}): bytes`);
  });
});

t.test("a transaction is BEGIN, the messages in the document's order, END", async (t) => {
  const reqs = transactionOf(renderDiff(fixtureIR("a"), fixtureIR("b")));
  t.equal(reqs[0]?.type, 16, "NFNL_MSG_BATCH_BEGIN");
  t.equal(reqs[reqs.length - 1]?.type, 17, "NFNL_MSG_BATCH_END");
  const kinds = reqs.slice(1, -1).map((r) => r.type & 0xff);
  const first = (m: number) => kinds.indexOf(m);
  t.ok(first(NftMsg.DELSETELEM) < first(NftMsg.NEWSETELEM), "element deletes before adds");
  t.ok(first(NftMsg.DELRULE) < first(NftMsg.NEWRULE), "a chain is flushed before it is refilled");
  t.ok(
    kinds.lastIndexOf(NftMsg.DELRULE) < first(NftMsg.DELCHAIN),
    "vanished chains are emptied, then deleted",
  );
  t.same(transactionOf({ nftables: [] }), [], "nothing to do, nothing to send");
});

t.test("what the encoder has no descriptor for is refused, never guessed", async (t) => {
  const rule = (expr: readonly unknown[]): NftDocument => ({
    nftables: [
      {
        add: {
          rule: { family: "inet", table: "tortie", chain: "c", expr: expr as readonly NftStatement[] },
        },
      },
    ],
  });
  const cases: [string, unknown[]][] = [
    ["an unknown statement", [{ queue: { num: 1 } }]],
    ["a log with a level", [{ log: { prefix: "x", level: "warn" } }]],
    ["a counter with values", [{ counter: { packets: 1, bytes: 2 } }]],
    [
      "an unknown payload field",
      [{ match: { op: "==", left: { payload: { protocol: "tcp", field: "flags" } }, right: 2 } }],
    ],
    ["an unknown meta key", [{ match: { op: "==", left: { meta: { key: "skuid" } }, right: 0 } }]],
    [
      "a comparison nft has but we do not",
      [{ match: { op: "<", left: { meta: { key: "mark" } }, right: 3 } }],
    ],
  ];
  for (const [what, expr] of cases) t.throws(() => transactionOf(rule(expr)), Unsupported, what);
  t.throws(
    () => transactionOf(renderFull(fixtureIR("a"))),
    Unsupported,
    "a full transaction (table, base chains, maps) stays with nft",
  );
});

t.test("large element lists split into messages; a batch too large for one sendmsg is refused", async (t) => {
  const elem = Array.from({ length: 1200 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
  const reqs = transactionOf({
    nftables: [
      {
        add: {
          set: {
            family: "inet",
            table: "tortie",
            name: "ts4-big",
            type: "ipv4_addr",
            flags: ["interval"],
            elem,
          },
        },
      },
    ],
  });
  const adds = reqs.filter((r) => (r.type & 0xff) === NftMsg.NEWSETELEM);
  t.equal(adds.length, 5, "2,400 interval elements (start and end) in messages of 500");
  t.ok(
    adds.every((r) => r.payload.length < 0xffff),
    "each element list fits a 16-bit attribute length",
  );
  const huge = Array.from(
    { length: 120000 },
    (_, i) => `fd00::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`,
  );
  t.throws(
    () =>
      transactionOf({
        nftables: [{ add: { element: { family: "inet", table: "tortie", name: "ts6-x", elem: huge } } }],
      }),
    Unsupported,
    "more than the socket's send buffer takes goes through nft instead",
  );
});
