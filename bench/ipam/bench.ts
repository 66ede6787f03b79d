/**
 * IPAM and CNI benchmark (not part of the test command; needs root for the CNI part).
 *
 *   npx tsc -p . && node dist/bench/ipam/bench.js [--pods 80] [--only cni]
 *
 * 1. allocations per second on one node (file store on tmpfs and on disk; the in-memory store for
 *    the allocator's own cost), 2. under contention: 50 nodes in 5 processes allocating at once,
 * 3. CNI ADD latency p50/p99 including process start, tortie beside the reference plugins
 *    (containernetworking-plugins ptp + host-local: a veth and a host route, like ours).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "../../core/exec.js";
import { Allocator } from "../../ipam/allocator.js";
import { MemoryDatastore } from "../../ipam/memstore.js";
import { openIpamDatastore } from "../../ipam/open.js";
import { ipamObject, type IpamDatastore } from "../../ipam/store.js";
import { startEtcd } from "../../test/kit/daemons.js";
import { Kit } from "../../test/kit/kit.js";

const WORKER = fileURLToPath(new URL("../../test/ipam/alloc-worker.js", import.meta.url));
const CLI = fileURLToPath(new URL("../../cli/main.js", import.meta.url));
const args = process.argv.slice(2);
/** 80 by default: more than a /26 holds, so the ADDs cross a block boundary and the next block's claim is measured. */
const PODS = Number(args[args.indexOf("--pods") + 1] ?? "") || 80;
/** `--only cni`: the ADD/DEL latency part alone. */
const ONLY_CNI = args.includes("--only") && args[args.indexOf("--only") + 1] === "cni";

async function seed(ds: IpamDatastore): Promise<void> {
  await ds.create("IPPool", ipamObject("IPPool", "pool4", { cidr: "10.0.0.0/16" }));
}

async function oneNode(label: string, ds: IpamDatastore, n: number): Promise<void> {
  await seed(ds);
  const alloc = new Allocator(ds, { configCacheMs: 10_000 });
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < n) {
        const i = next++;
        await alloc.assign({
          handle: `h${i}`,
          node: "node1",
          namespace: "default",
          pod: `p${i}`,
          num4: 1,
          num6: 0,
        });
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  console.log(`one node, ${label}: ${n} allocations in ${s.toFixed(2)} s = ${(n / s).toFixed(0)} /s`);
}

function exitOf(cmd: string, argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: "ignore" });
    p.on("error", reject);
    p.on("exit", (code) => resolve(code ?? 1));
  });
}

async function contention(dir: string, perNode: number): Promise<void> {
  const ds = await openIpamDatastore(`file:${dir}`);
  await seed(ds);
  const t0 = performance.now();
  const codes = await Promise.all(
    Array.from({ length: 5 }, (_, p) =>
      exitOf(process.execPath, [
        WORKER,
        `file:${dir}`,
        Array.from({ length: 10 }, (_, i) => `node${p * 10 + i}`).join(","),
        String(perNode),
        "2",
      ]),
    ),
  );
  const s = (performance.now() - t0) / 1000;
  const n = 50 * perNode;
  console.log(
    `50 nodes (5 processes x 10) at once, file store on tmpfs: ${n} allocations in ${s.toFixed(2)} s = ${(n / s).toFixed(0)} /s${codes.some((c) => c !== 0) ? " (A WORKER FAILED)" : ""}`,
  );
  const check = await run(process.execPath, [
    CLI,
    "ipam",
    "check",
    "--datastore",
    `file:${dir}`,
    "--grace-period",
    "0s",
  ]);
  console.log(`  ipam check: ${check.trim().split("\n").at(-1) ?? ""}`);
  await ds.close();
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

async function timed(
  cmd: string,
  argv: string[],
  env: Record<string, string>,
  input: string,
): Promise<number> {
  const t0 = performance.now();
  await run(cmd, argv, { env, input });
  return performance.now() - t0;
}

async function cniLatency(kit: Kit): Promise<void> {
  const node = await kit.netns("node");
  const bin = kit.dir("bin");
  // etcd inside the node's namespace, where the plugin runs (its 127.0.0.1 is not ours).
  const etcd = await startEtcd(kit, node);
  const stores = { "file store on disk": `file:${kit.dir("store")}`, etcd: `etcd:${etcd.url}` };
  const open = fileURLToPath(new URL("../../ipam/open.js", import.meta.url));
  const store = fileURLToPath(new URL("../../ipam/store.js", import.meta.url));
  for (const url of Object.values(stores))
    await run("ip", [
      ...["netns", "exec", node.name, process.execPath, "--input-type=module", "-e"],
      `const { openIpamDatastore } = await import(${JSON.stringify(open)});
       const { ipamObject } = await import(${JSON.stringify(store)});
       const ds = await openIpamDatastore(${JSON.stringify(url)});
       await ds.create("IPPool", ipamObject("IPPool", "pool4", { cidr: "10.0.0.0/16" }));
       await ds.close();`,
    ]);
  await run(process.execPath, [CLI, "cni", "install", "--dir", bin]);
  const socket = join(kit.dir("run"), "cni.sock");
  // The server claims node1's first block in each datastore at start, as the node agent does.
  const server = kit.spawn(
    node,
    process.execPath,
    [
      ...[CLI, "cni", "serve", "--socket", socket, "--node", "node1"],
      ...Object.values(stores).flatMap((u) => ["--datastore", u]),
    ],
    { name: "cni-serve" },
  );
  await server.waitForOutput(/listening on/);
  await server.waitForOutput(/claimed block [^]*claimed block /);
  const confs: { label: string; plugin: string; conf: object; path: string; served?: boolean }[] = [];
  for (const [store, url] of Object.entries(stores))
    for (const agent of [false, true])
      confs.push({
        label: `tortie ${agent ? "through `tortie cni serve`" : "in its own process"} (${store})`,
        plugin: join(bin, "tortie"),
        path: bin,
        served: agent,
        conf: {
          cniVersion: "1.0.0",
          name: "k8s-pod-network",
          type: "tortie",
          datastore: url,
          // Its own node without the server: no block claimed ahead, as on a node without the agent.
          nodeName: agent ? "node1" : "node-own",
          mtu: 1500,
          ipam: { type: "tortie-ipam" },
          // A socket nobody listens on: the executable falls back to doing the work itself.
          agentSocket: agent ? socket : join(kit.dir("run"), "nobody.sock"),
        },
      });
  if (existsSync("/usr/lib/cni/ptp"))
    confs.push({
      label: "reference ptp + host-local (Go)",
      plugin: "/usr/lib/cni/ptp",
      path: "/usr/lib/cni",
      conf: {
        cniVersion: "1.0.0",
        name: "ref",
        type: "ptp",
        ipMasq: false,
        ipam: { type: "host-local", subnet: "10.99.0.0/16", dataDir: kit.dir("host-local") },
      },
    });
  else console.log("  (containernetworking-plugins not installed: no reference figures)");
  const floor: number[] = [];
  for (let i = 0; i < 20; i++) floor.push(await timed(process.execPath, ["-e", "0"], {}, ""));
  console.log(
    `node -e 0 (process start floor): p50 ${pct(floor, 50).toFixed(1)} ms, p99 ${pct(floor, 99).toFixed(1)} ms`,
  );
  const version: number[] = [];
  for (let i = 0; i < 20; i++)
    version.push(
      await timed("ip", ["netns", "exec", node.name, join(bin, "tortie")], { CNI_COMMAND: "VERSION" }, ""),
    );
  console.log(
    `installed \`tortie\` (the C launcher) VERSION via ip netns exec: p50 ${pct(version, 50).toFixed(1)} ms, p99 ${pct(version, 99).toFixed(1)} ms`,
  );
  let seen = server.output().split("\n").length - 1;
  for (const c of confs) {
    const adds: number[] = [];
    const dels: number[] = [];
    const ci = confs.indexOf(c);
    const envOf = (i: number, podName: string) => ({
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      CNI_CONTAINERID: `bench${ci}-${i}`,
      CNI_NETNS: `/var/run/netns/${podName}`,
      CNI_IFNAME: "eth0",
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=bench-${i}`,
      CNI_PATH: c.path,
    });
    const input = JSON.stringify(c.conf);
    // Every pod stays until all are added, so the ADDs fill a block and cross into the next one.
    const pods: string[] = [];
    for (let i = 0; i < PODS; i++) {
      const pod = await kit.netns(`p${ci}-${i}`);
      pods.push(pod.name);
      adds.push(
        await timed(
          "ip",
          ["netns", "exec", node.name, c.plugin],
          { ...envOf(i, pod.name), CNI_COMMAND: "ADD" },
          input,
        ),
      );
    }
    for (const [i, name] of pods.entries()) {
      dels.push(
        await timed(
          "ip",
          ["netns", "exec", node.name, c.plugin],
          { ...envOf(i, name), CNI_COMMAND: "DEL" },
          input,
        ),
      );
      await run("ip", ["netns", "del", name]);
    }
    const lines = server.output().split("\n").slice(seen);
    seen = server.output().split("\n").length - 1;
    // The server's own line per ADD, in order: its time, and whether it claimed a block while the ADD waited.
    const served = lines
      .map((l) => /^ADD main code 0 ([\d.]+) ms( claimed \d+ block\(s\) inline)?$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ ms: Number(m[1]), inline: m[2] !== undefined }));
    const background = lines.filter((l) => /\(background\)$/.test(l)).length;
    console.log(
      `CNI ${c.label}, ${PODS} pods: ADD p50 ${pct(adds, 50).toFixed(1)} ms, p99 ${pct(adds, 99).toFixed(1)} ms; DEL p50 ${pct(dels, 50).toFixed(1)} ms, p99 ${pct(dels, 99).toFixed(1)} ms`,
    );
    // Which ADDs were the slowest (1-based, in order of ADD): the tail next to where a block fills up.
    const slowest = adds
      .map((ms, i) => ({ ms, i }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 3)
      .map((x) => `#${x.i + 1} ${x.ms.toFixed(1)} ms`)
      .join(", ");
    console.log(`  slowest ADDs: ${slowest}`);
    if (c.served && served.length === adds.length) {
      const inline = adds.filter((_, i) => served[i]?.inline);
      const rest = adds.filter((_, i) => !served[i]?.inline);
      console.log(
        `  ADDs that claimed a block inline: ${inline.length}${inline.length > 0 ? ` (${inline.map((x) => x.toFixed(1)).join(", ")} ms)` : ""}; blocks claimed in the background meanwhile: ${background}; the other ${rest.length}: p50 ${pct(rest, 50).toFixed(1)} ms, p90 ${pct(rest, 90).toFixed(1)} ms, p99 ${pct(rest, 99).toFixed(1)} ms`,
      );
      const ms = served.map((x) => x.ms);
      console.log(
        `  of which inside the server (ADD): p50 ${pct(ms, 50).toFixed(1)} ms, p99 ${pct(ms, 99).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms`,
      );
    } else {
      // Without the server the node's first ADD claims its block (and the 65th the next): shown apart.
      const rest = adds.slice(1);
      console.log(
        `  first ADD ${adds[0]?.toFixed(1) ?? "?"} ms; the other ${rest.length}: p50 ${pct(rest, 50).toFixed(1)} ms, p90 ${pct(rest, 90).toFixed(1)} ms, p99 ${pct(rest, 99).toFixed(1)} ms`,
      );
    }
  }
}

const kit = Kit.create();
try {
  console.log(`${new Date().toISOString()}  load average ${(await run("cat", ["/proc/loadavg"])).trim()}`);
  if (!ONLY_CNI) {
    await oneNode("in-memory store (allocator only)", new MemoryDatastore(), 2000);
    const shm = mkdtempSync("/dev/shm/tortie-bench-");
    try {
      await oneNode("file store on tmpfs", await openIpamDatastore(`file:${shm}`), 300);
      await oneNode("file store on disk", await openIpamDatastore(`file:${kit.dir("disk")}`), 100);
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
    const shm2 = mkdtempSync("/dev/shm/tortie-bench-");
    try {
      await contention(shm2, 20);
    } finally {
      rmSync(shm2, { recursive: true, force: true });
    }
  }
  await cniLatency(kit);
} finally {
  await kit.cleanup();
}
