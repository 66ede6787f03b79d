/**
 * Applies an iptables bundle: ipsets first (new sets must exist before rules name them), then one
 * iptables-restore commit per family that rewrites tortie's chains and removes its stale ones, then
 * the stale ipsets (only once no rule refers to them). Chains and sets tortie does not own are
 * never touched. Each commented rule keeps the packet and byte counts the kernel held for it.
 */
import type { Runner } from "../nft/apply.js";
import {
  HOOK_RULE,
  IPSET_PREFIX,
  OWNED_CHAIN,
  iptablesRestoreText,
  ipsetRestoreText,
  savedRuleCounters,
  type IptablesBundle,
} from "./render.js";
import type { RuleCounters } from "../nft/render.js";

async function ownedChains(
  run: Runner,
  save: string,
): Promise<{ chains: string[]; hooked: boolean; counters: RuleCounters }> {
  const out = await run(save, ["-c", "-t", "filter"]);
  const chains = out
    .split("\n")
    .filter((l) => l.startsWith(":"))
    .map((l) => l.slice(1).split(" ")[0] ?? "")
    .filter((n) => OWNED_CHAIN.test(n));
  // `-c` puts each rule's counts in front of it.
  const hooked = out.split("\n").some((l) => l.replace(/^\[\d+:\d+\] /, "") === HOOK_RULE);
  return { chains, hooked, counters: savedRuleCounters(out) };
}

export async function applyIptables(run: Runner, bundle: IptablesBundle): Promise<void> {
  const ipsetText = ipsetRestoreText(bundle.ipsets);
  if (ipsetText) await run("ipset", ["restore", "-!"], { input: ipsetText });
  for (const [chains, save, restore] of [
    [bundle.v4, "iptables-save", "iptables-restore"],
    [bundle.v6, "ip6tables-save", "ip6tables-restore"],
  ] as const) {
    const now = await ownedChains(run, save);
    const stale = now.chains.filter((c) => !chains.has(c));
    // A resync rewrites every chain: each counted rule takes its count over, as in the nft backend.
    const { counters } = now;
    await run(restore, counters.size > 0 ? ["--noflush", "--counters"] : ["--noflush"], {
      input: iptablesRestoreText(chains, { stale, hook: !now.hooked, counters }),
    });
  }
  const wanted = new Set(bundle.ipsets.map((s) => s.name));
  const existing = (await run("ipset", ["list", "-n"])).split("\n").filter((n) => n.startsWith(IPSET_PREFIX));
  for (const name of existing) if (!wanted.has(name)) await run("ipset", ["destroy", name]);
}
