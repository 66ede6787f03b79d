import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Netns } from "../../core/netns.js";
import { createNetns, veth } from "../../core/netns.js";
import { NETNS_PREFIX, Registry, processStart, releaseSync, sweepLeftovers } from "./registry.js";
import { WaitAborted, waitFor } from "./wait.js";

/** What tap's Test offers that the kit needs; kept structural so the kit works outside tap too. */
export interface TeardownHost {
  teardown(fn: () => void | Promise<void>): void;
}

export interface SpawnOptions {
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /** A short name for the log file and messages; defaults to the program's base name. */
  readonly name?: string;
}

/** A long-running program started by the kit, in a namespace or (for loopback-only servers) in the root one. */
export class Daemon {
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitWaiters: Array<() => void> = [];

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
    readonly logFile: string,
  ) {
    proc.on("exit", (code, signal) => {
      this.exited = { code, signal };
      for (const w of this.exitWaiters.splice(0)) w();
    });
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  get running(): boolean {
    return this.exited === undefined;
  }

  get exitStatus(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.exited;
  }

  /** Everything it printed on stdout and stderr so far. */
  output(): string {
    try {
      return readFileSync(this.logFile, "utf8");
    } catch {
      return "";
    }
  }

  waitForOutput(re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> {
    return waitFor(
      `${this.name} to print ${String(re)}`,
      () => {
        const m = re.exec(this.output());
        if (m) return m;
        if (!this.running)
          throw new WaitAborted(
            `${this.name} exited (${JSON.stringify(this.exited)}): ${this.output().slice(-2000)}`,
          );
        return undefined;
      },
      { timeoutMs },
    );
  }

  waitForExit(timeoutMs = 10_000): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.exitWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      /* already gone */
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.signal("SIGTERM");
    try {
      await this.waitForExit(graceMs);
    } catch {
      this.signal("SIGKILL");
      await this.waitForExit(5_000);
    }
  }
}

let signalHandlersInstalled = false;
const liveKits = new Set<Kit>();

function installSignalHandlers(): void {
  if (signalHandlersInstalled) return;
  signalHandlersInstalled = true;
  const onSignal = (sig: NodeJS.Signals, code: number) => () => {
    for (const k of liveKits) k.cleanupSync();
    process.stderr.write(`test kit: cleaned up after ${sig}\n`);
    process.exit(code);
  };
  process.once("SIGINT", onSignal("SIGINT", 130));
  process.once("SIGTERM", onSignal("SIGTERM", 143));
  process.once("SIGHUP", onSignal("SIGHUP", 129));
  process.on("exit", () => {
    for (const k of liveKits) k.cleanupSync();
  });
}

/**
 * Creates namespaces, veth pairs, temporary directories and daemons for one
 * test process and removes all of them afterwards: on teardown, on a signal, on
 * exit, or (after SIGKILL) on the next run's sweep.
 */
export class Kit {
  readonly registry: Registry;
  readonly root: string;
  private readonly daemons: Daemon[] = [];
  private closed = false;

  private constructor() {
    this.registry = new Registry();
    this.root = mkdtempSync(join(this.registry.dir, "files-"));
    // Daemons that drop privileges (FRR runs as frr) must reach their files in here.
    chmodSync(this.root, 0o755);
    this.registry.record({ kind: "dir", path: this.root });
    liveKits.add(this);
  }

  /** Sweeps leftovers of dead runs, then makes a kit whose cleanup is tied to `t`'s teardown. */
  static create(t?: TeardownHost): Kit {
    sweepLeftovers();
    installSignalHandlers();
    const kit = new Kit();
    t?.teardown(() => kit.cleanup());
    return kit;
  }

  /** Full namespace name for a short one, e.g. `node1` → `tortie-4242-node1`. */
  nsName(short: string): string {
    const kit = this.registry.seq === 0 ? "" : `k${this.registry.seq}`;
    return `${NETNS_PREFIX}${process.pid}${kit}-${short}`;
  }

  async netns(short: string): Promise<Netns> {
    const name = this.nsName(short);
    this.registry.record({ kind: "netns", name });
    return createNetns(name);
  }

  veth(a: Netns, aName: string, b: Netns, bName: string): Promise<void> {
    return veth(a, aName, b, bName);
  }

  /** A fresh directory inside the kit's own, removed with it. */
  dir(name: string): string {
    const d = join(this.root, name);
    mkdirSync(d, { recursive: true });
    return d;
  }

  /**
   * Starts a program in `ns` (or in the root namespace when `ns` is null: only
   * for servers bound to loopback). It gets its own process group so that stop
   * reaches its children too.
   */
  spawn(ns: Netns | null, cmd: string, args: readonly string[], opts: SpawnOptions = {}): Daemon {
    const name = opts.name ?? cmd.split("/").pop() ?? cmd;
    const logFile = join(this.root, `${name}-${this.daemons.length}.log`);
    const fd = openSync(logFile, "a");
    const argv = ns ? ["ip", "netns", "exec", ns.name, cmd, ...args] : [cmd, ...args];
    const proc = spawn(argv[0] ?? cmd, argv.slice(1), {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: { ...process.env, ...opts.env },
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    if (proc.pid === undefined) throw new Error(`could not start ${cmd}`);
    this.registry.record({ kind: "pid", pid: proc.pid, start: processStart(proc.pid) ?? "" });
    const d = new Daemon(name, proc, logFile);
    this.daemons.push(d);
    return d;
  }

  async cleanup(): Promise<void> {
    if (this.closed) return;
    await Promise.allSettled(this.daemons.map((d) => d.stop(3_000)));
    this.cleanupSync();
  }

  /** Removes everything at once; safe to call from signal and exit handlers, and more than once. */
  cleanupSync(): void {
    if (this.closed) return;
    this.closed = true;
    liveKits.delete(this);
    releaseSync(this.registry.resources());
    this.registry.close();
  }
}
