import t from "tap";
import { applyNft, listTortie, type Runner } from "../../policy/nft/apply.js";
import { renderDiff, renderFull } from "../../policy/nft/render.js";
import { Kit } from "../kit/kit.js";
import { fixtureIR } from "./samples/ir.js";

t.test("nft loads the full transaction, over itself, and a diff lands on the same table", async (t) => {
  const kit = Kit.create(t);
  const ns = await kit.netns("nftload");
  const fresh = await kit.netns("nftfresh");
  const run: Runner = (cmd, args, opts) => ns.exec(cmd, args, opts ?? {});
  const runFresh: Runner = (cmd, args, opts) => fresh.exec(cmd, args, opts ?? {});
  // A table someone else owns must survive everything tortie does.
  await ns.exec("nft", ["add table inet other; add chain inet other c; add rule inet other c counter"]);
  const text = (r: Runner): Promise<string> => r("nft", ["list", "table", "inet", "tortie"]);

  await applyNft(run, renderFull(fixtureIR("a")));
  const first = await text(run);
  await applyNft(run, renderFull(fixtureIR("a")));
  t.equal(await text(run), first, "loading over its own output gives the same table");

  await applyNft(run, renderDiff(fixtureIR("a"), fixtureIR("b")));
  await applyNft(runFresh, renderFull(fixtureIR("b")));
  t.equal(await text(run), await text(runFresh), "diff a→b gives what a full b gives");

  await applyNft(run, renderFull(fixtureIR("a")));
  t.equal(await text(run), first, "a full transaction resets a diffed table");
  t.match(
    await ns.exec("nft", ["list", "table", "inet", "other"]),
    /counter/,
    "the foreign table is untouched",
  );

  // No SCTP in this kernel, so prove SCTP rules by what the kernel holds.
  const objs = (await listTortie(run)) ?? [];
  const sctp = objs.find(
    (o) => (o as { rule?: { comment?: string } }).rule?.comment === "tpe-00000000000000b2:2.0",
  ) as { rule: { expr: unknown[] } } | undefined;
  t.ok(sctp, "the SCTP rule is in the kernel");
  t.match(
    JSON.stringify(sctp?.rule.expr),
    /"protocol":"sctp","field":"dport"/,
    "matches the SCTP destination port",
  );
  t.match(JSON.stringify(sctp?.rule.expr), /"range":\[9000,9100\]/, "over the endPort range");
});
