import { chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../core/exec.js";
import { birdConfig, frrConfig, type LabPlan } from "./plan.js";

/** The top-of-rack router's daemon: how to start it and how to ask it about sessions and routes. */

export interface TorSession {
  readonly node: string;
  readonly peer: string;
  /** The BGP FSM state as the daemon names it, e.g. Established, Active, Connect, Idle. */
  readonly state: string;
}

export interface TorRoute {
  readonly prefix: string;
  /** Next hops (node addresses) the router has for it. */
  readonly nextHops: string[];
}

export interface TorDaemon {
  readonly cmd: string;
  readonly args: string[];
}

export function torDir(plan: LabPlan): string {
  return join(plan.dir, "tor");
}

/** Writes the configuration and returns the command that runs the router in the foreground. */
export async function prepareTor(plan: LabPlan): Promise<TorDaemon> {
  const dir = torDir(plan);
  mkdirSync(dir, { recursive: true });
  if (plan.tor.kind === "bird") {
    const conf = join(dir, "bird.conf");
    writeFileSync(conf, birdConfig(plan));
    return {
      cmd: "bird",
      args: ["-f", "-c", conf, "-s", join(dir, "bird.ctl"), "-P", join(dir, "bird.pid")],
    };
  }
  // bgpd drops privileges to the frr user, which must reach its own files.
  const uid = Number((await run("id", ["-u", "frr"])).trim());
  const gid = Number((await run("id", ["-g", "frr"])).trim());
  chownSync(dir, uid, gid);
  const conf = join(dir, "bgpd.conf");
  writeFileSync(conf, frrConfig(plan));
  chownSync(conf, uid, gid);
  return {
    cmd: "/usr/lib/frr/bgpd",
    args: ["-Z", "-f", conf, "-i", join(dir, "bgpd.pid"), "--vty_socket", dir, "-A", "127.0.0.1", "-P", "0"],
  };
}

function ask(plan: LabPlan, command: string): Promise<string> {
  const dir = torDir(plan);
  if (plan.tor.kind === "bird")
    return run("birdc", ["-s", join(dir, "bird.ctl"), ...command.split(" ")], { timeoutMs: 5_000 });
  return run("vtysh", ["--vty_socket", dir, "-d", "bgpd", "-c", command], { timeoutMs: 5_000 });
}

/** Resolves once the daemon answers on its control channel; rejects otherwise. */
export async function torAnswers(plan: LabPlan): Promise<boolean> {
  if (plan.tor.kind === "bird") return (await ask(plan, "show status")).includes("Daemon is up and running");
  await ask(plan, "show bgp summary json");
  return true;
}

const nodeByIp = (plan: LabPlan) => new Map(plan.nodes.map((n) => [n.ip.split("/")[0] ?? "", n.name]));

/** bird's `show protocols`: "node1 BGP --- up 12:00:00.000 Established". */
export function parseBirdProtocols(plan: LabPlan, text: string): TorSession[] {
  const byName = new Map(plan.nodes.map((n) => [n.name, n.ip.split("/")[0] ?? ""]));
  const out: TorSession[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    const [name, proto] = f;
    if (name === undefined || proto !== "BGP") continue;
    const peer = byName.get(name);
    if (peer === undefined) continue;
    // The info column follows the "since" column (a time, maybe with a date before it).
    const info = f.slice(5).filter((x) => !/^\d/.test(x));
    out.push({ node: name, peer, state: info[0] ?? (f[3] === "up" ? "Established" : "Idle") });
  }
  return out;
}

/** bird's `show route`: a prefix line, then (for more paths) indented `unicast [...]` lines with `via ADDR`. */
export function parseBirdRoutes(text: string): TorRoute[] {
  const routes = new Map<string, Set<string>>();
  let current: string | undefined;
  for (const line of text.split("\n")) {
    const head = /^(\d+\.\d+\.\d+\.\d+\/\d+)\s/.exec(line);
    if (head?.[1]) {
      current = head[1];
      routes.set(current, routes.get(current) ?? new Set());
    }
    const via = /\bvia (\d+\.\d+\.\d+\.\d+)/.exec(line);
    if (via?.[1] && current) routes.get(current)?.add(via[1]);
  }
  return [...routes].map(([prefix, hops]) => ({ prefix, nextHops: [...hops].sort() }));
}

interface FrrSummary {
  ipv4Unicast?: { peers?: Record<string, { state?: string }> };
}
interface FrrRoutes {
  routes?: Record<string, Array<{ nexthops?: Array<{ ip?: string }> }>>;
}

export async function torSessions(plan: LabPlan): Promise<TorSession[]> {
  if (plan.tor.kind === "bird") return parseBirdProtocols(plan, await ask(plan, "show protocols"));
  const s = JSON.parse(await ask(plan, "show bgp summary json")) as FrrSummary;
  const names = nodeByIp(plan);
  return plan.nodes.map((n) => {
    const peer = n.ip.split("/")[0] ?? "";
    const st = s.ipv4Unicast?.peers?.[peer]?.state;
    return { node: names.get(peer) ?? n.name, peer, state: st ?? "Idle" };
  });
}

/** The routes the router learned (from the nodes: their blocks). */
export async function torRoutes(plan: LabPlan): Promise<TorRoute[]> {
  if (plan.tor.kind === "bird") return parseBirdRoutes(await ask(plan, "show route"));
  const r = JSON.parse(await ask(plan, "show bgp ipv4 unicast json")) as FrrRoutes;
  return Object.entries(r.routes ?? {}).map(([prefix, paths]) => ({
    prefix,
    nextHops: [...new Set(paths.flatMap((p) => (p.nexthops ?? []).map((h) => h.ip ?? "")))]
      .filter(Boolean)
      .sort(),
  }));
}
