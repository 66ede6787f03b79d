/**
 * bench/bgp/feed: bird2 originates N IPv4 /26 prefixes (static routes) and
 * sends them over eBGP to one receiver at a time: our speaker, bird2, gobgpd.
 * For each: time from Established until 99% and 100% of the prefixes are in
 * the receiver's RIB, and peak RSS. For ours also the heap per route.
 *
 *   node dist/bench/bgp/feed.js [--routes 1000000] [--only tortie,bird,gobgpd]
 *
 * Needs root (namespaces). Never part of the test command.
 */
import type { Netns } from "../../core/netns.js";
import { queryControl } from "../../bgp/session/control.js";
import { startBird, startGobgpd } from "../../test/kit/daemons.js";
import { Kit, type Daemon } from "../../test/kit/kit.js";
import { waitFor } from "../../test/kit/wait.js";
import { arg, measureEach, peakRss, startTortieBgp } from "./common.js";

const N = Number(arg("routes", "1000000"));
const only = arg("only", "tortie,bird,gobgpd").split(",");

function senderConfig(n: number): string {
  const lines: string[] = [];
  // /26s from 10.0.0.0 upward: 2^20 of them fit in 10.0.0.0/6.
  for (let i = 0; i < n; i++) {
    const a = 0x0a000000 + i * 64;
    lines.push(`route ${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/26 blackhole;`);
  }
  return `
router id 192.0.2.2;
protocol device {}
protocol static feed { ipv4; ${lines.join("\n")} }
protocol bgp out1 {
  local 192.0.2.2 as 65002; neighbor 192.0.2.1 as 65001;
  hold time 240; connect retry time 1;
  ipv4 { import none; export all; };
}
`;
}

interface Receiver {
  name: string;
  pid(): number;
  established(): Promise<boolean>;
  count(): Promise<number>;
  heapPerRoute?(): Promise<number>;
}

async function tortieReceiver(kit: Kit, ns: Netns): Promise<Receiver & { daemon: Daemon }> {
  const { daemon, control, status } = await startTortieBgp(
    kit,
    ns,
    {
      routerId: "192.0.2.1",
      asn: 65001,
      listen: { address: "192.0.2.1", port: 179 },
      peers: [{ address: "192.0.2.2", asn: 65002, holdTime: 240 }],
      originate: [],
    },
    "tortie",
    ["--expose-gc"],
  );
  const mem = () => queryControl<{ heapUsed: number }>(control, "memory");
  const base = (await mem()).heapUsed;
  return {
    name: "tortie",
    daemon,
    pid: () => daemon.pid,
    established: async () => (await status()).peers[0]?.state === "Established",
    count: async () => (await status()).peers[0]?.prefixesReceived ?? 0,
    heapPerRoute: async () => ((await mem()).heapUsed - base) / N,
  };
}

async function birdReceiver(kit: Kit, ns: Netns): Promise<Receiver> {
  const b = await startBird(
    kit,
    ns,
    `
router id 192.0.2.1;
protocol device {}
protocol bgp in1 { local 192.0.2.1 as 65001; neighbor 192.0.2.2 as 65002; hold time 240; ipv4 { import all; export none; }; }
`,
    "bird-rx",
  );
  return {
    name: "bird2",
    pid: () => b.daemon.pid,
    established: async () => /Established/.test(await b.birdc("show protocols in1")),
    count: async () =>
      Number(/Routes:\s+(\d+) imported/.exec(await b.birdc("show protocols all in1"))?.[1] ?? 0),
  };
}

async function gobgpReceiver(kit: Kit, ns: Netns): Promise<Receiver> {
  const g = await startGobgpd(
    kit,
    ns,
    `
[global.config]
  as = 65001
  router-id = "192.0.2.1"
  local-address-list = ["192.0.2.1"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.2"
    peer-as = 65002
  [neighbors.timers.config]
    hold-time = 240
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`,
    "gobgpd-rx",
  );
  interface GobgpNeighbor {
    state?: { session_state?: number };
    afi_safis?: { state?: { received?: number } }[];
  }
  const neighbor = async (): Promise<GobgpNeighbor | undefined> =>
    (JSON.parse(await g.gobgp(["neighbor", "-j"])) as GobgpNeighbor[])[0];
  return {
    name: "gobgpd",
    pid: () => g.daemon.pid,
    // apipb.PeerState.SessionState: 6 is ESTABLISHED.
    established: async () => (await neighbor())?.state?.session_state === 6,
    count: async () => (await neighbor())?.afi_safis?.[0]?.state?.received ?? 0,
  };
}

interface Result {
  receiver: string;
  t99: number;
  t100: number;
  rssMB: number;
  heapPerRoute?: number;
}

async function measure(kind: string, make: (kit: Kit, ns: Netns) => Promise<Receiver>): Promise<Result> {
  const kit = Kit.create();
  try {
    const rx = await kit.netns("rx");
    const tx = await kit.netns("tx");
    await kit.veth(rx, "eth0", tx, "eth0");
    await rx.addr("eth0", "192.0.2.1/24");
    await tx.addr("eth0", "192.0.2.2/24");
    const r = await make(kit, rx);
    process.stderr.write(`${kind}: receiver up\n`);
    // The sender starts last and loads its static routes before it connects.
    await startBird(kit, tx, senderConfig(N), "bird-tx");
    process.stderr.write(`${kind}: sender up\n`);
    await waitFor(`${kind} Established`, () => r.established(), { timeoutMs: 60_000, intervalMs: 10 });
    const t0 = performance.now();
    let t99 = NaN;
    await waitFor(
      `${kind} to hold ${N} routes`,
      async () => {
        const c = await r.count();
        if (Number.isNaN(t99) && c >= 0.99 * N) t99 = performance.now() - t0;
        return c >= N;
      },
      { timeoutMs: 600_000, intervalMs: 25 },
    );
    const t100 = performance.now() - t0;
    const res: Result = {
      receiver: r.name,
      t99: t99 / 1000,
      t100: t100 / 1000,
      rssMB: peakRss(r.pid()) / 2 ** 20,
    };
    if (r.heapPerRoute) res.heapPerRoute = await r.heapPerRoute();
    return res;
  } finally {
    await kit.cleanup();
  }
}

const makers: Record<string, (kit: Kit, ns: Netns) => Promise<Receiver>> = {
  tortie: tortieReceiver,
  bird: birdReceiver,
  gobgpd: gobgpReceiver,
};
const results = await measureEach(only, makers, measure);
process.stdout.write(
  `\n${N} prefixes\n| receiver | t99 (s) | t100 (s) | peak RSS (MB) | heap/route (B) |\n|---|---|---|---|---|\n`,
);
for (const r of results) {
  process.stdout.write(
    `| ${r.receiver} | ${r.t99.toFixed(2)} | ${r.t100.toFixed(2)} | ${r.rssMB.toFixed(0)} | ${r.heapPerRoute !== undefined ? r.heapPerRoute.toFixed(0) : "-"} |\n`,
  );
}
