/**
 * bench/felix: datastore event → kernel programmed, with the cluster of bench/policy in the store
 * (10,000 pods, 2,000 NetworkPolicies, node-0 with 111 local pods). The agent runs in a namespace
 * the kit makes; events are written one at a time through the datastore API and each is waited for.
 *
 *   npx tsc -p . && node dist/bench/felix/run.js [--events 300]
 */
import { writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { stringify } from "yaml";
import { run } from "../../core/exec.js";
import { hostIfName } from "../../core/ifname.js";
import { openDatastore } from "../../datastore/index.js";
import { Kit } from "../../test/kit/kit.js";
import { waitFor } from "../../test/kit/wait.js";
import { NODE, clusterState, policyDocs } from "../policy/cluster.js";
import { spawnAgent } from "../../test/felix/harness.js";
import type { PassTiming } from "../../felix/agent.js";

const events = Number(process.argv[process.argv.indexOf("--events") + 1] ?? 300) || 300;
/** `--cpu-prof DIR`: the agent writes a V8 CPU profile there when it stops (node --cpu-prof). */
const profIdx = process.argv.indexOf("--cpu-prof");
const cpuProf = profIdx >= 0 ? process.argv[profIdx + 1] : undefined;

function get<T>(socket: string, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, method: "GET" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")) as T);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on("error", reject);
    req.end();
  });
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function main(): Promise<void> {
  const kit = Kit.create();
  try {
    const ns = await kit.netns("bench-node");
    await ns.up("lo");
    await kit.veth(ns, "eth0", await kit.netns("bench-peer"), "eth0");
    await ns.addr("eth0", "10.0.0.1/24");
    const state = clusterState();
    const local = state.pods.filter((p) => p.nodeName === NODE);
    // The local pods' host-side interfaces, so their routes and dispatch entries are real.
    const batch = local.map(
      (p, i) =>
        `link add ${hostIfName(p.namespace, p.name)} type veth peer name bp${i}\nlink set ${hostIfName(p.namespace, p.name)} up`,
    );
    await run("ip", ["-n", ns.name, "-b", "-"], { input: `${batch.join("\n")}\n` });

    const dir = kit.dir("store");
    const docs: object[] = [
      ...state.namespaces.map((n) => ({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: n.name, labels: n.labels },
      })),
      ...state.pods.map((p) => ({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
        spec: { nodeName: p.nodeName, containers: [{ name: "c", ports: p.ports }] },
        status: { podIP: p.ips[0], podIPs: p.ips.map((ip) => ({ ip })) },
      })),
      ...policyDocs(),
    ];
    writeFileSync(join(dir, "cluster.yaml"), docs.map((d) => stringify(d)).join("---\n"));
    const datastore = `file:${dir}`;
    const control = join(kit.dir("run"), "node.sock");
    const startAgent = async (name: string) => {
      const began = Date.now();
      const agent = spawnAgent(kit, ns, {
        datastore,
        node: NODE,
        control,
        flags: ["--ip", "10.0.0.1/24"],
        nodeFlags: cpuProf !== undefined ? ["--cpu-prof", "--cpu-prof-dir", cpuProf] : [],
        name,
        env: { TORTIE_LOG_LEVEL: "warn" },
      });
      await waitFor(
        "the agent to be ready",
        async () => {
          if (!agent.running) throw new Error(agent.output());
          return (await get<{ ready: boolean }>(control, "/v1/status")).ready;
        },
        { timeoutMs: 600_000, intervalMs: 100 },
      );
      return { agent, ms: Date.now() - began };
    };
    // The first start imports the manifest into the store; a restart finds it imported (a DaemonSet
    // pod restarting), adopts what is in the kernel and loads everything from the store.
    const first = await startAgent("felix");
    await first.agent.stop();
    const { agent, ms: startup } = await startAgent("felix-restarted");
    const ds = await openDatastore(datastore);
    const count = async () => (await get<{ count: number }>(control, "/v1/latencies?last=0")).count;
    const e2e: number[] = [];
    const kinds = ["new pod", "pod label change", "policy change"] as const;
    const byKind = new Map<string, number[]>(kinds.map((k) => [k, []]));
    for (let i = 0; i < events; i++) {
      const kind = kinds[i % kinds.length] ?? "new pod";
      const before = await count();
      const t0 = performance.now();
      const n = i % 500;
      if (kind === "new pod")
        await ds.create("Pod", {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name: `extra-${i}`, namespace: `ns-${n}`, labels: { app: "web", tier: "frontend" } },
          spec: { nodeName: "node-7", containers: [{ name: "c" }] },
          status: { podIP: `10.99.${Math.floor(i / 250)}.${i % 250}` },
        });
      else if (kind === "pod label change") {
        const p = await ds.get("Pod", `extra-${i - 1}`, `ns-${(i - 1) % 500}`);
        await ds.update("Pod", {
          ...p,
          metadata: { ...p.metadata, labels: { app: "api", tier: "backend" } },
        });
      } else
        await ds.create("KubernetesNetworkPolicy", {
          apiVersion: "networking.k8s.io/v1",
          kind: "NetworkPolicy",
          metadata: { name: `extra-${i}`, namespace: "ns-0" },
          spec: {
            podSelector: { matchLabels: { app: "web" } },
            ingress: [
              { from: [{ podSelector: { matchLabels: { tier: "frontend" } } }], ports: [{ port: 9000 + i }] },
            ],
          },
        });
      await waitFor("the event to be programmed", async () => (await count()) > before, {
        timeoutMs: 30_000,
        intervalMs: 2,
      });
      const ms = performance.now() - t0;
      e2e.push(ms);
      byKind.get(kind)?.push(ms);
    }
    const lat = await get<{ eventMs: number[]; passes: PassTiming[] }>(
      control,
      `/v1/latencies?last=${events}`,
    );
    const inside = lat.eventMs.slice(-events);
    const slowest = lat.passes
      .slice(-events)
      .sort((a, b) => b.totalMs - a.totalMs)
      .slice(0, 5);
    await ds.close();
    await agent.stop();
    const f = (x: number) => x.toFixed(1);
    console.log(
      `felix, ${state.pods.length} pods, ${policyDocs().length} policies, ${local.length} local pods on ${NODE}`,
    );
    console.log(
      `start-up to ready: first start (imports the 12,000-document YAML manifest) ${(first.ms / 1000).toFixed(1)} s, restart ${(startup / 1000).toFixed(1)} s`,
    );
    console.log(`events: ${events}`);
    console.log(
      `informer delivery → kernel programmed (agent's own clock): p50 ${f(pct(inside, 50))} ms, p99 ${f(pct(inside, 99))} ms`,
    );
    console.log(
      `datastore write → kernel programmed (seen from outside):   p50 ${f(pct(e2e, 50))} ms, p99 ${f(pct(e2e, 99))} ms`,
    );
    for (const [k, xs] of byKind)
      console.log(`  ${k}: p50 ${f(pct(xs, 50))} ms, p99 ${f(pct(xs, 99))} ms (${xs.length})`);
    console.log("slowest passes (agent's clock): queued before the pass, then each step");
    for (const p of slowest)
      console.log(
        `  ${f(p.totalMs)} ms: queued ${f(p.waitMs)}, ${Object.entries(p.steps)
          .map(([k, v]) => `${k} ${f(v)}`)
          .join(", ")}`,
      );
  } finally {
    await kit.cleanup();
  }
}

await main();
