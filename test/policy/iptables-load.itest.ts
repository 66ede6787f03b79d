import t from "tap";
import type { Runner } from "../../policy/nft/apply.js";
import { applyIptables } from "../../policy/iptables/apply.js";
import { renderIptables } from "../../policy/iptables/render.js";
import { Kit } from "../kit/kit.js";
import { fixtureIR } from "./samples/ir.js";

t.test("iptables-restore and ipset load the bundle, over themselves, and drop what went away", async (t) => {
  const kit = Kit.create(t);
  const ns = await kit.netns("iptload");
  const run: Runner = (cmd, args, opts) => ns.exec(cmd, args, opts ?? {});
  await ns.exec("iptables", ["-N", "someone-else"]);
  await ns.exec("iptables", ["-A", "FORWARD", "-j", "someone-else"]);
  await ns.exec("ipset", ["create", "other", "hash:ip"]);
  const save = async (): Promise<string> =>
    (await ns.exec("iptables-save", ["-t", "filter"])).replace(/^#.*\n/gm, "").replace(/\[\d+:\d+\]/g, "");

  await applyIptables(run, renderIptables(fixtureIR("a")));
  const first = await save();
  await applyIptables(run, renderIptables(fixtureIR("a")));
  t.equal(await save(), first, "applying again changes nothing");
  t.equal(first.match(/-A FORWARD -j tortie-forward/g)?.length, 1, "one hook rule");
  t.match(first, /tei-08041ab898a/);

  await applyIptables(run, renderIptables(fixtureIR("b")));
  const second = await save();
  t.notMatch(second, /08041ab898a/, "the chains of a pod that left are gone");
  t.match(second, /-A FORWARD -j someone-else/, "a foreign chain and its hook stay");
  const sets = await ns.exec("ipset", ["list", "-n"]);
  t.match(sets, /^other$/m, "a foreign ipset stays");
  t.match(await ns.exec("ipset", ["list", "tortie-ts4-00000000000000a1"]), /10\.244\.1\.4/);
  t.notMatch(await ns.exec("ipset", ["list", "tortie-ts4-00000000000000a1"]), /10\.244\.1\.3/);
  t.match(await ns.exec("ip6tables-save", ["-t", "filter"]), /tpe-00000000000000b2:3\.0/);
});

t.test("a reload keeps each counted rule's packet and byte counts", async (t) => {
  const kit = Kit.create(t);
  const ns = await kit.netns("iptcount");
  const run: Runner = (cmd, args, opts) => ns.exec(cmd, args, opts ?? {});
  await applyIptables(run, renderIptables(fixtureIR("a")));
  // Counts as traffic would have left them, written with iptables' own tools: every commented
  // rule of tortie's gets a different count.
  let k = 0;
  const counted = (await ns.exec("iptables-save", ["-c", "-t", "filter"]))
    .split("\n")
    .map((l) => (/^\[0:0\] -A t\S+ .*--comment/.test(l) ? l.replace("[0:0]", `[${++k}:${k * 100}]`) : l))
    .join("\n");
  t.ok(k >= 5, `${k} counted rules`);
  await ns.exec("iptables-restore", ["--counters"], { input: counted });
  const counts = async (): Promise<string[]> =>
    (await ns.exec("iptables-save", ["-c", "-t", "filter"])).split("\n").filter((l) => /--comment/.test(l));
  const before = await counts();
  t.equal(before.filter((l) => !l.startsWith("[0:0]")).length, k, "the kernel holds the counts");
  await applyIptables(run, renderIptables(fixtureIR("a")));
  t.same(await counts(), before, "a resync of the same rules keeps every count");
  // Rules are known by chain and comment (an IR rule's id): one whose match changed between a and b
  // is still the same rule of the same policy and keeps its count, as in the nft backend.
  const key = (l: string): string => {
    const m = /^\[\d+:\d+\] -A (\S+) .*--comment "?([^" ]+)/.exec(l);
    return `${m?.[1]} ${m?.[2]}`;
  };
  const countOf = (l: string): string => /^\[\d+:\d+\]/.exec(l)?.[0] ?? "";
  const was = new Map(before.map((l) => [key(l), countOf(l)]));
  await applyIptables(run, renderIptables(fixtureIR("b")));
  let kept = 0;
  for (const l of await counts()) {
    const c = was.get(key(l));
    if (c !== undefined && c !== "[0:0]") kept++;
    t.equal(countOf(l), c ?? "[0:0]", `${c ? "keeps its count" : "new, from zero"}: ${l}`);
  }
  t.ok(kept >= 3, `${kept} rules of b kept counts from a`);
});
