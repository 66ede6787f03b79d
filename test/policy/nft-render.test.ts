import t from "tap";
import { renderDiff, renderFull, renderFullText } from "../../policy/nft/render.js";
import { fixtureIR } from "./samples/ir.js";
import { readSnapshot } from "./snapshot.js";

t.test("full transaction for the sample IR matches its snapshot", async (t) => {
  const doc = renderFull(fixtureIR("a"));
  t.same(doc, readSnapshot("nft-full-a", doc));
});

t.test("the full transaction's text, written directly, is the rendered objects' JSON", async (t) => {
  for (const which of ["a", "b"] as const) {
    const ir = fixtureIR(which);
    t.equal(renderFullText(ir), JSON.stringify(renderFull(ir)), `sample IR ${which}`);
  }
});

t.test("diff transaction between two sample IRs matches its snapshot", async (t) => {
  const doc = renderDiff(fixtureIR("a"), fixtureIR("b"));
  t.same(doc, readSnapshot("nft-diff-a-b", doc));
});

t.test("a diff touches only what changed", async (t) => {
  const cmds = renderDiff(fixtureIR("a"), fixtureIR("b")).nftables;
  const verbs = cmds.map((c) => {
    const [verb, obj] = Object.entries(c)[0] as [string, Record<string, { name?: string; chain?: string }>];
    const [kind, body] = Object.entries(obj)[0] as [string, { name?: string; chain?: string }];
    return `${verb} ${kind} ${body.name ?? body.chain ?? ""}`;
  });
  // Set ts4-…a1 lost 10.244.1.3 and gained 10.244.1.4; policy chain b2 changed one action; x/a's egress
  // chain gained a tier before the default one and one after it; pod x/b left.
  t.same(verbs, [
    "delete element ts4-00000000000000a1",
    "add element ts4-00000000000000a1",
    "flush chain tpe-00000000000000b2",
    "add rule tpe-00000000000000b2",
    "add rule tpe-00000000000000b2",
    "add rule tpe-00000000000000b2",
    "add rule tpe-00000000000000b2",
    "flush chain tee-456b416f2bf",
    ...Array<string>(9).fill("add rule tee-456b416f2bf"),
    "delete element from-endpoint",
    "delete element to-endpoint",
    "flush chain tee-08041ab898a",
    "flush chain tei-08041ab898a",
    "delete chain tee-08041ab898a",
    "delete chain tei-08041ab898a",
  ]);
  t.same(renderDiff(fixtureIR("a"), fixtureIR("a")).nftables, [], "no change, empty transaction");
  // Pieces are reused by structure, not identity: a fresh copy of the target diffs the same way.
  t.same(
    renderDiff(fixtureIR("a"), structuredClone(fixtureIR("b"))),
    renderDiff(fixtureIR("a"), fixtureIR("b")),
  );
  const a = fixtureIR("a");
  t.same(renderDiff(a, structuredClone(a)).nftables, [], "an equal copy is no change");
});

t.test("the full transaction replaces the table and keeps rule ids as comments", async (t) => {
  const cmds = renderFull(fixtureIR("a")).nftables;
  t.same(cmds.slice(0, 3), [
    { add: { table: { family: "inet", name: "tortie" } } },
    { delete: { table: { family: "inet", name: "tortie" } } },
    { add: { table: { family: "inet", name: "tortie" } } },
  ]);
  const comments = cmds.flatMap((c) => ("add" in c && "rule" in c.add ? [c.add.rule.comment] : []));
  t.ok(comments.includes("tpi-00000000000000b1:1.0"));
  const tables = new Set(
    cmds.map((c) => {
      const obj = Object.values(c)[0] as Record<string, { table?: string; name?: string }>;
      const body = Object.values(obj)[0] as { table?: string; name?: string };
      return body.table ?? body.name;
    }),
  );
  t.same([...tables], ["tortie"], "nothing outside the tortie table");
});
