import { run, runSync } from "./exec.js";

/**
 * Thin wrappers over iproute2 for network namespaces. Every operation names its
 * namespace explicitly (`ip -n NS ...`), so nothing here can touch the root
 * namespace's links, routes or sysctls by accident.
 */
export class Netns {
  constructor(readonly name: string) {}

  ip(args: readonly string[]): Promise<string> {
    return run("ip", ["-n", this.name, ...args]);
  }

  /** Runs a program inside the namespace. */
  exec(
    cmd: string,
    args: readonly string[] = [],
    opts: { input?: string; timeoutMs?: number } = {},
  ): Promise<string> {
    return run("ip", ["netns", "exec", this.name, cmd, ...args], opts);
  }

  async up(ifname: string): Promise<void> {
    await this.ip(["link", "set", ifname, "up"]);
  }

  async addr(ifname: string, cidr: string): Promise<void> {
    await this.ip(["addr", "add", cidr, "dev", ifname, ...(cidr.includes(":") ? ["nodad"] : [])]);
  }

  async route(args: readonly string[]): Promise<void> {
    await this.ip(["route", "replace", ...args]);
  }

  async sysctl(key: string, value: string): Promise<void> {
    await this.exec("sysctl", ["-qw", `${key}=${value}`]);
  }

  /** PIDs of every process whose network namespace is this one. */
  async pids(): Promise<number[]> {
    const out = await run("ip", ["netns", "pids", this.name]).catch(() => "");
    return parsePids(out);
  }
}

export function parsePids(out: string): number[] {
  return out
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

export async function createNetns(name: string): Promise<Netns> {
  await run("ip", ["netns", "add", name]);
  const ns = new Netns(name);
  await ns.up("lo");
  return ns;
}

export function listNetns(): string[] {
  const out = runSync("ip", ["netns", "list"]);
  return out
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => n !== "");
}

/** Kills every process left in the namespace, then removes it. Synchronous so signal handlers can use it. */
export function destroyNetnsSync(name: string): void {
  let pids: number[];
  try {
    pids = parsePids(runSync("ip", ["netns", "pids", name]));
  } catch {
    return; // already gone
  }
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* exited meanwhile */
    }
  }
  try {
    runSync("ip", ["netns", "del", name]);
  } catch {
    /* raced with another cleanup */
  }
}

/**
 * A veth pair made directly between two namespaces: the pair is created inside
 * `a` with its peer placed in `b`, so it never exists in the root namespace.
 */
export async function veth(a: Netns, aName: string, b: Netns, bName: string): Promise<void> {
  await a.ip(["link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.name]);
  await a.up(aName);
  await b.up(bName);
}
