import { execFile, execFileSync, type ExecFileOptions } from "node:child_process";

export class CommandError extends Error {
  constructor(
    readonly command: readonly string[],
    readonly code: number | string | null,
    readonly stderr: string,
    readonly stdout: string,
  ) {
    super(`${command.join(" ")} failed (${code ?? "signal"}): ${stderr.trim() || stdout.trim()}`);
    this.name = "CommandError";
  }
}

export interface RunOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Runs a program (never through a shell) and resolves with its stdout; rejects with a CommandError. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const eo: ExecFileOptions = {
      maxBuffer: 256 * 1024 * 1024,
      timeout: opts.timeoutMs ?? 60_000,
      encoding: "utf8",
    };
    if (opts.env) eo.env = opts.env;
    if (opts.cwd) eo.cwd = opts.cwd;
    const child = execFile(cmd, args as string[], eo, (err, stdout, stderr) => {
      const out = String(stdout);
      if (err) {
        const code = (err as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
        reject(new CommandError([cmd, ...args], code, String(stderr), out));
      } else resolve(out);
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Synchronous variant for signal handlers and exit hooks, where nothing async can run. */
export function runSync(
  cmd: string,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number } = {},
): string {
  try {
    return execFileSync(cmd, args as string[], {
      encoding: "utf8",
      stdio: ["pipe", "pipe", "pipe"],
      timeout: opts.timeoutMs ?? 30_000,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
  } catch (err) {
    const e = err as { status?: number | null; stderr?: string; stdout?: string };
    throw new CommandError([cmd, ...args], e.status ?? null, String(e.stderr ?? ""), String(e.stdout ?? ""));
  }
}
