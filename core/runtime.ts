/**
 * The agent's Node runtime, sized to the machine it runs on.
 *
 * V8 does garbage collection and optimising compilation on a pool of worker threads, four by
 * Node's default. On a node with two CPUs, four workers and the event loop oversubscribe them: a
 * parallel scavenge waits for workers that are not running, and the agent's latency tail is those
 * waits (bench/policy, 1,000 policy changes on a 2-CPU machine: p99 5.8 ms with the default pool,
 * 1.3 ms with one worker). The pool size is a command-line option only, so the agent restarts
 * itself with it, in place.
 */
import { availableParallelism } from "node:os";
import { native } from "./native/index.js";

const OPTION = "--v8-pool-size";

/** One worker per CPU beyond the event loop's, at least one, at most Node's default of four. */
export function agentPoolSize(cpus = availableParallelism()): number {
  return Math.max(1, Math.min(4, cpus - 1));
}

/**
 * What this process should be restarted with, or null when nothing is to change: the option is
 * already given (on the command line or in NODE_OPTIONS), or TORTIE_V8_POOL_SIZE is `default`.
 * TORTIE_V8_POOL_SIZE=N chooses N workers.
 */
export function agentRestartArgs(
  proc: {
    readonly execPath: string;
    readonly execArgv: readonly string[];
    readonly argv: readonly string[];
    readonly env: Readonly<Record<string, string | undefined>>;
  } = process,
  cpus = availableParallelism(),
): string[] | null {
  const given = (s: string | undefined): boolean => (s ?? "").split(/\s+/).some((a) => a.startsWith(OPTION));
  if (proc.execArgv.some((a) => a.startsWith(OPTION)) || given(proc.env["NODE_OPTIONS"])) return null;
  const chosen = proc.env["TORTIE_V8_POOL_SIZE"];
  if (chosen === "default") return null;
  let n = agentPoolSize(cpus);
  if (chosen !== undefined && chosen !== "") {
    n = Number(chosen);
    if (!Number.isInteger(n) || n < 0 || n > 64)
      throw new Error(
        `TORTIE_V8_POOL_SIZE: must be "default" or a whole number 0..64, not ${JSON.stringify(chosen)}`,
      );
  }
  return [proc.execPath, `${OPTION}=${n}`, ...proc.execArgv, ...proc.argv.slice(1)];
}

/**
 * Restarts this process (execve: same PID, same descriptors) with the agent's runtime options, or
 * returns when none are needed or the native addon is missing (the agent then runs as it is).
 */
export function execWithAgentRuntime(): void {
  const args = agentRestartArgs();
  if (!args) return;
  let addon;
  try {
    addon = native();
  } catch {
    return;
  }
  const env = Object.entries(process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  addon.execve(process.execPath, args, env);
}
