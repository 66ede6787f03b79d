import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { isAlive } from "../../core/proc.js";
import { openDatastore } from "../../datastore/open.js";
import { labMatrix, type LabStatus } from "../../lab/lab.js";
import type { MatrixReport } from "../../lab/matrix.js";
import type { LabState } from "../../lab/state.js";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { TestLab } from "./harness.js";

/**
 * The lab's own machinery, without the node agent (`--no-agent`): the rack, the ToR daemon, pods
 * made by the CNI plugin, the probes, apply, stop/start, and `down` — including after a crash.
 */

const readState = (lab: TestLab) => JSON.parse(readFileSync(join(lab.dir, "state.json"), "utf8")) as LabState;

t.test(
  "a two-node lab without agents: pods through CNI, same-node traffic un-NATed, ToR sessions, down",
  async (t) => {
    const kit = Kit.create(t);
    const lab = new TestLab(kit);
    t.teardown(() => lab.down());

    const up = await lab.ok("up", "--nodes", "2", "--pods-per-node", "2", "--no-agent");
    t.match(up, /summary: 2 node\(s\), 0 BGP session\(s\) up, 2 block\(s\), 4 pod\(s\)/);

    const again = await lab.cli("up", "--no-agent");
    t.equal(again.code, 2, "a second lab over a running one is a user error");
    t.match(again.stderr, /a lab is already up/);

    const st = await lab.json<LabStatus>("status");
    t.same(
      st.nodes.map((n) => [n.name, n.ip, n.agent, n.pods]),
      [
        ["node1", "10.99.0.11/24", "none", 2],
        ["node2", "10.99.0.12/24", "none", 2],
      ],
    );
    t.ok(st.tor.running, "the ToR's bird runs");
    t.same(
      st.tor.sessions.map((s) => s.node),
      ["node1", "node2"],
      "the ToR has one session per node",
    );
    for (const s of st.tor.sessions)
      t.not(s.state, "Established", `with no agent on ${s.node}, its session is not up (${s.state})`);
    t.equal(st.pods.length, 4);
    for (const p of st.pods) {
      t.match(p.ip, /^10\.244\.\d+\.\d+$/, `${p.pod} has a pool address`);
      t.ok(p.server, `${p.pod}'s server runs`);
    }
    t.equal(new Set(st.pods.map((p) => p.ip)).size, 4, "every pod has its own address");
    for (const n of st.nodes) t.equal(n.blocks.length, 1, `${n.name} holds one /26 block`);

    // The Pod objects carry what the CNI plugin assigned, as a kubelet would write them.
    const ds = await openDatastore(`file:${join(lab.dir, "datastore")}`);
    t.teardown(() => ds.close());
    for (const p of st.pods) {
      const [ns, name] = p.pod.split("/") as [string, string];
      const obj = await ds.get("Pod", name, ns);
      t.equal((obj.status as { podIP?: string }).podIP, p.ip, `${p.pod} status.podIP`);
    }
    t.equal(
      (await ds.list("WorkloadEndpoint")).items.length,
      4,
      "the CNI plugin wrote a WorkloadEndpoint per pod",
    );

    const m = await lab.json<MatrixReport>("matrix", "--port", "80/TCP");
    t.same(Object.keys(m).sort(), ["matrix", "pods", "port"], "the --json shape");
    t.equal(m.port, "80/TCP");
    t.same(m.pods, ["backend/api-1", "backend/api-2", "data/db-2", "frontend/web-1"], "grouped by namespace");
    const nodeOf = new Map(st.pods.map((p) => [p.pod, p.node]));
    for (const a of m.pods)
      for (const b of m.pods) {
        const same = nodeOf.get(a) === nodeOf.get(b);
        t.equal(
          m.matrix[a]?.[b],
          same,
          `${a} -> ${b}: ${same ? "same node, reachable" : "no BGP, no route"}`,
        );
      }

    const udp = await labMatrix(lab.dir, "81/UDP");
    t.ok(udp.report.matrix["frontend/web-1"]?.["backend/api-1"], "UDP request/reply on 81 works on a node");
    const ipOf = new Map(st.pods.map((p) => [p.pod, p.ip]));
    t.ok(udp.outcome.seen.length >= 8);
    t.same(
      udp.outcome.seen.filter((s) => s.saw !== ipOf.get(s.from)),
      [],
      "each server saw the client pod's own address",
    );

    // apply: a namespace, a pod (placed on the node with fewer pods: a tie → node1), a policy.
    const manifest = join(kit.dir("manifests"), "extra.yaml");
    writeFileSync(
      manifest,
      `apiVersion: v1
kind: Namespace
metadata: {name: tools, labels: {team: ops}}
---
apiVersion: v1
kind: Pod
metadata: {name: probe, namespace: tools, labels: {app: probe}}
spec: {nodeName: node2}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: tools}
spec: {podSelector: {}, policyTypes: [Ingress]}
`,
    );
    const applied = await lab.ok("apply", manifest);
    t.match(applied, /applied Namespace tools/);
    t.match(applied, /applied NetworkPolicy tools\/deny-all/);
    t.match(applied, /pod tools\/probe has address 10\.244\./);
    const st2 = await lab.json<LabStatus>("status");
    t.same(
      st2.pods.find((p) => p.pod === "tools/probe"),
      {
        pod: "tools/probe",
        node: "node2",
        ip: st2.pods.find((p) => p.pod === "tools/probe")?.ip,
        server: true,
      },
    );
    t.ok(
      (await ds.get("KubernetesNetworkPolicy", "deny-all", "tools")).spec,
      "the policy is in the datastore",
    );

    const bad = join(kit.dir("manifests"), "bad.yaml");
    writeFileSync(
      bad,
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: tools}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 90, endPort: 85}]}]
`,
    );
    const rejected = await lab.cli("apply", bad);
    t.equal(rejected.code, 2, "a bad policy is a user error");
    t.match(rejected.stderr, /NetworkPolicy tools\/bad: spec\.ingress\[0\]\.ports\[0\]\.endPort/);

    const badPort = await lab.cli("matrix", "--port", "80/SCTP");
    t.equal(badPort.code, 2);
    t.match(badPort.stderr, /--port 80\/SCTP/);

    // The picture; and a second matrix knows the previous one.
    const svg = join(kit.dir("out"), "m.svg");
    const text = await lab.ok("matrix", "--port", "80/TCP", "--out", svg);
    t.match(text, /changed since the previous matrix on 80\/TCP:/);
    t.match(readFileSync(svg, "utf8"), /^<svg [^>]*>[\s\S]*tools\/probe[\s\S]*<\/svg>\n$/);

    // The ToR restarts.
    await lab.ok("stop", "tor");
    t.notOk((await lab.json<LabStatus>("status")).tor.running, "stopped");
    await lab.ok("start", "tor");
    t.ok((await lab.json<LabStatus>("status")).tor.running, "running again");

    const state = readState(lab);
    const pids = state.resources.flatMap((r) => (r.kind === "pid" ? [r] : []));
    t.ok(pids.length >= 6, "the state lists the ToR and every pod server");
    t.match(await lab.ok("down"), /removed \d+ process\(es\), 8 namespace\(s\)/);
    t.same(lab.namespaces(), [], "no namespace of the lab is left");
    t.same(
      pids.filter((p) => isAlive(p.pid, p.start)),
      [],
      "no process of the lab is left",
    );
    t.same(existsSync(lab.dir) ? readdirSync(lab.dir) : [], [], "no file of the lab is left");
  },
);

t.test("down after a crash: `lab up` killed half way leaves nothing behind", async (t) => {
  const kit = Kit.create(t);
  const lab = new TestLab(kit, "crash");
  t.teardown(() => lab.down());
  const child = lab.start("up", "--nodes", "2", "--pods-per-node", "2", "--no-agent");
  // Kill it once pods are being made: namespaces, the ToR daemon and some pod servers exist.
  await waitFor(
    "lab up to be making pods",
    () => {
      if (!existsSync(join(lab.dir, "state.json"))) return false;
      return readState(lab).resources.some((r) => r.kind === "pid" && r.name.startsWith("pod:"));
    },
    { timeoutMs: 60_000, intervalMs: 20 },
  );
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  const pids = readState(lab).resources.flatMap((r) => (r.kind === "pid" ? [r] : []));
  t.ok(lab.namespaces().length >= 3, "the crashed run left namespaces");
  await lab.ok("down");
  t.same(lab.namespaces(), []);
  t.same(
    pids.filter((p) => isAlive(p.pid, p.start)),
    [],
  );
  t.same(existsSync(lab.dir) ? readdirSync(lab.dir) : [], []);
});

t.test("frr as the ToR: its sessions to the nodes are reported", async (t) => {
  const kit = Kit.create(t);
  const lab = new TestLab(kit, "frr");
  t.teardown(() => lab.down());
  await lab.ok("up", "--nodes", "1", "--pods-per-node", "1", "--tor", "frr", "--no-agent");
  const st = await lab.json<LabStatus>("status");
  t.equal(st.tor.kind, "frr");
  t.ok(st.tor.running);
  t.same(
    st.tor.sessions.map((s) => [s.node, s.peer]),
    [["node1", "10.99.0.11"]],
  );
  t.not(st.tor.sessions[0]?.state, "Established");
  await lab.ok("down");
  t.same(lab.namespaces(), []);
});
