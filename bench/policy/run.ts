/**
 * bench/policy: the NetworkPolicy dataplane at the scale. Prints every figure as it goes
 * and a JSON summary at the end. Runs in namespaces made by the test kit; needs root.
 *
 *   npx tsc -p . && node dist/bench/policy/run.js [--changes 1000] [--rounds 3]
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createLogger, setRootLogger } from "../../core/log.js";
import { execWithAgentRuntime } from "../../core/runtime.js";
import { PolicyCalc } from "../../policy/calc.js";
import { compile } from "../../policy/compile.js";
import { PolicyEngine } from "../../policy/engine.js";
import { applyNft, type Runner } from "../../policy/nft/apply.js";
import { renderFull } from "../../policy/nft/render.js";
import { Unsupported, transactionOf } from "../../policy/nft/netlink.js";
import { Kit } from "../../test/kit/kit.js";
import { canonicalTable } from "../../test/policy/harness/canonical.js";
import { PolicyLab } from "../../test/policy/harness/lab.js";
import {
  CLIENT,
  HTTP_PORT,
  NODE,
  SERVER,
  clusterDocs,
  clusterState,
  loadPolicies,
  podDoc,
  podIp,
  policyDocs,
} from "./cluster.js";

// The engine runs here as it runs in the agent: with V8's worker pool sized to the machine.
execWithAgentRuntime();
// The CLI comparison below falls back on purpose; its warning per change is not a figure.
setRootLogger(createLogger("error"));

const args = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const CHANGES = arg("--changes", 1000);
const ROUNDS = arg("--rounds", 3);

const summary: Record<string, unknown> = {};
function report(key: string, value: unknown, text: string): void {
  summary[key] = value;
  process.stdout.write(`${text}\n`);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const ms = (x: number): string => `${x.toFixed(1)} ms`;

async function timed<T>(f: () => Promise<T> | T): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await f();
  return [v, performance.now() - t0];
}

const kit = Kit.create();
try {
  // ---- full compile + render -------------------------------------------------------------
  const state = clusterState();
  const policies = loadPolicies();
  const docs = [...clusterDocs(state), ...policyDocs()];
  const local = state.pods.filter((p) => p.nodeName === NODE).length;
  report(
    "scale",
    { pods: state.pods.length, namespaces: state.namespaces.length, policies: policies.length, local },
    `scale: ${state.pods.length} pods, ${state.namespaces.length} namespaces, ${policies.length} policies, ${local} pods on ${NODE}`,
  );
  const [refIR, compileMs] = await timed(() => compile({ state, policies, node: NODE }));
  report("referenceCompileMs", compileMs, `reference compiler, compile(): ${ms(compileMs)}`);

  const lab = await PolicyLab.create(
    kit,
    [
      { namespace: CLIENT.namespace, name: CLIENT.name, node: "node1", ip: podIp(CLIENT.index) },
      { namespace: SERVER.namespace, name: SERVER.name, node: "node1", ip: podIp(SERVER.index) },
    ],
    { servePorts: [HTTP_PORT] },
  );
  const node = lab.node("node1").netns;
  const run: Runner = (cmd, a, o) => node.exec(cmd, a, o ?? {});
  // Chain changes go over netlink; `viaCli` sends them through `nft -j -f` instead, for the side-by-side.
  let viaCli = false;
  const engine = new PolicyEngine({
    node: NODE,
    backend: "nft",
    netns: node.name,
    nftEncoder: (d) => {
      if (viaCli) throw new Unsupported("the nft CLI, for comparison");
      return transactionOf(d);
    },
  });
  const [, upsertMs] = await timed(() => {
    for (const d of docs) {
      const problems = engine.upsert(d);
      if (problems.length) throw new Error(`bench object rejected: ${JSON.stringify(problems[0])}`);
    }
  });
  const [ir, engineIrMs] = await timed(() => engine.ir());
  if (JSON.stringify(ir) !== JSON.stringify(refIR)) throw new Error("the engine's IR differs from compile()");
  // One sample of ir() or render is a lottery on this machine: a major collection of the garbage the
  // 12,500 upserts and compile() left can land inside it. So each is also taken from three fresh
  // calculations (fresh IR objects: nothing rendered before), median reported. ir() is only the lazy
  // end of the calculation (set elements, sorting): selections, chains and endpoint chains are
  // computed as objects arrive, so the whole calculation from parsed objects is timed too.
  const builds: number[] = [];
  const irs: number[] = [];
  const renders: number[] = [];
  const [doc, engineRenderMs] = await timed(() => renderFull(ir));
  // Since 16:15 UTC the heap is collected between the build and the timed ir() + render, as it has
  // long been when an agent resyncs: otherwise a scavenge copying the just-built indexes (tens of
  // MB, not garbage of ir() or render) lands in the timed part and decides the figure.
  setFlagsFromString("--expose-gc");
  const collect = runInNewContext("gc") as () => void;
  for (let i = 0; i < 5; i++) {
    const calc = new PolicyCalc(NODE);
    const t0 = performance.now();
    for (const n of state.namespaces) calc.upsertNamespace(n);
    for (const p of state.pods) calc.upsertPod(p);
    for (const p of policies) calc.upsertPolicy(p);
    const built = performance.now() - t0;
    collect();
    const t1 = performance.now();
    const fresh = calc.ir();
    const t2 = performance.now();
    renderFull(fresh);
    renders.push(performance.now() - t2);
    irs.push(t2 - t1);
    builds.push(built + (t2 - t1));
  }
  const [calcMs, buildMs, renderMs] = [pct(irs, 50), pct(builds, 50), pct(renders, 50)];
  const text = JSON.stringify(doc);
  const elements = ir.sets.reduce((a, s) => a + s.elements.length, 0);
  const rules = doc.nftables.filter((c) => "add" in c && "rule" in c.add).length;
  report(
    "engineBuildMs",
    { upsert: upsertMs, calculation: calcMs, engineIr: engineIrMs, wholeCalculation: buildMs },
    `PolicyEngine: upsert of ${docs.length} objects (parse + validate + index) ${ms(upsertMs)}; calculation of the node's IR ${ms(calcMs)} (median of 5 fresh, heap settled first; the engine's own, one sample: ${ms(engineIrMs)}; equal to compile())`,
  );
  report(
    "wholeCalculationMs",
    buildMs,
    `the whole calculation from parsed objects (a fresh PolicyCalc fed every object, then ir()): ${ms(buildMs)} (median of 5)`,
  );
  report(
    "renderMs",
    renderMs,
    `render (nft JSON): ${ms(renderMs)} (median of 5 fresh; the engine's IR, first render in the process: ${ms(engineRenderMs)})`,
  );
  report(
    "ruleset",
    {
      bytes: text.length,
      commands: doc.nftables.length,
      sets: ir.sets.length,
      elements,
      rules,
      policyChains: ir.policyChains.length,
      endpointChains: ir.endpointChains.length,
    },
    `ruleset: ${(text.length / 1e6).toFixed(2)} MB JSON, ${doc.nftables.length} commands, ${ir.sets.length} sets / ${elements} elements, ${rules} rules, ${ir.policyChains.length} policy chains, ${ir.endpointChains.length} endpoint chains`,
  );

  // ---- kernel load ------------------------------------------------------------------------
  const loads: number[] = [];
  const reloads: number[] = [];
  for (let i = 0; i < 3; i++) {
    await node.exec("nft", ["flush", "ruleset"]);
    loads.push((await timed(() => applyNft(run, doc)))[1]);
    reloads.push((await timed(() => applyNft(run, doc)))[1]);
  }
  const loadMs = pct(loads, 50);
  report(
    "nftLoadMs",
    { empty: loadMs, overItself: pct(reloads, 50) },
    `nft -j -f into an empty namespace: ${ms(loadMs)} (median of 3); over its own output: ${ms(pct(reloads, 50))}`,
  );
  report(
    "compileRenderShareOfLoad",
    (calcMs + renderMs) / loadMs,
    `calculation+render / kernel load: ${(((calcMs + renderMs) / loadMs) * 100).toFixed(0)}% (target < 10%); with the whole calculation: ${(((buildMs + renderMs) / loadMs) * 100).toFixed(0)}%; with the reference compile(): ${(((compileMs + renderMs) / loadMs) * 100).toFixed(0)}%`,
  );
  await node.exec("nft", ["flush", "ruleset"]);
  const first = await engine.program();
  report("firstProgram", first, `PolicyEngine first program() (full): ${ms(first.ms)}`);

  // ---- incremental, end to end through the engine into the kernel ---------------------------
  /** Remote pods whose tier label feeds a live `tier=frontend` set: each change moves one address. */
  // Namespaces whose allow-app chain is live on this node (a local pod has its app label).
  const liveAllowApp = new Set(
    ir.policyChains.filter((c) => c.policy.name === "allow-app").map((c) => c.policy.namespace ?? ""),
  );
  const remote = state.pods.filter((p) => liveAllowApp.has(p.namespace) && p.nodeName !== NODE);
  const tiers = new Map(remote.map((p) => [`${p.namespace}/${p.name}`, p.labels["tier"] ?? "backend"]));
  const measureChanges = async (
    key: string,
    what: string,
    change: (i: number) => object,
    n = CHANGES,
  ): Promise<void> => {
    const total: number[] = [];
    const paths = { setElementsNetlink: 0, chainsNetlink: 0, nft: 0, none: 0 };
    const fallbacks = new Map<string, number>();
    // Made before the clock starts: the harness's own garbage would otherwise be collected inside
    // the timed changes.
    const objs = Array.from({ length: n }, (_, i) => change(i));
    for (const obj of objs) {
      const [r, t] = await timed(async () => {
        engine.upsert(obj);
        return engine.program();
      });
      if (r.kind !== "incremental") throw new Error(`${what}: program() was ${r.kind}`);
      if (r.via === "nft") paths.nft++;
      else if (r.via === "none") paths.none++;
      else if (r.chains > 0) paths.chainsNetlink++;
      else paths.setElementsNetlink++;
      if (r.fallback) fallbacks.set(r.fallback, (fallbacks.get(r.fallback) ?? 0) + 1);
      total.push(t);
    }
    const [p50, p99] = [pct(total, 50), pct(total, 99)];
    report(
      key,
      { p50, p99, n: total.length, paths, fallbacks: Object.fromEntries(fallbacks) },
      `${what}, PolicyEngine upsert + program() into the kernel: p50 ${ms(p50)}, p99 ${ms(p99)} over ${total.length} (${paths.setElementsNetlink} set-element-only via netlink, ${paths.chainsNetlink} with chains via netlink, ${paths.nft} via nft (fallbacks), ${paths.none} no-ops)`,
    );
    for (const [why, n] of fallbacks) process.stdout.write(`  fallback to nft -j -f ${n}x: ${why}\n`);
  };
  await measureChanges("labelChangeMs", "pod label change", (i) => {
    const p = remote[i % remote.length];
    if (!p) throw new Error("no remote pod");
    const k = `${p.namespace}/${p.name}`;
    const tier = tiers.get(k) === "frontend" ? "backend" : "frontend";
    tiers.set(k, tier);
    return podDoc(p, { ...p.labels, tier });
  });
  const nsList = [...liveAllowApp].sort();
  const gens = new Map<string, number>();
  const allowApp = (ns: string, g: number): object => {
    const n = Number(ns.slice(3));
    const d = policyDocs(g, n).find(
      (x) => (x as { metadata: { name: string } }).metadata.name === "allow-app",
    );
    if (!d) throw new Error("no allow-app");
    return d;
  };
  const policyChange = (i: number): object => {
    const ns = nsList[i % nsList.length] ?? "ns-0";
    // Every change a new endPort: a real edit makes rules the agent has never encoded before.
    const g = (gens.get(ns) ?? 0) + 1;
    gens.set(ns, g);
    return allowApp(ns, g);
  };
  await measureChanges("policyChangeMs", "policy change (allow-app endPort)", policyChange);
  // The same changes through the nft CLI (the path before netlink), fewer: each costs a whole nft run.
  viaCli = true;
  await measureChanges(
    "policyChangeCliMs",
    "policy change through nft -j -f (comparison)",
    (i) => policyChange(CHANGES + i),
    Math.min(CHANGES, 200),
  );
  viaCli = false;
  // The kernel after the incremental changes holds what a full load of the same IR gives.
  const fresh = await kit.netns("fresh");
  await applyNft((c, a, o) => fresh.exec(c, a, o ?? {}), renderFull(engine.ir()));
  const list = ["-j", "list", "table", "inet", "tortie"];
  const same =
    JSON.stringify(canonicalTable(await node.exec("nft", list))) ===
    JSON.stringify(canonicalTable(await fresh.exec("nft", list)));
  report(
    "incrementalEqualsFull",
    same,
    `kernel after the changes equals a full load of the same IR: ${same}`,
  );
  if (!same) throw new Error("incremental kernel state differs from a full load");

  // ---- throughput and connection rate through the ruleset vs none ------------------------------
  await engine.resync();
  const client = lab.pod(`${CLIENT.namespace}/${CLIENT.name}`).netns;
  const serverIp = podIp(SERVER.index);
  const iperfPort = 8443; // allowed by allow-app (8443-8450) as http is taken by the agent
  const server = kit.spawn(
    lab.pod(`${SERVER.namespace}/${SERVER.name}`).netns,
    "iperf3",
    ["-s", "-p", String(iperfPort), "--forceflush"],
    { name: "iperf3" },
  );
  await server.waitForOutput(/Server listening/);
  // The connection rate twice: from a Node client to the pod's Node server (an application's cost
  // per connection), and between a minimal C client and server (crr.c), where the kernel's work per
  // connection (TCP, conntrack, the ruleset) is most of the cost. The C client keeps 64 in flight:
  // with 16 the CPUs idle between round trips and the rate measures wake-up latency, not work.
  const crr = join(kit.dir("crr"), "crr");
  await run("cc", ["-O2", "-o", crr, fileURLToPath(new URL("../../../bench/policy/crr.c", import.meta.url))]);
  const crrPort = 8444; // allow-app's port range, like iperf3's
  const crrServer = kit.spawn(
    lab.pod(`${SERVER.namespace}/${SERVER.name}`).netns,
    crr,
    ["server", String(crrPort)],
    { name: "crr-server" },
  );
  await crrServer.waitForOutput(/READY/);
  const connrate = fileURLToPath(new URL("./connrate.js", import.meta.url));
  interface Sample {
    gbps: number;
    cps: number;
    crr: number;
  }
  const rate = (out: string): number => {
    const r = JSON.parse(out) as { rate: number; failed: number };
    if (r.failed > 0) throw new Error(`${r.failed} connections failed`);
    return r.rate;
  };
  const measure = async (): Promise<Sample> => {
    const out = await client.exec("iperf3", ["-c", serverIp, "-p", String(iperfPort), "-t", "4", "-J"], {
      timeoutMs: 30_000,
    });
    const gbps =
      (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
        .bits_per_second / 1e9;
    const cps = rate(await client.exec(process.execPath, [connrate, serverIp, String(HTTP_PORT), "3", "16"]));
    const c = rate(await client.exec(crr, ["client", serverIp, String(crrPort), "3", "64"]));
    return { gbps, cps, crr: c };
  };
  const withRules: Sample[] = [];
  const without: Sample[] = [];
  const conntrackOnly: Sample[] = [];
  // What any stateful policy costs before its first rule: conntrack in the namespace and the
  // established/invalid checks, nothing else. Separates that from what our rules add.
  const ctOnly = [
    "add table inet tortie-ct-only",
    "add chain inet tortie-ct-only forward { type filter hook forward priority 0; policy accept; }",
    "add rule inet tortie-ct-only forward ct state established,related accept",
    "add rule inet tortie-ct-only forward ct state invalid drop",
  ].join("; ");
  const show = (x: Sample | undefined): string =>
    x ? `${x.gbps.toFixed(2)} Gbit/s, ${x.cps.toFixed(0)} / ${x.crr.toFixed(0)} conn/s` : "";
  for (let round = 0; round < ROUNDS; round++) {
    await engine.resync();
    withRules.push(await measure());
    await node.exec("nft", ["delete", "table", "inet", "tortie"]);
    without.push(await measure());
    await node.exec("nft", [ctOnly]);
    conntrackOnly.push(await measure());
    await node.exec("nft", ["delete", "table", "inet", "tortie-ct-only"]);
    process.stdout.write(
      `  round ${round + 1} (iperf3, Node conn/s / C conn/s): ruleset ${show(withRules[round])}; none ${show(without[round])}; conntrack alone ${show(conntrackOnly[round])}\n`,
    );
  }
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const mean = (xs: Sample[]): Sample => ({
    gbps: avg(xs.map((x) => x.gbps)),
    cps: avg(xs.map((x) => x.cps)),
    crr: avg(xs.map((x) => x.crr)),
  });
  const [w, n, c] = [mean(withRules), mean(without), mean(conntrackOnly)];
  const pc = (a: number, b: number): string => `${((a / b) * 100).toFixed(0)}%`;
  report(
    "conntrackOnly",
    c,
    `conntrack alone (established accept, invalid drop, no rules): ${c.gbps.toFixed(2)} Gbit/s (${pc(c.gbps, n.gbps)} of none), ${c.cps.toFixed(0)} Node / ${c.crr.toFixed(0)} C connections/s (${pc(c.cps, n.cps)} / ${pc(c.crr, n.crr)} of none); our ruleset vs conntrack alone: ${pc(w.gbps, c.gbps)} / ${pc(w.cps, c.cps)} / ${pc(w.crr, c.crr)}`,
  );
  report(
    "throughput",
    { withRuleset: w, noRuleset: n },
    `iperf3 pod to pod: ${w.gbps.toFixed(2)} Gbit/s through the ruleset vs ${n.gbps.toFixed(2)} without (${pc(w.gbps, n.gbps)})`,
  );
  report(
    "connectionRate",
    { withRuleset: w.cps, noRuleset: n.cps, cWithRuleset: w.crr, cNoRuleset: n.crr },
    `TCP connections/s, Node client and server (16 in flight): ${w.cps.toFixed(0)} through the ruleset vs ${n.cps.toFixed(0)} without (${pc(w.cps, n.cps)}); C client and server (64 in flight): ${w.crr.toFixed(0)} vs ${n.crr.toFixed(0)} (${pc(w.crr, n.crr)})`,
  );
  lab.close();
  engine.close();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} finally {
  await kit.cleanup();
}
