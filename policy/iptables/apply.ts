/**
 * Applies an iptables bundle: ipsets first (new sets must exist before rules name them), then one
 * iptables-restore commit per family that rewrites tortie's chains and removes its stale ones, then
 * the stale ipsets (only once no rule refers to them). Chains and sets tortie does not own are
 * never touched.
 */
import type { Runner } from "../nft/apply.js";
import {
  HOOK_RULE,
  IPSET_PREFIX,
  OWNED_CHAIN,
  iptablesRestoreText,
  ipsetRestoreText,
  type IptablesBundle,
} from "./render.js";

async function ownedChains(run: Runner, save: string): Promise<{ chains: string[]; hooked: boolean }> {
  const out = await run(save, ["-t", "filter"]);
  const chains = out
    .split("\n")
    .filter((l) => l.startsWith(":"))
    .map((l) => l.slice(1).split(" ")[0] ?? "")
    .filter((n) => OWNED_CHAIN.test(n));
  return { chains, hooked: out.split("\n").includes(HOOK_RULE) };
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
    await run(restore, ["--noflush"], { input: iptablesRestoreText(chains, { stale, hook: !now.hooked }) });
  }
  const wanted = new Set(bundle.ipsets.map((s) => s.name));
  const existing = (await run("ipset", ["list", "-n"])).split("\n").filter((n) => n.startsWith(IPSET_PREFIX));
  for (const name of existing) if (!wanted.has(name)) await run("ipset", ["destroy", name]);
}
