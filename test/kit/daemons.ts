import { chownSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { run } from "../../core/exec.js";
import type { Netns } from "../../core/netns.js";
import type { Daemon, Kit } from "./kit.js";
import { waitFor } from "./wait.js";

/**
 * Starters for the real daemons the integration tier talks to. Each writes the
 * given configuration into the kit's directory, starts the daemon in the
 * namespace, and returns once the daemon answers on its control channel.
 */

export interface Bird {
  readonly daemon: Daemon;
  readonly socket: string;
  birdc(command: string): Promise<string>;
}

export async function startBird(kit: Kit, ns: Netns, config: string, name = "bird"): Promise<Bird> {
  const dir = kit.dir(name);
  const conf = join(dir, "bird.conf");
  const socket = join(dir, "bird.ctl");
  writeFileSync(conf, config);
  const daemon = kit.spawn(ns, "bird", ["-f", "-c", conf, "-s", socket, "-P", join(dir, "bird.pid")], {
    name,
  });
  const birdc = (command: string) => run("birdc", ["-s", socket, ...command.split(" ")]);
  await waitFor(`${name} to answer birdc`, async () => {
    if (!daemon.running) throw new Error(`${name} exited: ${daemon.output()}`);
    return (await birdc("show status")).includes("Daemon is up and running");
  });
  return { daemon, socket, birdc };
}

export interface FrrBgpd {
  readonly daemon: Daemon;
  /** Runs a vtysh command against this bgpd, e.g. `show bgp summary json`. */
  vtysh(command: string): Promise<string>;
}

/** FRR's bgpd alone (`-Z`: no zebra), as the frr user, with its vty socket in the kit's directory. */
export async function startFrrBgpd(kit: Kit, ns: Netns, config: string, name = "bgpd"): Promise<FrrBgpd> {
  const dir = kit.dir(name);
  chownSync(dir, frrId("frr", "passwd"), frrId("frr", "group"));
  const conf = join(dir, "bgpd.conf");
  writeFileSync(conf, config);
  const daemon = kit.spawn(
    ns,
    "/usr/lib/frr/bgpd",
    ["-Z", "-f", conf, "-i", join(dir, "bgpd.pid"), "--vty_socket", dir, "-A", "127.0.0.1", "-P", "0"],
    { name },
  );
  const vtysh = (command: string) => ns.exec("vtysh", ["--vty_socket", dir, "-d", "bgpd", "-c", command]);
  await waitFor(`${name} to answer vtysh`, async () => {
    if (!daemon.running) throw new Error(`${name} exited: ${daemon.output()}`);
    await vtysh("show bgp summary json");
    return true;
  });
  return { daemon, vtysh };
}

function frrId(name: string, db: "passwd" | "group"): number {
  const line = readFileSync(`/etc/${db}`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  const id = line?.split(":")[2];
  if (id === undefined) throw new Error(`no ${db} entry for ${name}: is frr installed?`);
  return Number(id);
}

export interface Gobgpd {
  readonly daemon: Daemon;
  readonly apiPort: number;
  /** Runs the gobgp CLI against this daemon, e.g. `neighbor -j`. */
  gobgp(args: readonly string[]): Promise<string>;
}

export async function startGobgpd(kit: Kit, ns: Netns, configToml: string, name = "gobgpd"): Promise<Gobgpd> {
  const dir = kit.dir(name);
  const conf = join(dir, "gobgpd.toml");
  writeFileSync(conf, configToml);
  const apiPort = 50051;
  const daemon = kit.spawn(ns, "gobgpd", ["-f", conf, "-t", "toml", "--api-hosts", `127.0.0.1:${apiPort}`], {
    name,
  });
  const gobgp = (args: readonly string[]) =>
    ns.exec("gobgp", ["-u", "127.0.0.1", "-p", String(apiPort), ...args]);
  await waitFor(`${name} to answer its API`, async () => {
    if (!daemon.running) throw new Error(`${name} exited: ${daemon.output()}`);
    await gobgp(["global"]);
    return true;
  });
  return { daemon, apiPort, gobgp };
}

export interface Exabgp {
  readonly daemon: Daemon;
}

/** ExaBGP prints a welcome line once its configuration has loaded; it has no control channel by default. */
export async function startExabgp(kit: Kit, ns: Netns, config: string, name = "exabgp"): Promise<Exabgp> {
  const dir = kit.dir(name);
  const conf = join(dir, "exabgp.conf");
  writeFileSync(conf, config);
  const daemon = kit.spawn(ns, "exabgp", [conf], {
    name,
    env: {
      "exabgp.daemon.user": "root",
      "exabgp.log.destination": "stdout",
      "exabgp.daemon.daemonize": "false",
      "exabgp.api.cli": "false",
    },
  });
  await daemon.waitForOutput(/Thank you for using ExaBGP/);
  return { daemon };
}

export interface Etcd {
  readonly daemon: Daemon;
  /** e.g. `http://127.0.0.1:23790` */
  readonly url: string;
  readonly dataDir: string;
}

/** A free TCP port on loopback, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/**
 * etcd on loopback. In the root namespace (ns null) the test process can reach
 * it directly; only 127.0.0.1 is bound. Pass `dataDir` to restart over old data.
 */
export async function startEtcd(
  kit: Kit,
  ns: Netns | null,
  opts: { name?: string; dataDir?: string; clientPort?: number } = {},
): Promise<Etcd> {
  const name = opts.name ?? "etcd";
  const dataDir = opts.dataDir ?? kit.dir(`${name}-data`);
  const clientPort = opts.clientPort ?? (await freePort());
  const peerPort = await freePort();
  const url = `http://127.0.0.1:${clientPort}`;
  const daemon = kit.spawn(
    ns,
    "etcd",
    [
      "--name",
      name,
      "--data-dir",
      dataDir,
      "--listen-client-urls",
      url,
      "--advertise-client-urls",
      url,
      "--listen-peer-urls",
      `http://127.0.0.1:${peerPort}`,
      "--initial-advertise-peer-urls",
      `http://127.0.0.1:${peerPort}`,
      "--initial-cluster",
      `${name}=http://127.0.0.1:${peerPort}`,
    ],
    { name, env: { ETCD_UNSUPPORTED_ARCH: "", ETCDCTL_API: "3" } },
  );
  await waitFor(
    `${name} to report healthy`,
    async () => {
      if (!daemon.running) throw new Error(`${name} exited: ${daemon.output().slice(-2000)}`);
      const args = ["--endpoints", url, "endpoint", "health", "-w", "json"];
      const out = ns
        ? await ns.exec("etcdctl", args)
        : await run("etcdctl", args, { env: { ...process.env, ETCDCTL_API: "3" } });
      return /"health":\s*true/.test(out);
    },
    { timeoutMs: 20_000 },
  );
  return { daemon, url, dataDir };
}
