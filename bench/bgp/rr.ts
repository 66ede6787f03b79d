/**
 * bench/bgp/rr: route reflector fan-out. C clients on loopback addresses
 * (127.0.x.y) inside one namespace, each originating P /26s over iBGP to one
 * reflector at 127.0.0.1, which reflects them to every other client. Time from
 * the moment every client speaker has started until every client holds all
 * C*P routes; reflector peak RSS and CPU seconds. Reflectors, one after the
 * other in fresh namespaces, same clients: `tortie bgp run`, bird2.
 *
 *   node dist/bench/bgp/rr.js [--clients 200] [--prefixes 10] [--only tortie,bird]
 *
 * Needs root (namespaces). Never part of the test command.
 */
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import type { Netns } from "../../core/netns.js";
import { startBird } from "../../test/kit/daemons.js";
import { Kit } from "../../test/kit/kit.js";
import { arg, cpuSeconds, measureEach, peakRss, startTortieBgp } from "./common.js";
import { clientAddress } from "./rr-common.js";

const CLIENTS = Number(arg("clients", "200"));
const PREFIXES = Number(arg("prefixes", "10"));
const only = arg("only", "tortie,bird").split(",");
const CLIENTS_JS = fileURLToPath(new URL("./rr-clients.js", import.meta.url));
const RR = "127.0.0.1";
const ASN = 65000;

const clients = Array.from({ length: CLIENTS }, (_, i) => clientAddress(i));

interface Reflector {
  name: string;
  pid: number;
  /** Sessions Established, as the reflector sees them. */
  established(): Promise<number>;
}

async function tortieReflector(kit: Kit, ns: Netns): Promise<Reflector> {
  const { daemon, status } = await startTortieBgp(
    kit,
    ns,
    {
      routerId: RR,
      asn: ASN,
      clusterId: RR,
      listen: { address: RR, port: 179 },
      originate: [],
      peers: clients.map((address) => ({
        address,
        asn: ASN,
        routeReflectorClient: true,
        passive: true,
        holdTime: 240,
      })),
    },
    "tortie-rr",
    // A profile of the reflector: TORTIE_BENCH_PROF=DIR writes a .cpuprofile there at its exit.
    process.env["TORTIE_BENCH_PROF"]
      ? ["--cpu-prof", `--cpu-prof-dir=${process.env["TORTIE_BENCH_PROF"]}`]
      : [],
  );
  return {
    name: "tortie",
    pid: daemon.pid,
    established: async () => (await status()).peers.filter((p) => p.state === "Established").length,
  };
}

async function birdReflector(kit: Kit, ns: Netns): Promise<Reflector> {
  const protocols = clients.map((a, i) => `protocol bgp c${i} from rrc { neighbor ${a} as ${ASN}; }`);
  const b = await startBird(
    kit,
    ns,
    `
router id ${RR};
protocol device {}
# iBGP next hops (the clients' 127.0.x.y) resolve recursively: give them an IGP route.
protocol static loopback { ipv4; route 127.0.0.0/8 via "lo"; }
template bgp rrc {
  local ${RR} as ${ASN};
  rr client; rr cluster id ${RR};
  passive on; hold time 240;
  ipv4 { import all; export where source = RTS_BGP; };
}
${protocols.join("\n")}
`,
    "bird-rr",
  );
  return {
    name: "bird2",
    pid: b.daemon.pid,
    established: async () => ((await b.birdc("show protocols")).match(/Established/g) ?? []).length,
  };
}

interface Result {
  reflector: string;
  establishedS: number;
  convergedS: number;
  rrRssMB: number;
  rrCpuS: number;
  clientsCpuS: number;
}

interface ClientEvent {
  event: string;
  ms?: number;
  cpuS?: number;
}

async function measure(kind: string, make: (kit: Kit, ns: Netns) => Promise<Reflector>): Promise<Result> {
  const kit = Kit.create();
  try {
    const ns = await kit.netns("rr");
    const rr = await make(kit, ns);
    const cpuBefore = cpuSeconds(rr.pid);
    process.stderr.write(`${kind}: reflector up\n`);
    const c = kit.spawn(
      ns,
      process.execPath,
      [CLIENTS_JS, "--clients", String(CLIENTS), "--prefixes", String(PREFIXES), "--reflector", RR],
      { name: "rr-clients" },
    );
    const event = async (name: string): Promise<ClientEvent> => {
      const m = await c.waitForOutput(new RegExp(`^\\{"event":"${name}".*$`, "m"), 600_000);
      return JSON.parse(m[0]) as ClientEvent;
    };
    const est = await event("established");
    process.stderr.write(`${kind}: ${CLIENTS} sessions Established\n`);
    const conv = await event("converged");
    const seen = await rr.established();
    if (seen !== CLIENTS) throw new Error(`${kind}: reflector reports ${seen} of ${CLIENTS} sessions`);
    return {
      reflector: rr.name,
      establishedS: (est.ms ?? NaN) / 1000,
      convergedS: (conv.ms ?? NaN) / 1000,
      rrRssMB: peakRss(rr.pid) / 2 ** 20,
      rrCpuS: cpuSeconds(rr.pid) - cpuBefore,
      clientsCpuS: conv.cpuS ?? NaN,
    };
  } finally {
    await kit.cleanup();
  }
}

const makers: Record<string, (kit: Kit, ns: Netns) => Promise<Reflector>> = {
  tortie: tortieReflector,
  bird: birdReflector,
};
const load = loadavg().map((l) => l.toFixed(1));
const results = await measureEach(only, makers, measure);
process.stdout.write(
  `\n${CLIENTS} clients x ${PREFIXES} /26 = ${CLIENTS * PREFIXES} routes; load average before ${load.join(" ")}, after ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}\n` +
    "| reflector | all Established (s) | all converged (s) | reflector peak RSS (MB) | reflector CPU (s) | clients CPU (s) |\n" +
    "|---|---|---|---|---|---|\n",
);
for (const r of results) {
  process.stdout.write(
    `| ${r.reflector} | ${r.establishedS.toFixed(2)} | ${r.convergedS.toFixed(2)} | ${r.rrRssMB.toFixed(0)} | ${r.rrCpuS.toFixed(2)} | ${r.clientsCpuS.toFixed(2)} |\n`,
  );
}
