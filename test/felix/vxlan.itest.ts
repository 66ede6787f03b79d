/**
 * VXLAN per IPPool with BGP off (nodeToNodeMeshEnabled: false): three node namespaces on one bridge,
 * n1 and n2 in 10.0.0.0/24, n3 in 10.0.1.0/24. `tortie node run` in each, the file datastore, pods
 * wired by the installed CNI plugin. Always: every node pair tunnels; CrossSubnet: n1↔n2 routed
 * natively, n1↔n3 tunnelled. An nft ingress counter of UDP 4789 on each node's underlay link tells
 * which. A neighbour entry deleted by hand comes back at the next resync.
 */
import { join } from "node:path";
import t from "tap";
import { run } from "../../core/exec.js";
import type { Netns } from "../../core/netns.js";
import { openDatastore, type Datastore } from "../../datastore/index.js";
import type { NodeStatusView } from "../../felix/agent.js";
import { cni } from "../cni/harness.js";
import { Kit, type Daemon } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { CLI, spawnAgent } from "./harness.js";

interface Node {
  readonly name: string;
  readonly ns: Netns;
  readonly ip: string;
  readonly confDir: string;
  readonly binDir: string;
  agent?: Daemon;
}

interface Pod {
  readonly ns: Netns;
  readonly ip: string;
}

/** UDP 4789 packets that arrived on a node's eth0 (counted at ingress, before anything else sees them). */
async function vxlanPackets(n: Node): Promise<number> {
  const out = await n.ns.exec("nft", ["list", "chain", "netdev", "vxtest", "in"]);
  return Number(/udp dport 4789 counter packets (\d+)/.exec(out)?.[1] ?? NaN);
}

t.test("VXLAN per pool: Always, CrossSubnet, neighbour repair, BGP off", async (t) => {
  const kit = Kit.create(t);
  const store = kit.dir("store");
  const datastore = `file:${store}`;
  const sw = await kit.netns("sw");
  await sw.ip(["link", "add", "br0", "type", "bridge"]);
  await sw.up("br0");
  const plan = [
    ["n1", "10.0.0.1/24", "10.0.1.0/24"],
    ["n2", "10.0.0.2/24", "10.0.1.0/24"],
    ["n3", "10.0.1.3/24", "10.0.0.0/24"],
  ] as const;
  const nodes: Node[] = [];
  for (const [name, ip, other] of plan) {
    const ns = await kit.netns(name);
    await ns.up("lo");
    await kit.veth(ns, "eth0", sw, `p-${name}`);
    await sw.ip(["link", "set", `p-${name}`, "master", "br0", "up"]);
    await ns.addr("eth0", ip);
    // The other subnet is on the same wire (no router needed); a default route lets proxy ARP answer pods.
    await ns.route([other, "dev", "eth0"]);
    await ns.route(["default", "via", ip.startsWith("10.0.0.") ? "10.0.0.254" : "10.0.1.254", "dev", "eth0"]);
    // Strict reverse-path filtering where the agent must relax it on its own links.
    await ns.sysctl("net.ipv4.conf.all.rp_filter", "1");
    await ns.exec("nft", ["-f", "-"], {
      input:
        "table netdev vxtest {\n chain in {\n type filter hook ingress device eth0 priority 0;\n udp dport 4789 counter\n }\n}\n",
    });
    nodes.push({ name, ns, ip, confDir: kit.dir(`net.d-${name}`), binDir: kit.dir(`bin-${name}`) });
  }
  const [n1, n2, n3] = nodes as [Node, Node, Node];

  const ds: Datastore = await openDatastore(datastore);
  t.teardown(() => ds.close());
  await ds.create("BGPConfiguration", {
    apiVersion: "tortie.io/v1",
    kind: "BGPConfiguration",
    metadata: { name: "default" },
    spec: { nodeToNodeMeshEnabled: false },
  });
  await ds.create("IPPool", {
    apiVersion: "tortie.io/v1",
    kind: "IPPool",
    metadata: { name: "pods" },
    spec: { cidr: "10.244.0.0/16", vxlanMode: "Always" },
  });
  for (const n of nodes)
    n.agent = spawnAgent(kit, n.ns, {
      datastore,
      node: n.name,
      control: join(kit.dir(`run-${n.name}`), "node.sock"),
      flags: ["--resync-interval", "1"],
      env: { TORTIE_IP: n.ip },
    });
  // Each node its own bin directory, so the installs can run side by side.
  await Promise.all(
    nodes.map((n) =>
      run(process.execPath, [
        CLI,
        "cni",
        "install",
        "--mtu",
        "1450",
        "--node-name",
        n.name,
        "--datastore",
        datastore,
        "--dir",
        n.binDir,
        "--conf-dir",
        n.confDir,
      ]),
    ),
  );
  t.teardown(() => {
    if (t.passing()) return;
    for (const n of nodes) t.comment(`== ${n.name}\n${n.agent?.output().slice(-4000) ?? ""}`);
  });

  // Each agent gets a tunnel address from IPAM and publishes its VTEP on its Node.
  const vteps = await waitFor(
    "every node's VTEP published",
    async () => {
      for (const n of nodes)
        if (n.agent && !n.agent.running) throw new Error(`agent exited: ${n.agent.output()}`);
      const all = await Promise.all(nodes.map((n) => ds.get("Node", n.name)));
      const v = all.map((o) => ({
        addr: o.metadata.annotations?.["tortie.io/ipv4-vxlan-tunnel-addr"],
        mac: o.metadata.annotations?.["tortie.io/vxlan-tunnel-mac"],
      }));
      return v.every((x) => x.addr && x.mac) ? v : false;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );
  for (const v of vteps) t.match(v.addr, /^10\.244\.\d+\.\d+$/, "tunnel address from the VXLAN pool");
  const handles = (await ds.list("IPAMHandle")).items.map((h) => h.metadata.name);
  t.ok(handles.includes("vxlan-tunnel-addr-n1"), "allocated through IPAM with Calico's handle name");
  const dev = await waitFor(
    "vxlan.tortie on n1",
    async () => {
      const out = await n1.ns.ip(["-d", "link", "show", "vxlan.tortie"]).catch(() => "");
      return out.includes("vxlan id 4096") ? out : false;
    },
    { timeoutMs: 10_000 },
  );
  t.match(dev, /mtu 1450/, "device MTU = underlay 1500 - 50");
  t.match(dev, /local 10\.0\.0\.1/);
  t.match(dev, /dstport 4789/);
  t.match(dev, /nolearning/);
  t.match(dev, new RegExp(`link/ether ${vteps[0]?.mac ?? "?"}`), "the published MAC");
  // The address goes on after the link is made: wait for it rather than race the agent.
  const addr = await waitFor(
    "tunnel address on vxlan.tortie",
    async () => {
      const out = await n1.ns.ip(["addr", "show", "dev", "vxlan.tortie"]).catch(() => "");
      return out.includes(" inet ") ? out : false;
    },
    { timeoutMs: 10_000 },
  );
  t.match(addr, `inet ${vteps[0]?.addr ?? "?"}/32`, "the published tunnel address on the device");

  const addPod = async (n: Node, name: string, annotations: Record<string, string> = {}): Promise<Pod> => {
    const podNs = await kit.netns(`pod-${name}`);
    await ds.create("Pod", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: "default", annotations },
      spec: { nodeName: n.name, containers: [{ name: "c" }] },
    });
    const conflist = JSON.parse(await run("cat", [join(n.confDir, "10-tortie.conflist")])) as {
      cniVersion: string;
      name: string;
      plugins: Record<string, unknown>[];
    };
    const conf = { cniVersion: conflist.cniVersion, name: conflist.name, ...conflist.plugins[0] };
    const r = await cni(
      n.ns,
      join(n.binDir, "tortie"),
      "ADD",
      conf,
      { ns: podNs, name, id: `c-${name}` },
      n.binDir,
    );
    if (r.code !== 0) throw new Error(`CNI ADD of ${name} failed: ${r.out}`);
    const ips = r.json["ips"] as { address: string }[] | undefined;
    const ip = (ips?.[0]?.address ?? "").split("/")[0] ?? "";
    return { ns: podNs, ip };
  };
  const [a, b, c] = await Promise.all([addPod(n1, "a"), addPod(n2, "b"), addPod(n3, "c")]);
  t.match(await a.ns.ip(["link", "show", "eth0"]), /mtu 1450/, "pod MTU from the CNI mtu key");
  for (const p of [b, c]) kit.spawn(p.ns, "socat", ["TCP-LISTEN:8080,fork,reuseaddr", "SYSTEM:echo ok"]);

  const ping = (from: Pod, to: Pod) => from.ns.exec("ping", ["-c1", "-W1", to.ip]).then(() => true);
  const tcp = async (from: Pod, to: Pod): Promise<boolean> =>
    (
      await from.ns.exec("socat", ["-T2", "-", `TCP:${to.ip}:8080,connect-timeout=1`], { timeoutMs: 4000 })
    ).trim() === "ok";
  /** Runs `fn` and returns how many VXLAN packets arrived at `at` meanwhile. */
  const tunnelled = async (at: Node, fn: () => Promise<unknown>): Promise<number> => {
    const before = await vxlanPackets(at);
    await fn();
    return (await vxlanPackets(at)) - before;
  };

  // Always: both pairs tunnel.
  await waitFor("a pings b (same subnet)", () => ping(a, b), { timeoutMs: 20_000 });
  await waitFor("a pings c (other subnet)", () => ping(a, c), { timeoutMs: 20_000 });
  t.ok(await tcp(a, b), "TCP a → b");
  t.ok(await tcp(a, c), "TCP a → c");
  // The node itself reaches a remote pod too: its packets leave from the tunnel address.
  await n1.ns.exec("ping", ["-c1", "-W2", c.ip]);
  t.pass("node n1 → pod c on n3 over the tunnel");
  t.ok((await tunnelled(n2, () => ping(a, b))) >= 1, "Always: a → b arrives at n2 as UDP 4789");
  t.ok((await tunnelled(n3, () => ping(a, c))) >= 1, "Always: a → c arrives at n3 as UDP 4789");
  const routes1 = await n1.ns.ip(["route", "show", "proto", "201"]);
  t.match(
    routes1,
    /10\.244\.\d+\.\d+\/26 via 10\.244\.\d+\.\d+ dev vxlan\.tortie onlink/,
    "block via VTEP onlink",
  );
  t.notMatch(routes1, /via 10\.0\.0\.2 dev eth0/, "no native route under Always");
  t.match(
    await n1.ns.exec("bridge", ["fdb", "show", "dev", "vxlan.tortie"]),
    new RegExp(`${vteps[2]?.mac ?? "?"} dst 10\\.0\\.1\\.3 self permanent`),
    "FDB: n3's MAC → n3's address",
  );
  const st = JSON.parse(
    await run(process.execPath, [
      CLI,
      "node",
      "status",
      "--json",
      "--control",
      join(kit.dir("run-n1"), "node.sock"),
    ]),
  ) as NodeStatusView;
  t.same(
    st.vxlan?.vteps.map((v) => [v.node, v.tunnel, v.mac, v.underlay]),
    [
      ["n2", vteps[1]?.addr, vteps[1]?.mac, "10.0.0.2"],
      ["n3", vteps[2]?.addr, vteps[2]?.mac, "10.0.1.3"],
    ],
    "tortie node status lists the remote VTEPs",
  );
  t.equal(st.vxlan?.address, vteps[0]?.addr, "and this node's tunnel address");
  t.equal(
    (await n1.ns.exec("sysctl", ["-n", "net.ipv4.conf.vxlan/tortie.rp_filter"])).trim(),
    "2",
    "rp_filter loose on vxlan.tortie (all is strict)",
  );

  // A neighbour entry deleted by hand is back at the next resync (1 s).
  const n3Vtep = vteps[2]?.addr ?? "?";
  await n1.ns.ip(["neigh", "del", n3Vtep, "dev", "vxlan.tortie"]);
  await waitFor(
    "n1's neighbour entry for n3 repaired",
    async () =>
      (await n1.ns.ip(["neigh", "show", "dev", "vxlan.tortie"])).includes(
        `${n3Vtep} lladdr ${vteps[2]?.mac ?? "?"} PERMANENT`,
      ),
    { timeoutMs: 10_000 },
  );
  t.pass("a deleted neighbour entry comes back");
  t.match(
    await n1.ns.exec("curl", ["-s", "http://127.0.0.1:9099/metrics"]),
    /tortie_felix_drift_repairs_total\{what="vxlan"\} [1-9]/,
    "the repair is counted",
  );
  await n1.ns.exec("bridge", [
    "fdb",
    "del",
    vteps[2]?.mac ?? "?",
    "dev",
    "vxlan.tortie",
    "dst",
    "10.0.1.3",
    "self",
  ]);
  await waitFor(
    "n1's FDB entry for n3 repaired",
    async () => (await n1.ns.exec("bridge", ["fdb", "show", "dev", "vxlan.tortie"])).includes("dst 10.0.1.3"),
    { timeoutMs: 10_000 },
  );
  t.ok(await tcp(a, c), "TCP a → c after the repairs");

  // A one-block VXLAN pool: n1 claims the block, n3's pod borrows from it. Every other node routes
  // that address as a /32 to n3's VTEP, n1 too (over its own blackhole for the block).
  await ds.create("IPPool", {
    apiVersion: "tortie.io/v1",
    kind: "IPPool",
    metadata: { name: "tiny" },
    spec: { cidr: "10.245.0.0/26", blockSize: 26, vxlanMode: "Always" },
  });
  const tiny = { "ipam.tortie.io/ipv4pools": '["tiny"]' };
  const x = await addPod(n1, "x", tiny);
  const y = await addPod(n3, "y", tiny);
  t.match(`${x.ip} ${y.ip}`, /^10\.245\.0\.\d+ 10\.245\.0\.\d+$/, "y borrowed from n1's block");
  const n3Tunnel = (vteps[2]?.addr ?? "?").replace(/\./g, "\\.");
  for (const n of [n1, n2])
    await waitFor(`${n.name} routes y's /32 to n3's VTEP`, async () =>
      new RegExp(`${y.ip.replace(/\./g, "\\.")} via ${n3Tunnel} dev vxlan\\.tortie onlink`).test(
        await n.ns.ip(["route", "show", "proto", "201"]),
      ),
    );
  await waitFor("x pings the borrowed y", () => ping(x, y), { timeoutMs: 10_000 });
  await waitFor("b pings the borrowed y", () => ping(b, y), { timeoutMs: 10_000 });
  t.pass("a borrowed address is reached over the tunnel from its block's owner and from a third node");

  // CrossSubnet: n1 ↔ n2 native, n1 ↔ n3 still tunnelled.
  const pool = await ds.get("IPPool", "pods");
  await ds.update("IPPool", { ...pool, spec: { ...pool.spec, vxlanMode: "CrossSubnet" } });
  await waitFor(
    "n1 routes n2's block natively",
    async () =>
      /10\.244\.\d+\.\d+\/26 via 10\.0\.0\.2 dev eth0/.test(
        await n1.ns.ip(["route", "show", "proto", "201"]),
      ),
    { timeoutMs: 10_000 },
  );
  await waitFor("a pings b natively", () => ping(a, b), { timeoutMs: 10_000 });
  t.ok(await tcp(a, b), "TCP a → b (CrossSubnet, same subnet)");
  t.ok(await tcp(a, c), "TCP a → c (CrossSubnet, other subnet)");
  t.equal(await tunnelled(n2, () => ping(a, b)), 0, "CrossSubnet: a → b is not encapsulated");
  t.ok((await tunnelled(n3, () => ping(a, c))) >= 1, "CrossSubnet: a → c still arrives as UDP 4789");
  t.notMatch(
    await n1.ns.ip(["neigh", "show", "dev", "vxlan.tortie"]),
    new RegExp(`${(vteps[1]?.addr ?? "?").replace(/\./g, "\\.")} `),
    "no neighbour entry for a same-subnet node",
  );

  // Never: the device, the routes over it and the tunnel address go (IPAM handle released).
  const tinyPool = await ds.get("IPPool", "tiny");
  await ds.update("IPPool", { ...tinyPool, spec: { ...tinyPool.spec, vxlanMode: "Never" } });
  const cross = await ds.get("IPPool", "pods");
  await ds.update("IPPool", { ...cross, spec: { ...cross.spec, vxlanMode: "Never" } });
  await waitFor(
    "n1's VXLAN device removed and its tunnel address released",
    async () => {
      const gone = !(await n1.ns.ip(["link", "show"])).includes("vxlan.tortie");
      const ann = (await ds.get("Node", "n1")).metadata.annotations ?? {};
      const handles = (await ds.list("IPAMHandle")).items.map((h) => h.metadata.name);
      return (
        gone &&
        ann["tortie.io/ipv4-vxlan-tunnel-addr"] === undefined &&
        !handles.includes("vxlan-tunnel-addr-n1")
      );
    },
    { timeoutMs: 10_000 },
  );
  t.notMatch(await n1.ns.ip(["route", "show", "proto", "201"]), /vxlan\.tortie/, "no route over the tunnel");
});
