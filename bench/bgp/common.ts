/** What the BGP benchmarks share: flags, /proc readings, running each contender in turn. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import type { BgpConfig } from "../../bgp/config.js";
import { queryControl, type StatusView } from "../../bgp/session/control.js";
import type { Netns } from "../../core/netns.js";
import type { Daemon, Kit } from "../../test/kit/kit.js";
import { waitFor } from "../../test/kit/wait.js";

/** `--name value` from the command line, or `def`. */
export function arg(name: string, def: string): string {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? def) : def;
}

/** Peak RSS (VmHWM) of a live process, in bytes. */
export function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Measures each contender named in `only`, one after the other (never side by side
 * on the shared cores), printing each result as a JSON line as it comes.
 */
export async function measureEach<M, R>(
  only: readonly string[],
  makers: Readonly<Record<string, M>>,
  measure: (kind: string, make: M) => Promise<R>,
): Promise<R[]> {
  const results: R[] = [];
  for (const k of only) {
    const make = makers[k];
    if (!make) throw new Error(`unknown contender ${k}: one of ${Object.keys(makers).join(", ")}`);
    const r = await measure(k, make);
    results.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
  return results;
}

/** utime + stime of a live process, in seconds (USER_HZ is 100 on Linux). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
}

const MAIN = fileURLToPath(new URL("../../cli/main.js", import.meta.url));

/** `tortie bgp run` with `config` in `ns`, once its control socket answers. */
export async function startTortieBgp(
  kit: Kit,
  ns: Netns,
  config: BgpConfig,
  name: string,
  nodeFlags: readonly string[] = [],
): Promise<{ daemon: Daemon; control: string; status: () => Promise<StatusView> }> {
  const dir = kit.dir(name);
  const cfg = join(dir, "bgp.yaml");
  const control = join(dir, "bgp.sock");
  writeFileSync(cfg, stringify(config));
  const daemon = kit.spawn(
    ns,
    process.execPath,
    [...nodeFlags, MAIN, "--log-level", "warn", "bgp", "run", "--config", cfg, "--control", control],
    { name },
  );
  const status = () => queryControl<StatusView>(control, "status");
  await waitFor(`${name} control socket`, () => status(), { timeoutMs: 30_000 });
  return { daemon, control, status };
}
