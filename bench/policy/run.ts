/**
 * bench/policy: the NetworkPolicy dataplane at the scale. Prints every figure as it goes
 * and a JSON summary at the end. Runs in namespaces made by the test kit; needs root.
 *
 *   npx tsc -p . && node dist/bench/policy/run.js [--changes 1000] [--cycles 6]
 */
import { writeFileSync } from "node:fs";
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
import { renderFull, renderFullText } from "../../policy/nft/render.js";
import type { NftDocument } from "../../policy/nft/schema.js";
import { NAT_TABLE, renderNat } from "../../felix/dataplane/nat.js";
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
const CYCLES = arg("--cycles", 6);
// Fresh builds of the calculation and render, median reported: one sample is a lottery on this VM.
const BUILDS = 15;

const summary: Record<string, unknown> = {};
const pc = (x: number): string => `${(x * 100).toFixed(0)}%`;
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
  // 12,500 upserts and compile() left can land inside it. So each is also taken from BUILDS fresh
  // calculations (fresh IR objects: nothing rendered before), median reported. ir() is only the lazy
  // end of the calculation (set elements, sorting): selections, chains and endpoint chains are
  // computed as objects arrive, so the whole calculation from parsed objects is timed too.
  const builds: number[] = [];
  const irs: number[] = [];
  const texts: number[] = [];
  const renders: number[] = [];
  const stringifies: number[] = [];
  const [doc, engineRenderMs] = await timed(() => renderFull(ir));
  // Since 16:15 UTC the heap is collected between the build and the timed ir() + render, as it has
  // long been when an agent resyncs: otherwise a scavenge copying the just-built indexes (tens of
  // MB, not garbage of ir() or render) lands in the timed part and decides the figure.
  setFlagsFromString("--expose-gc");
  const collect = runInNewContext("gc") as () => void;
  const freshCalc = (): [PolicyCalc, number] => {
    const calc = new PolicyCalc(NODE);
    const t0 = performance.now();
    for (const n of state.namespaces) calc.upsertNamespace(n);
    for (const p of state.pods) calc.upsertPod(p);
    for (const p of policies) calc.upsertPolicy(p);
    return [calc, performance.now() - t0];
  };
  for (let i = 0; i < BUILDS; i++) {
    const [calc, built] = freshCalc();
    collect();
    const t1 = performance.now();
    const fresh = calc.ir();
    const t2 = performance.now();
    // What a full load writes (the agent's resync and `tortie policy render`): the text, directly.
    const freshText = renderFullText(fresh);
    const t3 = performance.now();
    irs.push(t2 - t1);
    texts.push(t3 - t2);
    builds.push(built + (t2 - t1));
    // For comparison, the way before 2026-11-22 19:40 UTC, measured the same way (its own fresh
    // build, so both pay for the young IR the same): the object tree, then JSON.stringify.
    const [other] = freshCalc();
    collect();
    const otherIR = other.ir();
    const t4 = performance.now();
    const otherDoc = renderFull(otherIR);
    const t5 = performance.now();
    const otherText = JSON.stringify(otherDoc);
    stringifies.push(performance.now() - t5);
    renders.push(t5 - t4);
    if (otherText !== freshText) throw new Error("renderFullText differs from JSON.stringify(renderFull)");
  }
  const [calcMs, buildMs, textMs, renderMs, stringifyMs] = [
    pct(irs, 50),
    pct(builds, 50),
    pct(texts, 50),
    pct(renders, 50),
    pct(stringifies, 50),
  ];
  const each = (xs: number[]): string => xs.map((x) => x.toFixed(1)).join(" ");
  process.stdout.write(
    `  each fresh build in order (ms): ir() ${each(irs)}; text ${each(texts)}; (object tree ${each(renders)}; JSON.stringify ${each(stringifies)})\n`,
  );
  const text = JSON.stringify(doc);
  const elements = ir.sets.reduce((a, s) => a + s.elements.length, 0);
  const rules = doc.nftables.filter((c) => "add" in c && "rule" in c.add).length;
  report(
    "engineBuildMs",
    { upsert: upsertMs, calculation: calcMs, engineIr: engineIrMs, wholeCalculation: buildMs },
    `PolicyEngine: upsert of ${docs.length} objects (parse + validate + index) ${ms(upsertMs)}; calculation of the node's IR ${ms(calcMs)} (median of ${BUILDS} fresh, heap settled first; the engine's own, one sample: ${ms(engineIrMs)}; equal to compile())`,
  );
  report(
    "wholeCalculationMs",
    buildMs,
    `the whole calculation from parsed objects (a fresh PolicyCalc fed every object, then ir()): ${ms(buildMs)} (median of ${BUILDS})`,
  );
  report(
    "renderMs",
    { text: textMs, objects: renderMs, stringify: stringifyMs },
    `render, the JSON text nft reads written directly (renderFullText): ${ms(textMs)}; for comparison, the object tree ${ms(renderMs)} + JSON.stringify ${ms(stringifyMs)} (medians of ${BUILDS} fresh; the engine's IR, first object render in the process: ${ms(engineRenderMs)})`,
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
  // nft alone: the JSON text is written beforehand (making it is our side of the ledger, above).
  const batch = join(kit.dir("nft-batch"), "batch.json");
  writeFileSync(batch, text);
  // This VM's speed drifts by tens of percent over a run (nft's load of the same file took 100 to
  // 148 ms in three runs on 2026-11-22), so the share is also taken in pairs: a fresh build's ir() +
  // text, then nft's load, side by side, and the median of the pairs' ratios reported.
  const shares: number[] = [];
  for (let i = 0; i < 7; i++) {
    const [calc] = freshCalc();
    collect();
    const t0 = performance.now();
    renderFullText(calc.ir());
    const ours = performance.now() - t0;
    await node.exec("nft", ["flush", "ruleset"]);
    const load = (await timed(() => node.exec("nft", ["-j", "-f", batch])))[1];
    loads.push(load);
    shares.push(ours / load);
    reloads.push((await timed(() => node.exec("nft", ["-j", "-f", batch])))[1]);
  }
  const loadMs = pct(loads, 50);
  const pairedShare = pct(shares, 50);
  report(
    "nftLoadMs",
    { empty: loadMs, overItself: pct(reloads, 50) },
    `nft -j -f into an empty namespace: ${ms(loadMs)} (median of 7); over its own output: ${ms(pct(reloads, 50))}`,
  );
  report(
    "compileRenderShareOfLoad",
    { paired: pairedShare, medians: (calcMs + textMs) / loadMs, pairs: shares },
    `calculation (ir()) + render (text) / kernel load, in pairs: ${pc(pairedShare)} (median of 7 pairs: ${shares.map(pc).join(" ")}; target < 10%); from the medians above: ${pc((calcMs + textMs) / loadMs)}; with the whole calculation from parsed objects: ${pc((buildMs + textMs) / loadMs)}; with the reference compile(): ${pc((compileMs + textMs) / loadMs)}`,
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
  await node.exec("nft", ["delete", "table", "inet", "tortie"]);
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
  const rate = (out: string): number => {
    const r = JSON.parse(out) as { rate: number; failed: number };
    if (r.failed > 0) throw new Error(`${r.failed} connections failed`);
    return r.rate;
  };
  // The same policies through tortie's legacy backend (iptables-restore + ipset), the dataplane
  // Calico programs: the real alternative, side by side in the same namespaces.
  const iptEngine = new PolicyEngine({ node: NODE, backend: "iptables", netns: node.name });
  for (const d of docs) iptEngine.upsert(d);
  // What any stateful policy costs before its first rule: conntrack in the namespace and the
  // established/invalid checks, nothing else. Separates that from what our rules add.
  const ctOnly = [
    "add table inet tortie-ct-only",
    "add chain inet tortie-ct-only forward { type filter hook forward priority 0; policy accept; }",
    "add rule inet tortie-ct-only forward ct state established,related accept",
    "add rule inet tortie-ct-only forward ct state invalid drop",
  ].join("; ");
  // A node running tortie with no policy at all is not a namespace without netfilter: felix always
  // programs its masquerade table (a nat chain, so conntrack runs for every connection), here for
  // a natOutgoing pool holding the bench's pods.
  const natOnly = renderNat({
    pools: { v4: ["10.64.0.0/10"], v6: [] },
    natPools: { v4: ["10.64.0.0/10"], v6: [] },
  });
  type Mode = "ruleset" | "none" | "conntrack" | "nat" | "iptables";
  type Figures = Record<Mode, { median: number; vsNone: number }> & { rulesetVsNat: number };
  const MODES: readonly Mode[] = ["ruleset", "none", "conntrack", "nat", "iptables"];
  const enter: Record<Mode, () => Promise<unknown>> = {
    ruleset: () => engine.resync(),
    none: async () => undefined,
    conntrack: () => node.exec("nft", [ctOnly]),
    nat: () => applyNft(run, natOnly as NftDocument),
    iptables: () => iptEngine.resync(),
  };
  // iptables-nft leaves its tables and base chains behind when flushed: they are deleted outright,
  // and the ipsets after them, so the next mode starts from an empty namespace.
  const leave: Record<Mode, () => Promise<unknown>> = {
    ruleset: () => node.exec("nft", ["delete", "table", "inet", "tortie"]),
    none: async () => undefined,
    conntrack: () => node.exec("nft", ["delete", "table", "inet", "tortie-ct-only"]),
    nat: () => node.exec("nft", ["delete", "table", "inet", NAT_TABLE]),
    iptables: async () => {
      await node.exec("nft", ["flush ruleset"]);
      await node.exec("ipset", ["destroy"]);
    },
  };
  const empty = async (): Promise<void> => {
    const left = (await node.exec("nft", ["list", "ruleset"])).trim();
    if (left !== "") throw new Error(`the node's namespace still has a ruleset between modes:\n${left}`);
  };
  await empty();
  // Each figure is taken in cycles that visit every mode once, in an order that rotates from cycle
  // to cycle, and is reported as the median over cycles of its ratio to "none" in the same cycle:
  // this VM's speed drifts by ±15 % over tens of seconds, more than the effects measured, and a
  // mode always measured right after another would inherit its conntrack entries or its warmth.
  const cycles = async (
    what: string,
    n: number,
    sample: () => Promise<number>,
    unit: string,
  ): Promise<Figures> => {
    const got = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
    for (let c = 0; c < n; c++) {
      const order = MODES.map((_, i) => MODES[(i + c) % MODES.length] as Mode);
      const line: string[] = [];
      for (const m of order) {
        await enter[m]();
        const v = await sample();
        await leave[m]();
        await empty();
        got.get(m)?.push(v);
        line.push(`${m} ${v.toFixed(unit === "Gbit/s" ? 2 : 0)}`);
      }
      process.stdout.write(`  ${what}, cycle ${c + 1}: ${line.join(", ")} ${unit}\n`);
    }
    const paired = (a: Mode, b: Mode): number => {
      const bs = got.get(b) ?? [];
      return pct(
        (got.get(a) ?? []).map((x, i) => x / (bs[i] ?? NaN)),
        50,
      );
    };
    const out = { rulesetVsNat: paired("ruleset", "nat") } as Figures;
    for (const m of MODES) out[m] = { median: pct(got.get(m) ?? [], 50), vsNone: paired(m, "none") };
    return out;
  };
  const iperf = await cycles(
    "iperf3",
    CYCLES,
    async () => {
      const out = await client.exec("iperf3", ["-c", serverIp, "-p", String(iperfPort), "-t", "3", "-J"], {
        timeoutMs: 30_000,
      });
      return (
        (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
          .bits_per_second / 1e9
      );
    },
    "Gbit/s",
  );
  const nodeRate = await cycles(
    "Node conn/s",
    CYCLES,
    async () => rate(await client.exec(process.execPath, [connrate, serverIp, String(HTTP_PORT), "2", "16"])),
    "conn/s",
  );
  const cRate = await cycles(
    "C conn/s",
    2 * CYCLES,
    async () => rate(await client.exec(crr, ["client", serverIp, String(crrPort), "2", "64"])),
    "conn/s",
  );
  const LABEL: Record<Mode, string> = {
    ruleset: "our nft ruleset",
    none: "none",
    conntrack: "conntrack alone",
    nat: "tortie without policy (its NAT table)",
    iptables: "iptables + ipset (our legacy backend)",
  };
  const line = (name: string, r: Figures, unit: string): string =>
    `${name}: none ${r.none.median.toFixed(unit === "Gbit/s" ? 2 : 0)} ${unit}; ` +
    (["ruleset", "conntrack", "nat", "iptables"] as const)
      .map((m) => `${LABEL[m]} ${pc(r[m].vsNone)}`)
      .join(", ") +
    ` of none; our ruleset ${pc(r.rulesetVsNat)} of tortie without policy (medians of per-cycle ratios)`;
  report("throughput", iperf, line("iperf3 pod to pod", iperf, "Gbit/s"));
  report(
    "connectionRate",
    nodeRate,
    line("TCP connections/s, Node client and server (16 in flight)", nodeRate, "conn/s"),
  );
  report(
    "connectionRateC",
    cRate,
    line("TCP connections/s, C client and server (64 in flight)", cRate, "conn/s"),
  );
  iptEngine.close();
  lab.close();
  engine.close();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} finally {
  await kit.cleanup();
}
