import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { destroyNetnsSync, listNetns } from "../../core/netns.js";
import { isAlive, processStart } from "../../core/proc.js";

export { isAlive, processStart };

/**
 * Every resource a test process makes is written down here before it exists,
 * so that if the process dies without cleaning up (SIGKILL, OOM, power), the
 * next run's sweeper can remove exactly what it left and nothing else.
 */
export const STATE_ROOT = process.env["TORTIE_TEST_STATE"] ?? "/tmp/tortie-test";
/** Namespaces made by tests are named `tortie-<owner pid>-<name>`. */
export const NETNS_PREFIX = "tortie-";
const OWNED_NETNS = /^tortie-(\d+)[-k]/;

export type Resource =
  | { readonly kind: "netns"; readonly name: string }
  | { readonly kind: "pid"; readonly pid: number; readonly start: string }
  | { readonly kind: "dir"; readonly path: string };

interface Owner {
  readonly pid: number;
  readonly start: string;
}

export class Registry {
  private static seq = 0;
  readonly dir: string;
  /** Distinguishes registries of one process; 0 for the first. */
  readonly seq: number;
  constructor(readonly owner: number = process.pid) {
    this.seq = Registry.seq++;
    this.dir = join(STATE_ROOT, `${owner}-${this.seq}`);
    mkdirSync(this.dir, { recursive: true });
    const me: Owner = { pid: owner, start: processStart(owner) ?? "" };
    writeFileSync(join(this.dir, "owner.json"), JSON.stringify(me));
  }

  record(r: Resource): void {
    appendFileSync(join(this.dir, "resources.jsonl"), `${JSON.stringify(r)}\n`);
  }

  resources(): Resource[] {
    return readResources(this.dir);
  }

  /** Removes the registry itself once everything in it is gone. */
  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function readResources(dir: string): Resource[] {
  const file = join(dir, "resources.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Resource];
      } catch {
        return []; // a line torn by a crash mid-write
      }
    });
}

/** Releases resources in reverse order of creation: processes first, then namespaces, then files. */
export function releaseSync(resources: readonly Resource[]): void {
  const rev = [...resources].reverse();
  for (const r of rev) {
    if (r.kind === "pid" && isAlive(r.pid, r.start)) {
      try {
        process.kill(-r.pid, "SIGKILL"); // its process group
      } catch {
        try {
          process.kill(r.pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }
    }
  }
  for (const r of rev) if (r.kind === "netns") destroyNetnsSync(r.name);
  for (const r of rev) if (r.kind === "dir") rmSync(r.path, { recursive: true, force: true });
}

export interface SweepReport {
  readonly owners: number[];
  readonly namespaces: string[];
}

/**
 * Removes what dead test processes left behind: their registered resources and
 * any namespace carrying the test prefix whose owner PID no longer runs.
 * Live owners (tests running in parallel) are left alone.
 */
export function sweepLeftovers(): SweepReport {
  const owners: number[] = [];
  const namespaces: string[] = [];
  if (existsSync(STATE_ROOT)) {
    for (const entry of readdirSync(STATE_ROOT)) {
      const dir = join(STATE_ROOT, entry);
      let owner: Owner | undefined;
      try {
        owner = JSON.parse(readFileSync(join(dir, "owner.json"), "utf8")) as Owner;
      } catch {
        owner = undefined;
      }
      if (owner && isAlive(owner.pid, owner.start || undefined)) continue;
      const res = readResources(dir);
      releaseSync(res);
      for (const r of res) if (r.kind === "netns") namespaces.push(r.name);
      owners.push(owner?.pid ?? Number.parseInt(entry, 10));
      rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const name of listNetns()) {
    const m = OWNED_NETNS.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (isAlive(pid)) continue;
    destroyNetnsSync(name);
    if (!namespaces.includes(name)) namespaces.push(name);
  }
  return { owners, namespaces };
}
