import type { Command } from "commander";
import { UserError } from "../core/errors.js";
import { emit, table } from "../cli/output.js";
import { parseAddr } from "./addr.js";
import { Allocator } from "./allocator.js";
import { allocations, checkSnapshot, readSnapshot, usage } from "./check.js";
import { collectGarbage } from "./gc.js";
import { openIpamDatastore } from "./open.js";
import type { IpamDatastore } from "./store.js";

const DEFAULT_DATASTORE = process.env["TORTIE_DATASTORE"] ?? "file:/var/lib/tortie";

interface Common {
  datastore: string;
  json?: boolean;
}

/** Durations as the flags take them: 90s, 15m, 1h, 500ms, or plain milliseconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new UserError(`${flag} ${text}: expected a duration like 30s, 15m or 1h`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "ms") as "ms" | "s" | "m" | "h"];
  return n * unit;
}

async function withStore<T>(url: string, fn: (ds: IpamDatastore) => Promise<T>): Promise<T> {
  const ds = await openIpamDatastore(url);
  try {
    return await fn(ds);
  } finally {
    await ds.close();
  }
}

export function registerIpamCommands(program: Command): void {
  const ipam = program.command("ipam").description("IP pools, per-node blocks and pod addresses");
  const common = (c: Command) =>
    c
      .option("--datastore <url>", "file:DIR, etcd:URL or kubernetes", DEFAULT_DATASTORE)
      .option("--json", "print one JSON document");

  common(ipam.command("show"))
    .description("usage per pool and block; with --json also every allocated address with its handle and pod")
    .action(async (o: Common) => {
      await withStore(o.datastore, async (ds) => {
        const s = await readSnapshot(ds);
        const u = usage(s);
        emit(o.json, { ...u, allocations: allocations(s) }, (d) =>
          [
            table([
              ["POOL", "CIDR", "BLOCKSIZE", "BLOCKS", "USED", "SIZE", "DISABLED"],
              ...d.pools.map((p) => [
                p.pool,
                p.cidr,
                `/${p.blockSize}`,
                `${p.blocks}/${p.blocksTotal}`,
                String(p.used),
                p.size,
                p.disabled ? "yes" : "no",
              ]),
            ]),
            "",
            table([
              ["BLOCK", "POOL", "NODE", "USED"],
              ...d.blocks.map((b) => [b.cidr, b.pool, b.node ?? "-", `${b.used}/${b.size}`]),
            ]),
          ].join("\n"),
        );
      });
    });

  common(ipam.command("check"))
    .description(
      "report every inconsistency (address without handle, handle without pod, block claimed twice, ...); exit 1 if any",
    )
    .option("--grace-period <duration>", "ignore in-flight records younger than this", "60s")
    .action(async (o: Common & { gracePeriod: string }) => {
      const grace = parseDuration(o.gracePeriod, "--grace-period");
      await withStore(o.datastore, async (ds) => {
        const s = await readSnapshot(ds);
        const problems = checkSnapshot(s, Date.now(), grace);
        const notes =
          s.pods === undefined ? ["the datastore holds no Pods: handle-without-pod was not checked"] : [];
        emit(o.json, { problems, notes, blocks: s.blocks.length, handles: s.handles.length }, (d) =>
          [
            ...d.notes.map((n) => `note: ${n}`),
            d.problems.length === 0
              ? `ok: ${d.blocks} blocks, ${d.handles} handles, no inconsistencies`
              : table([
                  ["KIND", "OBJECT", "PROBLEM"],
                  ...d.problems.map((p) => [p.kind, p.object, p.message]),
                ]),
          ].join("\n"),
        );
        if (problems.length > 0) process.exitCode = 1;
      });
    });

  common(ipam.command("release"))
    .description("release an address or every address of a handle")
    .argument("<address-or-handle>", "an IP address, or a handle id (the CNI container id)")
    .action(async (target: string, o: Common) => {
      let isAddress = true;
      try {
        parseAddr(target);
      } catch {
        isAddress = false;
      }
      await withStore(o.datastore, async (ds) => {
        const alloc = new Allocator(ds);
        const released = isAddress
          ? await alloc.releaseAddresses([target])
          : await alloc.releaseHandle(target);
        if (released.length === 0)
          throw new UserError(`${isAddress ? "address" : "handle"} ${target}: nothing allocated`);
        emit(o.json, { released }, (d) => `released ${d.released.join(", ")}`);
      });
    });

  common(ipam.command("gc"))
    .description("release leaked addresses (handles whose pod is gone) and repair debris of dead allocators")
    .option("--grace-period <duration>", "leave records younger than this alone", "15m")
    .action(async (o: Common & { gracePeriod: string }) => {
      const grace = parseDuration(o.gracePeriod, "--grace-period");
      await withStore(o.datastore, async (ds) => {
        const actions = await collectGarbage(new Allocator(ds), grace);
        emit(o.json, { actions }, (d) =>
          d.actions.length === 0
            ? "nothing to collect"
            : table([
                ["ACTION", "OBJECT", "DETAIL"],
                ...d.actions.map((a) => [a.action, a.object, a.detail]),
              ]),
        );
      });
    });
}
