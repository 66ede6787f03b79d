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
