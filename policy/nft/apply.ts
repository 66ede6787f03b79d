/**
 * The thin shell around `nft`: feeds a transaction to `nft -j -f -` (one batch, atomic in the
 * kernel) and reads tortie's table back. The runner decides where nft runs (a namespace in tests,
 * the host in the agent).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NftDocument } from "./schema.js";
import { type RuleCounters, TABLE } from "./render.js";

export type Runner = (cmd: string, args: readonly string[], opts?: { input?: string }) => Promise<string>;

/**
 * `doc` may be the transaction's text already (a full load: `renderFullText`).
 *
 * Node gives a child a socket, not a pipe, as stdin, and nft opens `-f -` as /dev/stdin, which a
 * socket cannot be reopened through: the batch goes through a private temporary file instead.
 */
export async function applyNft(run: Runner, doc: NftDocument | string): Promise<void> {
  if (typeof doc !== "string" && doc.nftables.length === 0) return;
  const dir = mkdtempSync(join(tmpdir(), "tortie-nft-"));
  try {
    const file = join(dir, "batch.json");
    writeFileSync(file, typeof doc === "string" ? doc : JSON.stringify(doc), { mode: 0o600 });
    await run("nft", ["-j", "-f", file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `nft -j list table inet tortie`, or null when the table does not exist. */
export async function listTortie(run: Runner): Promise<unknown[] | null> {
  try {
    const out = await run("nft", ["-j", "list", "table", "inet", TABLE]);
    return (JSON.parse(out) as { nftables: unknown[] }).nftables;
  } catch {
    return null;
  }
}

/**
 * The counts of tortie's rules in the kernel, by rule comment (empty when there is no table): what a
 * full load carries over. Packets counted between this read and the load are not.
 */
export async function ruleCounters(run: Runner): Promise<RuleCounters> {
  const out = new Map<string, { packets: number; bytes: number }>();
  for (const o of (await listTortie(run)) ?? []) {
    const rule = (o as { rule?: { comment?: unknown; expr?: unknown } }).rule;
    if (typeof rule?.comment !== "string" || !Array.isArray(rule.expr)) continue;
    for (const st of rule.expr as unknown[]) {
      const c = (st as { counter?: { packets?: unknown; bytes?: unknown } } | null)?.counter;
      if (typeof c?.packets === "number" && typeof c.bytes === "number" && c.packets > 0)
        out.set(rule.comment, { packets: c.packets, bytes: c.bytes });
    }
  }
  return out;
}
