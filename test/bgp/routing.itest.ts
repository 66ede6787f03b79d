import t from "tap";
import type { BgpConfig } from "../../bgp/config.js";
import type { Netns } from "../../core/netns.js";
import { startBird } from "../kit/daemons.js";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { startTortie, type Tortie } from "./harness.js";

/**
 * The cluster of issue 4 in namespaces: three nodes and a route reflector, each a
 * `tortie bgp run` with kernel install, plus bird2 as top-of-rack, all on one L2 fabric
 * (a bridge in its own namespace). Nodes are AS 65001 and clients of the reflector; the ToR
 * is AS 65100 and peers with every node over eBGP. Each node has one pod namespace behind it.
 *
 *   fabric 10.0.0.0/24: nodes .1 .2 .3, reflector .100, ToR .254
 *   node N originates 10.244.N.0/26; its pod is 10.244.N.2, the node's side 10.244.N.1
 */

const HOLD = 3;
const POOL = "10.244.0.0/16";
const TOR = "10.0.0.254";
const RR = "10.0.0.100";
const REJECTED = "10.244.200.0/26";
const OUTSIDE_POOL = "10.99.0.0/24";

/** Every tortie in the cluster rejects REJECTED on import; nodes accept iBGP only inside the pool. */
const filters: BgpConfig["filters"] = [
  { name: "no-200", importV4: [{ action: "Reject", matchOperator: "Equal", cidr: REJECTED }] },
  // node1 only: its block leaves with communities and a longer AS path; the ToR's 192.0.2.0/24 comes in.
  {
    name: "tor-1",
    exportV4: [
      {
        action: "Accept",
        matchOperator: "Equal",
        cidr: "10.244.1.0/26",
        addCommunities: ["65001:100"],
        addLargeCommunities: ["65001:1:1"],
        prepend: 2,
      },
    ],
    importV4: [{ action: "Accept", matchOperator: "Equal", cidr: "192.0.2.0/24", localPref: 200 }],
  },
];

function nodeConfig(n: number, gracefulRestart: boolean): BgpConfig {
  return {
    routerId: `10.0.0.${n}`,
    asn: 65001,
    listen: { address: `10.0.0.${n}`, port: 179 },
    holdTime: HOLD,
    peers: [
      { address: RR, asn: 65001, keepalive: 1, connectRetryTime: 1, filters: ["no-200"] },
      {
        address: TOR,
        asn: 65100,
        keepalive: 1,
        connectRetryTime: 1,
        ...(n === 1 ? { filters: ["tor-1"] } : {}),
      },
    ],
    originate: [`10.244.${n}.0/26`, ...(n === 3 ? [REJECTED, OUTSIDE_POOL] : [])],
    filters,
    pools: [POOL],
    kernel: {},
    ...(gracefulRestart ? { gracefulRestart: { restartTime: 30 } } : {}),
  };
}

const rrConfig: BgpConfig = {
  routerId: RR,
  asn: 65001,
  listen: { address: RR, port: 179 },
  holdTime: HOLD,
  clusterId: "10.0.0.100",
  peers: [1, 2, 3].map((n) => ({
    address: `10.0.0.${n}`,
    asn: 65001,
    keepalive: 1,
    connectRetryTime: 1,
    routeReflectorClient: true,
    filters: ["no-200"],
  })),
  originate: [],
  filters,
  pools: [POOL],
  kernel: {},
  gracefulRestart: { restartTime: 30 },
};

async function kernelRoutes(ns: Netns): Promise<string> {
  return ns.ip(["route", "show", "proto", "201"]);
}

t.test("three nodes, a route reflector and a bird2 ToR", async (t) => {
  const kit = Kit.create(t);
  const fabric = await kit.netns("fabric");
  await fabric.ip(["link", "add", "br0", "type", "bridge"]);
  await fabric.up("br0");
  const join = async (ns: Netns, port: string, addr: string): Promise<void> => {
    await kit.veth(fabric, port, ns, "eth0");
    await fabric.ip(["link", "set", port, "master", "br0"]);
    await fabric.up(port);
    await ns.addr("eth0", `${addr}/24`);
    await ns.up("lo");
  };
  const nodes: Netns[] = [];
  const pods: Netns[] = [];
  for (const n of [1, 2, 3]) {
    const ns = await kit.netns(`node${n}`);
    await join(ns, `n${n}`, `10.0.0.${n}`);
    await ns.sysctl("net.ipv4.ip_forward", "1");
    const pod = await kit.netns(`pod${n}`);
    await kit.veth(ns, "pod0", pod, "eth0");
    await ns.addr("pod0", `10.244.${n}.1/26`);
    await pod.addr("eth0", `10.244.${n}.2/26`);
    await pod.route(["default", "via", `10.244.${n}.1`]);
    nodes.push(ns);
    pods.push(pod);
  }
  const rrNs = await kit.netns("rr");
  await join(rrNs, "rr", RR);
  const torNs = await kit.netns("tor");
  await join(torNs, "tor", TOR);
  const [n1, n2, n3] = nodes;
  const [p1, p2] = pods;
  if (!n1 || !n2 || !n3 || !p1 || !p2) throw new Error("topology");

  const tor = await startBird(
    kit,
    torNs,
    [
      `router id ${TOR};`,
      "protocol device {}",
      "protocol static { ipv4; route 192.0.2.0/24 blackhole; }",
      ...[1, 2, 3].map(
        (n) => `protocol bgp node${n} {
  local ${TOR} as 65100; neighbor 10.0.0.${n} as 65001;
  hold time ${HOLD}; keepalive time 1; connect retry time 1; error wait time 1, 2;
  graceful restart on;
  ipv4 { import all; export all; };
}`,
      ),
      "",
    ].join("\n"),
  );
  const rr = await startTortie(kit, rrNs, rrConfig, "rr");
  const speakers: Tortie[] = [];
  for (const n of [1, 2, 3]) {
    const ns = nodes[n - 1];
    if (!ns) throw new Error("node");
    speakers.push(await startTortie(kit, ns, nodeConfig(n, n !== 3), `node${n}`));
  }
  const [s1, s2, s3] = speakers;
  if (!s1 || !s2 || !s3) throw new Error("speakers");

  await t.test("every node's /26 reaches every other node's kernel table and the ToR", async (t) => {
    for (const [i, ns] of nodes.entries()) {
      const n = i + 1;
      await waitFor(
        `node${n}'s kernel table to hold the other nodes' blocks`,
        async () => {
          const routes = await kernelRoutes(ns);
          return [1, 2, 3]
            .filter((m) => m !== n)
            .every((m) => routes.includes(`10.244.${m}.0/26 via 10.0.0.${m} `));
        },
        { timeoutMs: 20_000 },
      );
    }
    await waitFor(
      "the reflector's kernel table to hold every block",
      async () => {
        const routes = await kernelRoutes(rrNs);
        return [1, 2, 3].every((m) => routes.includes(`10.244.${m}.0/26 via 10.0.0.${m} `));
      },
      { timeoutMs: 20_000 },
    );
    await waitFor("the ToR to hold every block", async () => {
      const routes = await tor.birdc("show route");
      return [1, 2, 3].every((m) => routes.includes(`10.244.${m}.0/26`));
    });
    const best = (await s1.routes()).best.find((r) => r.prefix === "10.244.2.0/26");
    t.equal(best?.from, RR, "learned through the reflector");
    t.match(best?.attributes, { ORIGINATOR_ID: "10.0.0.2", CLUSTER_LIST: "10.0.0.100" });
    t.ok(best?.reason, `the winning reason is shown: ${best?.reason}`);
    t.ok(
      (await s1.routes()).received.some((r) => r.prefix === "10.244.2.0/26" && r.from === RR),
      "node1 hears node2's block from the reflector",
    );
    const out = await s1.cli(["routes"]);
    t.match(out, /REASON/, "tortie bgp routes shows the reason column");
  });

  await t.test("rejected prefixes reach no kernel table", async (t) => {
    // The ToR has them (it has no such filter): proof that they were announced at all.
    await waitFor("the ToR to hold the prefixes the cluster rejects", async () => {
      const routes = await tor.birdc("show route");
      return routes.includes(REJECTED) && routes.includes(OUTSIDE_POOL);
    });
    // By then the reflector has had node3's UPDATE too (same session, earlier than the EoR the ToR got).
    await waitFor("node3's routes at the reflector", async () =>
      (await rr.routes()).received.some((r) => r.prefix === "10.244.3.0/26"),
    );
    for (const [name, ns] of [
      ["node1", n1],
      ["node2", n2],
      ["rr", rrNs],
    ] as const) {
      const routes = await kernelRoutes(ns);
      t.notMatch(routes, REJECTED, `${name}: the filtered prefix is not in the kernel`);
      t.notMatch(routes, OUTSIDE_POOL, `${name}: a prefix outside the pools is not in the kernel`);
      if (name !== "node1")
        t.notMatch(routes, "192.0.2.0/24", `${name}: the ToR's route is not imported without a filter`);
    }
    await waitFor("node1 to import the ToR's route its filter accepts", async () =>
      (await kernelRoutes(n1)).includes(`192.0.2.0/24 via ${TOR}`),
    );
    const fromTor = (await s1.routes()).best.find((r) => r.prefix === "192.0.2.0/24");
    t.match(fromTor?.attributes, { LOCAL_PREF: "200" }, "the import filter set LOCAL_PREF");
    t.notOk(
      (await rr.routes()).received.some((r) => r.prefix === REJECTED),
      "the reflector did not take it in",
    );
  });

  await t.test(
    "eBGP to the ToR: next hop self, prepend, communities; no transit of learned routes",
    async (t) => {
      const r1 = await waitFor("node1's block at the ToR with its communities", async () => {
        const out = await tor.birdc("show route 10.244.1.0/26 all");
        return out.includes("BGP.community") ? out : undefined;
      });
      t.match(r1, /BGP\.as_path: 65001 65001 65001\b/, "prepended twice (plus the usual once)");
      t.match(r1, /BGP\.community: \(65001,100\)/);
      t.match(r1, /BGP\.large_community: \(65001, 1, 1\)/);
      t.match(r1, /BGP\.next_hop: 10\.0\.0\.1\b/, "next hop self");
      const r2 = await tor.birdc("show route 10.244.2.0/26 all");
      t.match(r2, /BGP\.as_path: 65001\n/, "node2's block with a plain path");
      t.notMatch(r2, /via 10\.0\.0\.1 /, "node1 does not pass on what it learned (default export)");
    },
  );

  await t.test("graceful restart of node2 under a ping flood from pod1 to pod2: no loss", async (t) => {
    const count = 3000;
    const ping = kit.spawn(
      p1,
      "ping",
      ["-q", "-n", "-i", "0.005", "-W", "1", "-c", String(count), "10.244.2.2"],
      {
        name: "ping",
      },
    );
    // Traffic flows before the restart begins.
    await waitFor("pod2 to answer pod1", async () => {
      await p1.exec("ping", ["-c", "1", "-W", "1", "10.244.2.2"]);
      return true;
    });
    await s2.daemon.stop();
    t.equal(s2.daemon.exitStatus?.code, 0, "node2 stopped cleanly");
    t.match(
      await kernelRoutes(n2),
      "10.244.1.0/26 via 10.0.0.1",
      "node2's kernel routes stay across the restart",
    );
    await waitFor("node1 to see node2's reflector session... from the reflector side", async () => {
      const p = (await rr.status()).peers.find((x) => x.address === "10.0.0.2");
      return p?.state !== "Established";
    });
    t.match(await kernelRoutes(n1), "10.244.2.0/26 via 10.0.0.2", "node1 still forwards to node2 (stale)");
    const again = await startTortie(kit, n2, nodeConfig(2, true), "node2-again");
    await again.daemon.waitForOutput(/keeping the routes a previous run installed/);
    await again.waitState(RR, "Established", 20_000);
    await again.daemon.waitForOutput(/purging the routes that stayed stale/, 40_000);
    t.ok(ping.running, "the restart finished while the flood was still running");
    await ping.waitForExit(60_000);
    const summary = /(\d+) packets transmitted, (\d+) received/.exec(ping.output());
    t.ok(summary, ping.output());
    const lost = Number(summary?.[1]) - Number(summary?.[2]);
    t.equal(Number(summary?.[1]), count);
    t.equal(lost, 0, `packets lost during the restart: ${lost}`);
    t.match(await kernelRoutes(n2), "10.244.1.0/26 via 10.0.0.1", "node2 relearned node1's block");
  });

  await t.test("a node that stops answering is withdrawn everywhere within the hold time", async (t) => {
    // SIGSTOP: no FIN, no NOTIFICATION, no keepalives: only the hold timer can tell.
    s3.daemon.signal("SIGSTOP");
    const deadline = (HOLD + 2) * 1000;
    await waitFor(
      "node3's block gone from node1, the reflector and the ToR",
      async () =>
        !(await kernelRoutes(n1)).includes("10.244.3.0/26") &&
        !(await kernelRoutes(rrNs)).includes("10.244.3.0/26") &&
        !(await tor.birdc("show route")).includes("10.244.3.0/26"),
      { timeoutMs: deadline },
    );
    s3.daemon.signal("SIGCONT");
    t.pass("withdrawn within the hold time (plus a second for the reflector to pass it on)");
  });
});
