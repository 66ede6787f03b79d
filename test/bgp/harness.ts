import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { run } from "../../core/exec.js";
import type { Netns } from "../../core/netns.js";
import type { BgpConfig } from "../../bgp/config.js";
import {
  queryControl,
  type PeerStatus,
  type RoutesView,
  type StatusView,
} from "../../bgp/session/control.js";
import type { Daemon, Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";

/**
 * Our speaker's namespace joined by one veth to each peer's namespace: link i
 * is 10.0.i.1 (ours) / 10.0.i.2 (theirs) and fd00:i::1 / fd00:i::2.
 */
export interface Link {
  readonly ns: Netns;
  readonly v4: { ours: string; theirs: string };
  readonly v6: { ours: string; theirs: string };
}

export async function makeHub(kit: Kit, names: readonly string[]): Promise<{ ours: Netns; links: Link[] }> {
  const ours = await kit.netns("tortie");
  const links: Link[] = [];
  let i = 1;
  for (const name of names) {
    const ns = await kit.netns(name);
    await kit.veth(ours, `eth${i}`, ns, "eth0");
    await ours.addr(`eth${i}`, `10.0.${i}.1/24`);
    await ns.addr("eth0", `10.0.${i}.2/24`);
    await ours.addr(`eth${i}`, `fd00:${i}::1/64`);
    await ns.addr("eth0", `fd00:${i}::2/64`);
    links.push({
      ns,
      v4: { ours: `10.0.${i}.1`, theirs: `10.0.${i}.2` },
      v6: { ours: `fd00:${i}::1`, theirs: `fd00:${i}::2` },
    });
    i++;
  }
  return { ours, links };
}

const MAIN = fileURLToPath(new URL("../../cli/main.js", import.meta.url));

export interface Tortie {
  readonly daemon: Daemon;
  readonly control: string;
  readonly configFile: string;
  status(): Promise<StatusView>;
  routes(): Promise<RoutesView>;
  peer(address: string): Promise<PeerStatus | undefined>;
  /** Runs `tortie bgp <args>` as a user would, returning stdout. */
  cli(args: readonly string[]): Promise<string>;
  /** Rewrites the config and sends SIGHUP. */
  reconfigure(config: BgpConfig): void;
  waitState(address: string, state: string, timeoutMs?: number): Promise<PeerStatus>;
}

export async function startTortie(kit: Kit, ns: Netns, config: BgpConfig, name = "tortie"): Promise<Tortie> {
  const dir = kit.dir(name);
  const configFile = join(dir, "bgp.yaml");
  const control = join(dir, "bgp.sock");
  writeFileSync(configFile, stringify(config));
  const daemon = kit.spawn(
    ns,
    process.execPath,
    [MAIN, "bgp", "run", "--config", configFile, "--control", control],
    {
      name,
      env: { TORTIE_LOG_LEVEL: "debug" },
    },
  );
  const status = (): Promise<StatusView> => queryControl<StatusView>(control, "status");
  await waitFor(
    `${name} to answer on its control socket`,
    async () => {
      if (!daemon.running) throw new Error(`${name} exited: ${daemon.output().slice(-3000)}`);
      return await status();
    },
    { timeoutMs: 30_000 },
  );
  const peer = async (address: string): Promise<PeerStatus | undefined> =>
    (await status()).peers.find((p) => p.address === address);
  return {
    daemon,
    control,
    configFile,
    status,
    routes: () => queryControl<RoutesView>(control, "routes"),
    peer,
    cli: (args) => run(process.execPath, [MAIN, "bgp", ...args, "--control", control]),
    reconfigure: (c) => {
      writeFileSync(configFile, stringify(c));
      daemon.signal("SIGHUP");
    },
    waitState: (address, state, timeoutMs = 15_000) =>
      waitFor(
        `${name}: peer ${address} to be ${state}`,
        async () => {
          if (!daemon.running) throw new Error(`${name} exited: ${daemon.output().slice(-3000)}`);
          const p = await peer(address);
          return p?.state === state ? p : undefined;
        },
        { timeoutMs },
      ),
  };
}

/** The prefixes (sorted) that `from` gave us, from our RIB. */
export async function receivedFrom(t: Tortie, from: string): Promise<string[]> {
  return (await t.routes()).received
    .filter((r) => r.from === from)
    .map((r) => r.prefix)
    .sort();
}
