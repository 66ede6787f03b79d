/**
 * Two nodes on one link, the file datastore, `tortie node run` in each node namespace, pods wired by
 * the installed CNI plugin: cross-node reachability over BGP-learned routes, policy within a second,
 * drift repaired at resync, a restart under a running TCP stream, metrics.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { run } from "../../core/exec.js";
import type { Netns } from "../../core/netns.js";
import { openDatastore, type Datastore, type StoredObject } from "../../datastore/index.js";
import type { NodeStatusView } from "../../felix/agent.js";
import { Kit, type Daemon } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { CLI, spawnAgent } from "./harness.js";

interface NodeUnderTest {
  readonly name: string;
  readonly ns: Netns;
  readonly ip: string;
  readonly control: string;
  readonly confDir: string;
  agent: Daemon | undefined;
}

async function status(n: NodeUnderTest): Promise<NodeStatusView> {
  return JSON.parse(
    await run(process.execPath, [CLI, "node", "status", "--control", n.control, "--json"]),
  ) as NodeStatusView;
}

t.test("two nodes: pods across nodes, policy, resync, restart, metrics", async (t) => {
  const kit = Kit.create(t);
  const store = kit.dir("store");
  const datastore = `file:${store}`;
  const binDir = kit.dir("bin");
  const nodes: NodeUnderTest[] = [];
  for (const [i, name] of ["n1", "n2"].entries()) {
    const ns = await kit.netns(name);
    await ns.up("lo");
    nodes.push({
      name,
      ns,
      ip: `10.0.0.${i + 1}`,
      control: join(kit.dir(`run-${name}`), "node.sock"),
      confDir: kit.dir(`net.d-${name}`),
      agent: undefined,
    });
  }
  const [n1, n2] = nodes as [NodeUnderTest, NodeUnderTest];
  await kit.veth(n1.ns, "eth0", n2.ns, "eth0");
  for (const n of nodes) {
    await n.ns.addr("eth0", `${n.ip}/24`);
    // A node has a default route (proxy ARP answers the pods' gateway only for what the node can route).
    await n.ns.route(["default", "via", "10.0.0.254", "dev", "eth0"]);
  }

  const ds: Datastore = await openDatastore(datastore);
  t.teardown(() => ds.close());
  await ds.create("IPPool", {
    apiVersion: "tortie.io/v1",
    kind: "IPPool",
    metadata: { name: "pods" },
    spec: { cidr: "10.244.0.0/16", natOutgoing: true },
  });
  for (const n of nodes)
    await run(process.execPath, [
      CLI,
      "cni",
      "install",
      "--dir",
      binDir,
      "--conf-dir",
      n.confDir,
      "--datastore",
      datastore,
      "--node-name",
      n.name,
    ]);

  const cniSocket = join(kit.dir("run-n2"), "cni.sock");
  const start = (n: NodeUnderTest): Daemon => {
    n.agent = spawnAgent(kit, n.ns, {
      datastore,
      node: n.name,
      control: n.control,
      flags: [
        "--resync-interval",
        "1",
        // n2's pods are wired by the agent (the CNI executable hands its call over); n1's by the plugin itself.
        ...(n === n2 ? ["--cni-socket", cniSocket] : []),
      ],
      env: { TORTIE_IP: `${n.ip}/24` },
    });
    return n.agent;
  };
  for (const n of nodes) start(n);
  const ready = (n: NodeUnderTest, timeoutMs = 20_000) =>
    waitFor(
      `${n.name} ready`,
      async () => {
        if (n.agent && !n.agent.running) throw new Error(`agent exited: ${n.agent.output()}`);
        const s = await status(n);
        return s.ready ? s : false;
      },
      { timeoutMs, intervalMs: 100 },
    );
  for (const n of nodes) await ready(n);
  t.pass("both agents ready: dataplane programmed, BGP Established");
  t.match(
    readFileSync(`/proc/${n1.agent?.pid ?? 0}/cmdline`, "utf8").split("\0"),
    [process.execPath, /^--v8-pool-size=\d+$/],
    "the agent restarted itself in place with V8's worker pool sized to the machine",
  );
  t.equal(
    (await ds.get("Node", "n1")).metadata.annotations?.["tortie.io/ipv4-address"],
    "10.0.0.1/24",
    "the agent records its address in its Node",
  );

  // Pods: the Pod object first, then the CNI ADD in the node's namespace, then the Pod's IPs.
  const pods = new Map<string, { ns: Netns; ip: string }>();
  const addPod = async (
    n: NodeUnderTest,
    name: string,
    labels: Record<string, string>,
    annotations: Record<string, string> = {},
  ) => {
    const podNs = await kit.netns(`pod-${name}`);
    await ds.create("Pod", {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: "default", labels, annotations },
      spec: { nodeName: n.name, containers: [{ name: "c" }] },
    });
    const conflist = JSON.parse(await run("cat", [join(n.confDir, "10-tortie.conflist")])) as {
      cniVersion: string;
      name: string;
      plugins: Record<string, unknown>[];
    };
    const conf = {
      cniVersion: conflist.cniVersion,
      name: conflist.name,
      ...conflist.plugins[0],
      ...(n === n2 ? { agentSocket: cniSocket } : {}),
    };
    const out = await run("ip", ["netns", "exec", n.ns.name, join(binDir, "tortie")], {
      input: JSON.stringify(conf),
      env: {
        PATH: process.env["PATH"] ?? "/usr/bin:/bin",
        CNI_COMMAND: "ADD",
        CNI_PATH: binDir,
        CNI_CONTAINERID: `c-${name}`,
        CNI_IFNAME: "eth0",
        CNI_NETNS: `/var/run/netns/${podNs.name}`,
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=c-${name}`,
      },
    });
    const ip =
      ((JSON.parse(out) as { ips: { address: string }[] }).ips[0]?.address ?? "").split("/")[0] ?? "";
    const pod = await ds.get("Pod", name, "default");
    await ds.update("Pod", { ...pod, status: { podIP: ip, podIPs: [{ ip }] } });
    pods.set(name, { ns: podNs, ip });
    return { ns: podNs, ip };
  };
  // With --cni-socket the agent claims its node's block at start, so the ADD does not wait for a claim.
  await n2.agent?.waitForOutput(/"mode":"background","node":"n2","msg":"block claimed"/);
  const a = await addPod(n1, "a", { app: "a" });
  const b = await addPod(n2, "b", { app: "b" });
  t.match(a.ip, /^10\.244\./);
  t.match(n2.agent?.output() ?? "", /"command":"ADD"[^\n]*"code":0/, "n2's agent wired pod b (--cni-socket)");
  t.notMatch(
    n2.agent?.output() ?? "",
    /"inlineClaims"|"mode":"inline"/,
    "pod b's ADD claimed no block itself",
  );
  t.notMatch(n1.agent?.output() ?? "", /"command":"ADD"/, "n1's plugin wired pod a itself");

  const dump = async (): Promise<string> => {
    const parts: string[] = [];
    for (const n of nodes) {
      parts.push(`== ${n.name} routes\n${await n.ns.ip(["route"])}`);
      parts.push(`== ${n.name} agent\n${n.agent?.output().slice(-3000) ?? ""}`);
    }
    return parts.join("\n");
  };
  t.teardown(async () => {
    if (t.passing() && !process.env["FELIX_DUMP"]) return;
    t.comment(await dump().catch((e: unknown) => String(e)));
  });
  await waitFor(
    "pod a to ping pod b on the other node",
    () => a.ns.exec("ping", ["-c1", "-W1", b.ip]).then(() => true),
    {
      timeoutMs: 20_000,
    },
  );
  t.pass("pods reach each other across nodes");

  // A pool of one block: n1 claims it, so n2's pod borrows an address from n1's block. n2 advertises
  // that address as a /32, which beats n1's blackhole for its own block (Calico does the same).
  await ds.create("IPPool", {
    apiVersion: "tortie.io/v1",
    kind: "IPPool",
    metadata: { name: "tiny" },
    spec: { cidr: "10.245.0.0/26", blockSize: 26 },
  });
  const tiny = { "ipam.tortie.io/ipv4pools": '["tiny"]' };
  const x = await addPod(n1, "x", { app: "x" }, tiny);
  const y = await addPod(n2, "y", { app: "y" }, tiny);
  t.match(x.ip, /^10\.245\.0\./, "x from n1's block of the tiny pool");
  t.match(y.ip, /^10\.245\.0\./, "y borrowed from the same block");
  await waitFor("n1 learns y's /32 from n2", async () =>
    new RegExp(`${y.ip.replace(/\./g, "\\.")} via 10\\.0\\.0\\.2`).test(
      await n1.ns.ip(["route", "show", "proto", "201"]),
    ),
  );
  t.match(
    await n1.ns.ip(["route", "show", "proto", "201"]),
    /blackhole 10\.245\.0\.0\/26/,
    "n1 owns the block",
  );
  await waitFor("x pings y across nodes", () => x.ns.exec("ping", ["-c1", "-W1", y.ip]).then(() => true));
  await waitFor("y pings a", () => y.ns.exec("ping", ["-c1", "-W1", a.ip]).then(() => true));
  t.pass("a borrowed address is reachable from the block owner's node");
  const s1 = await status(n1);
  const bBlock = s1.routes.in.find((r) => r.nextHops.includes("10.0.0.2"))?.prefix ?? "";
  t.match(bBlock, /^10\.244\.\d+\.\d+\/26$/, "n1 learned n2's block from n2");
  t.same(
    s1.localEndpoints.map((e) => e.pod),
    ["a", "x"],
  );
  const kernel1 = await n1.ns.ip(["route", "show", "proto", "201"]);
  t.match(
    kernel1,
    new RegExp(`${bBlock.replace(/\./g, "\\.")} via 10\\.0\\.0\\.2`),
    "BGP route in the kernel",
  );
  t.match(kernel1, /blackhole 10\.244\./, "blackhole for the node's own block");
  t.match(kernel1, new RegExp(`${a.ip.replace(/\./g, "\\.")} dev tort`), "host route to the local pod");
  t.match(
    await n1.ns.exec("nft", ["list", "table", "inet", "tortie-nat"]),
    /masquerade/,
    "masquerade for the NAT pool",
  );
  t.match(
    await run(process.execPath, [CLI, "node", "status", "--control", n1.control]),
    /10\.0\.0\.2 +64512 +Established/,
  );

  // Restart n1's agent under a running TCP stream from a (on n1) to b (on n2).
  kit.spawn(b.ns, "socat", ["TCP-LISTEN:9090,reuseaddr", "EXEC:cat"], { name: "echo-b" });
  const client = kit.spawn(
    a.ns,
    process.execPath,
    [
      "-e",
      `const s=require("net").connect(9090,${JSON.stringify(b.ip)});let n=0,buf="";` +
        `s.on("connect",()=>setInterval(()=>s.write("x\\n"),20));` +
        `s.on("data",d=>{for(const c of d.toString())if(c==="\\n")n++;console.log("echo "+n)});` +
        `s.on("error",e=>{console.log("ERROR "+e.message);process.exit(1)});s.on("close",()=>{console.log("CLOSED");process.exit(1)});`,
    ],
    { name: "stream-a" },
  );
  const echoes = (): number => Number(/echo (\d+)\n(?![\s\S]*echo)/.exec(client.output())?.[1] ?? 0);
  await waitFor("the stream to flow", () => echoes() > 10, { timeoutMs: 10_000 });
  n1.agent?.signal("SIGTERM");
  await n1.agent?.waitForExit(10_000);
  t.match(
    await n1.ns.ip(["route", "show", "proto", "201"]),
    bBlock.split("/")[0] ?? "",
    "routes stay after SIGTERM",
  );
  t.match(await n1.ns.exec("nft", ["list", "tables"]), /inet tortie\b/, "nftables stay after SIGTERM");
  const before = echoes();
  start(n1);
  await ready(n1);
  await waitFor("the stream to go on after the restart", () => echoes() > before + 50, { timeoutMs: 10_000 });
  t.ok(client.running, "the TCP connection survived the agent restart");
  t.notMatch(client.output(), /ERROR|CLOSED/);
  await client.stop();

  // A NetworkPolicy takes effect within one second.
  kit.spawn(b.ns, "socat", ["TCP-LISTEN:8080,fork,reuseaddr", "SYSTEM:echo ok"], { name: "web-b" });
  const probe = async (from: Netns, ip: string): Promise<boolean> => {
    try {
      return (
        await from.exec("socat", ["-T1", "-", `TCP:${ip}:8080,connect-timeout=0.3`], { timeoutMs: 2000 })
      ).includes("ok");
    } catch {
      return false;
    }
  };
  await waitFor("a to reach b:8080 without policy", () => probe(a.ns, b.ip), { timeoutMs: 10_000 });
  const policy: StoredObject = {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "b-from-clients", namespace: "default" },
    spec: {
      podSelector: { matchLabels: { app: "b" } },
      ingress: [{ from: [{ podSelector: { matchLabels: { role: "client" } } }], ports: [{ port: 8080 }] }],
    },
  };
  // A prober inside pod a tries a new connection every 20 ms (150 ms timeout) and prints each
  // outcome with the time it was known: the first failure after the write is when the policy held.
  const prober = kit.spawn(
    a.ns,
    process.execPath,
    [
      "-e",
      `const net=require("net");const go=()=>{const s=net.connect(8080,${JSON.stringify(b.ip)});` +
        `const done=r=>{clearTimeout(t);s.destroy();console.log(r+" "+Date.now());setTimeout(go,20)};` +
        `const t=setTimeout(()=>done("fail"),150);s.once("data",()=>done("ok"));s.once("error",()=>done("fail"))};go();`,
    ],
    { name: "prober-a" },
  );
  const firstAfter = (what: "ok" | "fail", after: number): number | false => {
    for (const m of prober.output().matchAll(/^(ok|fail) (\d+)$/gm))
      if (m[1] === what && Number(m[2]) > after) return Number(m[2]) - after;
    return false;
  };
  await waitFor("the prober to connect", () => firstAfter("ok", 0), { timeoutMs: 5000 });
  const written = Date.now();
  await ds.create("KubernetesNetworkPolicy", policy as never);
  const blockedMs = await waitFor("the policy to block a → b", () => firstAfter("fail", written), {
    timeoutMs: 5000,
  });
  t.ok(blockedMs < 1000, `connections refused ${blockedMs} ms after the policy was written`);
  const podA = await ds.get("Pod", "a", "default");
  const relabelled = Date.now();
  await ds.update("Pod", { ...podA, metadata: { ...podA.metadata, labels: { app: "a", role: "client" } } });
  const openMs = await waitFor("a labelled client to reach b again", () => firstAfter("ok", relabelled), {
    timeoutMs: 5000,
  });
  t.ok(openMs < 1000, `connections accepted again ${openMs} ms after the label change`);
  await prober.stop();
  t.pass("a label change opens the way within a second");

  // Drift: a route and an nft rule deleted by hand come back at the next resync.
  await n1.ns.ip(["route", "del", bBlock]);
  await waitFor(
    "the deleted route to come back",
    async () => (await n1.ns.ip(["route", "show", bBlock])).includes("via 10.0.0.2"),
    {
      timeoutMs: 5000,
    },
  );
  await n2.ns.exec("nft", ["flush", "chain", "inet", "tortie", "forward"]);
  await n1.ns.exec("nft", ["delete", "table", "inet", "tortie-nat"]);
  await waitFor(
    "the flushed chain to be refilled",
    async () =>
      (await n2.ns.exec("nft", ["list", "chain", "inet", "tortie", "forward"])).includes("to-endpoint"),
    { timeoutMs: 5000 },
  );
  await waitFor(
    "the deleted NAT table to come back",
    async () => (await n1.ns.exec("nft", ["list", "tables"])).includes("tortie-nat"),
    { timeoutMs: 5000 },
  );
  t.pass("route and nft drift repaired by the resync");

  // Metrics: sessions, routes, endpoints, policies, sets, rules, latency, drops.
  const podAnow = await ds.get("Pod", "a", "default");
  await ds.update("Pod", { ...podAnow, metadata: { ...podAnow.metadata, labels: { app: "a" } } });
  await waitFor("a blocked again", async () => !(await probe(a.ns, b.ip)), {
    timeoutMs: 2000,
    intervalMs: 20,
  });
  const metrics = await waitFor(
    "metrics with a drop counted",
    async () => {
      const m = await n2.ns.exec("curl", ["-sf", "http://127.0.0.1:9099/metrics"]);
      return (
        /tortie_felix_policy_dropped_packets\{policy="NetworkPolicy default\/b-from-clients"\} [1-9]/.test(
          m,
        ) && m
      );
    },
    { timeoutMs: 5000 },
  );
  t.match(metrics, /tortie_felix_bgp_session_state\{peer="10\.0\.0\.1",state="Established"\} 1/);
  // From n1: its block of each pool (n2's borrowed /32 is n2's own).
  t.match(metrics, /tortie_felix_bgp_routes\{peer="10\.0\.0\.1",direction="received"\} 2/);
  t.match(metrics, /tortie_felix_routes\{kind="learned"\} 2/);
  t.match(metrics, /nodejs_gc_duration_seconds_bucket/, "the process's own metrics (GC pauses)");
  t.match(metrics, /tortie_felix_local_endpoints 2/, "b and the borrowing y");
  t.match(metrics, /tortie_felix_policies 1/);
  t.match(metrics, /tortie_felix_policy_sets [1-9]/);
  t.match(metrics, /tortie_felix_policy_rules [1-9]/);
  t.match(metrics, /# TYPE tortie_ipam_block_claims_total counter/, "the CNI server's block claims by mode");
  t.notMatch(metrics, /tortie_ipam_block_claims_total\{mode="inline"\} [1-9]/, "none inline");
  t.match(metrics, /tortie_felix_programming_seconds_count\{what="event"\} [1-9]/);
  t.match(metrics, /tortie_felix_ready 1/);
  t.match(metrics, /tortie_felix_datastore_up 1/);
  t.match(metrics, /tortie_felix_datastore_watch_lag_seconds \d/);
  t.match(metrics, /tortie_felix_drift_repairs_total\{what="nft"\} [1-9]|tortie_felix_resyncs_total [1-9]/);
  t.equal(
    (
      await n2.ns.exec("curl", [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "http://127.0.0.1:9099/readiness",
      ])
    ).trim(),
    "200",
  );
  t.equal((await n2.ns.exec("curl", ["-s", "http://127.0.0.1:9099/liveness"])).trim(), '{"ok":true}');

  // A Calico GlobalNetworkSet through the datastore: an extended policy's rule that selects it by
  // label lets in the addresses it holds (here a's), and nothing once it is gone.
  await ds.create("NetworkPolicy", {
    apiVersion: "tortie.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "b-from-trusted", namespace: "default" },
    spec: {
      selector: "app == 'b'",
      types: ["Ingress"],
      ingress: [
        {
          action: "Allow",
          protocol: "TCP",
          source: { namespaceSelector: "global()", selector: "trust == 'yes'" },
          destination: { ports: [8080] },
        },
      ],
    },
  });
  const trusted = {
    apiVersion: "tortie.io/v1",
    kind: "GlobalNetworkSet",
    metadata: { name: "trusted", labels: { trust: "yes" } },
    spec: { nets: [`${a.ip}/32`] },
  };
  await ds.create("GlobalNetworkSet", { ...trusted, spec: { nets: ["192.0.2.0/24"] } });
  await waitFor("the extended policy to be programmed", async () =>
    (await n2.ns.exec("nft", ["list", "table", "inet", "tortie"])).includes("192.0.2.0/24"),
  );
  t.notOk(await probe(a.ns, b.ip), "a is not in the network set yet");
  const setNow = await ds.get("GlobalNetworkSet", "trusted");
  await ds.update("GlobalNetworkSet", { ...setNow, spec: trusted.spec });
  await waitFor("a, now in the network set, to reach b", () => probe(a.ns, b.ip), { timeoutMs: 5000 });
  await ds.delete("GlobalNetworkSet", "trusted");
  await waitFor("a blocked once the network set is gone", async () => !(await probe(a.ns, b.ip)), {
    timeoutMs: 5000,
  });
  t.pass("a GlobalNetworkSet from the datastore opens and closes the way");

  // Calico's services match through the datastore: b lets in the endpoints of the Service `clients`,
  // which are what its EndpointSlice lists.
  await ds.create("NetworkPolicy", {
    apiVersion: "tortie.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "b-from-clients-service", namespace: "default" },
    spec: {
      selector: "app == 'b'",
      types: ["Ingress"],
      ingress: [{ action: "Allow", source: { services: { name: "clients" } } }],
    },
  });
  await ds.create("EndpointSlice", {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "clients-1",
      namespace: "default",
      labels: { "kubernetes.io/service-name": "clients" },
    },
    addressType: "IPv4",
    endpoints: [{ addresses: [a.ip] }],
    ports: [{ port: 9000 }],
  } as never);
  await waitFor("a, an endpoint of the Service, to reach b", () => probe(a.ns, b.ip), { timeoutMs: 5000 });
  await ds.delete("EndpointSlice", "clients-1", "default");
  await waitFor("a blocked once the slice is gone", async () => !(await probe(a.ns, b.ip)), {
    timeoutMs: 5000,
  });
  t.pass("a Service's EndpointSlice from the datastore opens and closes the way");

  // A Calico Tier through the datastore: a policy in a tier ordered before the default one lets a
  // in although b's default-tier policies do not; moved after the default tier, the tier is never
  // reached (the default tier isolates b and denies), so a Tier update alone closes the way.
  await ds.create("Tier", {
    apiVersion: "tortie.io/v1",
    kind: "Tier",
    metadata: { name: "ops" },
    spec: { order: 50 },
  });
  await ds.create("NetworkPolicy", {
    apiVersion: "tortie.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "ops.b-from-a", namespace: "default" },
    spec: {
      tier: "ops",
      selector: "app == 'b'",
      types: ["Ingress"],
      ingress: [{ action: "Allow", source: { nets: [`${a.ip}/32`] } }],
    },
  });
  await waitFor("a, allowed by the ops tier, to reach b", () => probe(a.ns, b.ip), { timeoutMs: 5000 });
  const ops = await ds.get("Tier", "ops");
  await ds.update("Tier", { ...ops, spec: { order: 2000000 } });
  await waitFor(
    "a blocked once the ops tier comes after the default tier",
    async () => !(await probe(a.ns, b.ip)),
    {
      timeoutMs: 5000,
    },
  );
  await ds.delete("NetworkPolicy", "ops.b-from-a", "default");
  await ds.delete("Tier", "ops");
  t.pass("a Tier from the datastore orders its policies before, then after, the default tier");

  // A Kubernetes AdminNetworkPolicy through the datastore: its Allow is final, before b's own policies.
  await ds.create("AdminNetworkPolicy", {
    apiVersion: "policy.networking.k8s.io/v1alpha1",
    kind: "AdminNetworkPolicy",
    metadata: { name: "a-to-b" },
    spec: {
      priority: 3,
      subject: { pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: "b" } } } },
      ingress: [
        {
          action: "Allow",
          from: [{ pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: "a" } } } }],
        },
      ],
    },
  });
  await waitFor("a, allowed by the AdminNetworkPolicy, to reach b", () => probe(a.ns, b.ip), {
    timeoutMs: 5000,
  });
  await ds.delete("AdminNetworkPolicy", "a-to-b");
  await waitFor("a blocked once it is gone", async () => !(await probe(a.ns, b.ip)), { timeoutMs: 5000 });
  t.pass("an AdminNetworkPolicy from the datastore opens and closes the way");

  // Import is limited to the IP pools: a block n2 originates outside every pool stays out of n1
  // until a pool covers it. The in-pool block written after it is the barrier (one ordered session).
  const block = (name: string, cidr: string) =>
    ds.create("IPAMBlock", {
      apiVersion: "tortie.io/v1",
      kind: "IPAMBlock",
      metadata: { name },
      spec: { cidr, affinity: "host:n2", allocations: [], unallocated: [] },
    });
  const learnedBy = async (n: NodeUnderTest, prefix: string) =>
    (await status(n)).routes.in.some((r) => r.prefix === prefix);
  await block("outside", "10.250.0.0/26");
  await waitFor("n2 to originate the block outside the pools", async () =>
    (await status(n2)).routes.out.includes("10.250.0.0/26"),
  );
  await block("inside", "10.244.200.0/26");
  await waitFor("n1 to learn n2's later in-pool block", () => learnedBy(n1, "10.244.200.0/26"), {
    timeoutMs: 10_000,
  });
  t.notOk(await learnedBy(n1, "10.250.0.0/26"), "a prefix outside every IP pool is not imported from iBGP");
  await ds.create("IPPool", {
    apiVersion: "tortie.io/v1",
    kind: "IPPool",
    metadata: { name: "more" },
    spec: { cidr: "10.250.0.0/16" },
  });
  await waitFor("n1 to import the block once a pool covers it", () => learnedBy(n1, "10.250.0.0/26"), {
    timeoutMs: 10_000,
  });
  t.pass("a new pool widens import without a session reset");

  for (const n of nodes) await n.agent?.stop();
});
