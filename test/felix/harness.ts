import { fileURLToPath } from "node:url";
import type { Netns } from "../../core/netns.js";
import type { Daemon, Kit } from "../kit/kit.js";

/** The compiled `tortie` entry point (compiled tests live in dist/test/felix/). */
export const CLI = fileURLToPath(new URL("../../cli/main.js", import.meta.url));

export interface AgentSpawn {
  readonly datastore: string;
  readonly node: string;
  readonly control: string;
  /** More `tortie node run` flags (--resync-interval, --ip, --cni-socket ...). */
  readonly flags?: readonly string[];
  /** Flags for Node itself, before the script (--cpu-prof ...). */
  readonly nodeFlags?: readonly string[];
  readonly name?: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** `tortie node run` in a namespace, as the DaemonSet runs it on a node. */
export function spawnAgent(kit: Kit, ns: Netns, a: AgentSpawn): Daemon {
  return kit.spawn(
    ns,
    process.execPath,
    [
      ...(a.nodeFlags ?? []),
      CLI,
      "node",
      "run",
      "--datastore",
      a.datastore,
      "--node",
      a.node,
      "--control",
      a.control,
      ...(a.flags ?? []),
    ],
    { name: a.name ?? `felix-${a.node}`, ...(a.env ? { env: { ...a.env } } : {}) },
  );
}
