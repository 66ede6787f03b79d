import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { destroyNetnsSync, listNetns } from "../core/netns.js";
import { isAlive } from "../core/proc.js";
import type { MatrixReport, PortKey } from "./matrix.js";
import type { LabPlan, PodPlan } from "./plan.js";

/**
 * Everything the lab made, written down BEFORE it is made, so that `tortie lab down` removes it
 * all even after `lab up` was killed half way, and removes nothing it did not make.
 */
export type LabResource =
  | { readonly kind: "netns"; readonly name: string }
  | { readonly kind: "pid"; readonly pid: number; readonly start: string; readonly name: string }
  | { readonly kind: "dir"; readonly path: string };

export interface LabPod extends Omit<PodPlan, "labels"> {
  labels: Readonly<Record<string, string>>;
  /** Set once the CNI ADD returned. */
  ip?: string;
  containerId: string;
}

export interface LabState {
  readonly version: 1;
  readonly created: string;
  readonly plan: LabPlan;
  /** false: built with --no-agent (no `tortie node run` on the nodes). */
  readonly agent: boolean;
  pods: LabPod[];
  resources: LabResource[];
  /** The last matrix printed per port, so the next one can say what changed. */
  matrices: Partial<Record<PortKey, MatrixReport>>;
}

export function statePath(dir: string): string {
  return join(dir, "state.json");
}

export function readState(dir: string): LabState | undefined {
  const p = statePath(dir);
  if (!existsSync(p)) return undefined;
  return JSON.parse(readFileSync(p, "utf8")) as LabState;
}

/** Replaced atomically: a crash leaves the previous state or the new one, never half of one. */
export function writeState(state: LabState): void {
  const p = statePath(state.plan.dir);
  mkdirSync(dirname(p), { recursive: true });
  const tmp = `${p}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, p);
}

/** Records a resource in the state file before the caller makes it. */
export function recordResource(state: LabState, r: LabResource): void {
  state.resources.push(r);
  writeState(state);
}

export function killProcess(r: { pid: number; start: string }, signal: NodeJS.Signals = "SIGKILL"): void {
  if (!isAlive(r.pid, r.start)) return;
  try {
    process.kill(-r.pid, signal); // its process group: the lab starts each daemon as a group leader
  } catch {
    try {
      process.kill(r.pid, signal);
    } catch {
      /* gone */
    }
  }
}

export interface TeardownReport {
  readonly processes: number;
  readonly namespaces: string[];
  readonly dirs: string[];
}

/**
 * Removes what the state lists, newest first: processes, then namespaces (which kills anything
 * still inside), then directories; then any namespace left with the lab's prefix (a lab's own,
 * whose state file is gone; with a state file every namespace was recorded before it was made, and
 * another lab's namespaces are not this one's to remove). Finally the state file itself.
 */
export function teardown(dir: string, prefix: string, state: LabState | undefined): TeardownReport {
  const resources = [...(state?.resources ?? [])].reverse();
  let processes = 0;
  for (const r of resources)
    if (r.kind === "pid" && isAlive(r.pid, r.start)) {
      killProcess(r);
      processes++;
    }
  const namespaces: string[] = [];
  const present = new Set(listNetns());
  for (const r of resources)
    if (r.kind === "netns" && present.has(r.name)) {
      destroyNetnsSync(r.name);
      namespaces.push(r.name);
    }
  if (!state)
    for (const name of listNetns())
      if (name.startsWith(prefix)) {
        destroyNetnsSync(name);
        namespaces.push(name);
      }
  const dirs: string[] = [];
  for (const r of resources)
    if (r.kind === "dir" && existsSync(r.path)) {
      rmSync(r.path, { recursive: true, force: true });
      dirs.push(r.path);
    }
  rmSync(statePath(dir), { force: true });
  return { processes, namespaces, dirs };
}
