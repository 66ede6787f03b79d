import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { CommandError, run } from "../../core/exec.js";
import { listNetns } from "../../core/netns.js";
import { labDown } from "../../lab/lab.js";
import type { Kit } from "../kit/kit.js";

const CLI = fileURLToPath(new URL("../../cli/main.js", import.meta.url));

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * A lab owned by one test process: its namespaces are named `tortie-<pid>-lab-…`, which the kit's
 * sweeper recognises, and its directory lives in the kit's, so a test killed mid-way leaves nothing
 * the next run does not remove. Commands run through the real CLI, as a person would type them.
 */
export class TestLab {
  readonly prefix: string;
  readonly dir: string;

  constructor(kit: Kit, name = "lab") {
    this.prefix = `${kit.nsName(name)}-`;
    this.dir = kit.dir(name);
  }

  get env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      TORTIE_LAB_DIR: this.dir,
      TORTIE_LAB_PREFIX: this.prefix,
      TORTIE_LOG_LEVEL: "warn",
    };
  }

  async cli(...args: string[]): Promise<CliResult> {
    try {
      const stdout = await run(process.execPath, [CLI, "lab", ...args], {
        env: this.env,
        timeoutMs: 180_000,
      });
      return { code: 0, stdout, stderr: "" };
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      return { code: typeof err.code === "number" ? err.code : 1, stdout: err.stdout, stderr: err.stderr };
    }
  }

  /** Like cli, but fails with everything the command printed when it does not exit 0. */
  async ok(...args: string[]): Promise<string> {
    const r = await this.cli(...args);
    if (r.code !== 0)
      throw new Error(`tortie lab ${args.join(" ")} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
    return r.stdout;
  }

  async json<T>(...args: string[]): Promise<T> {
    return JSON.parse(await this.ok(...args, "--json")) as T;
  }

  /** Starts `tortie lab ARGS` without waiting, for killing it half way. */
  start(...args: string[]): ReturnType<typeof spawn> {
    return spawn(process.execPath, [CLI, "lab", ...args], { env: this.env, stdio: "ignore" });
  }

  namespaces(): string[] {
    return listNetns().filter((n) => n.startsWith(this.prefix));
  }

  /** For teardown: whatever state the test left the lab in. */
  down(): void {
    labDown(this.dir, this.prefix);
  }
}
