/**
 * bench/policy: the NetworkPolicy dataplane at the scale. Prints every figure as it goes
 * and a JSON summary at the end. Runs in namespaces made by the test kit; needs root.
 *
 *   npx tsc -p . && node dist/bench/policy/run.js [--changes 1000] [--compile-changes 2]
 */
import { fileURLToPath } from "node:url";
import { compile } from "../../policy/compile.js";
import type { AddrSet, PolicyIR } from "../../policy/ir.js";
import { applyNft, type Runner } from "../../policy/nft/apply.js";
import { renderDiff, renderFull } from "../../policy/nft/render.js";
import { Kit } from "../../test/kit/kit.js";
import { PolicyLab } from "../../test/policy/harness/lab.js";
import { CLIENT, HTTP_PORT, NODE, SERVER, clusterState, loadPolicies, podIp, podLabels } from "./cluster.js";

const args = process.argv.slice(2);
const arg = (name: string, def: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const CHANGES = arg("--changes", 1000);
const COMPILE_CHANGES = arg("--compile-changes", 2);

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
  const local = state.pods.filter((p) => p.nodeName === NODE).length;
  report(
    "scale",
    { pods: state.pods.length, namespaces: state.namespaces.length, policies: policies.length, local },
    `scale: ${state.pods.length} pods, ${state.namespaces.length} namespaces, ${policies.length} policies, ${local} pods on ${NODE}`,
  );
  const [ir, compileMs] = await timed(() => compile({ state, policies, node: NODE }));
  const [doc, renderMs] = await timed(() => renderFull(ir));
  const text = JSON.stringify(doc);
  const elements = ir.sets.reduce((a, s) => a + s.elements.length, 0);
  const rules = doc.nftables.filter((c) => "add" in c && "rule" in c.add).length;
  report("compileMs", compileMs, `compile: ${ms(compileMs)}`);
  report("renderMs", renderMs, `render (nft JSON): ${ms(renderMs)}`);
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
    (compileMs + renderMs) / loadMs,
    `compile+render / kernel load: ${(((compileMs + renderMs) / loadMs) * 100).toFixed(0)}% (target < 10%)`,
  );

  // ---- incremental: dataplane share over many changes --------------------------------------
  // Changes are made on the IR the way a label or policy change lands in it (one address in or out
  // of a set; one policy chain's rules changed), then rendered as a diff and loaded into the kernel.
  const addrSets = ir.sets.filter(
    (s): s is AddrSet => s.kind === "addr" && s.family === 4 && s.elements.length > 0,
  );
  let cur: PolicyIR = ir;
  /** Applies CHANGES successive changes made by `change`, each as a diff, and reports the latencies. */
  const measureChanges = async (key: string, what: string, change: (ir: PolicyIR, i: number) => PolicyIR) => {
    const total: number[] = [];
    const render: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const next = change(cur, i);
      const [diff, d] = await timed(() => renderDiff(cur, next));
      if (diff.nftables.length === 0) throw new Error(`${what}: a change rendered no transaction`);
      const [, t] = await timed(() => applyNft(run, diff));
      total.push(d + t);
      render.push(d);
      cur = next;
    }
    const [p50, p99, r50, r99] = [pct(total, 50), pct(total, 99), pct(render, 50), pct(render, 99)];
    report(
      key,
      { p50, p99, n: total.length, renderP50: r50, renderP99: r99 },
      `${what}, diff render + nft into the kernel: p50 ${ms(p50)}, p99 ${ms(p99)} over ${total.length} (diff render alone p50 ${ms(r50)}, p99 ${ms(r99)})`,
    );
  };
  await measureChanges("labelChangeDataplaneMs", "pod label change", (from, i) => {
    const set = addrSets[i % addrSets.length];
    const extra = `10.200.${Math.floor(i / 250)}.${(i % 250) + 1}/32`;
    const sets = from.sets.map((s) =>
      s.name === set?.name && s.kind === "addr" ? { ...s, elements: [...s.elements, extra].sort() } : s,
    );
    return { ...from, sets };
  });
  // Policies whose chain has a TCP rule: the change rewrites that rule's destination ports.
  const tcpRule = (r: PolicyIR["policyChains"][number]["rules"][number]): boolean =>
    r.match.protocol?.proto === 6 && !r.match.protocol.negate;
  const editable = cur.policyChains.filter((c) => c.rules.some(tcpRule)).map((c) => c.name);
  await measureChanges("policyChangeDataplaneMs", "policy change", (from, i) => {
    const name = editable[i % editable.length];
    const dstPorts = [{ ports: [1000 + (i % 5000)], negate: false }];
    const policyChains = from.policyChains.map((c) =>
      c.name === name
        ? { ...c, rules: c.rules.map((r) => (tcpRule(r) ? { ...r, match: { ...r.match, dstPorts } } : r)) }
        : c,
    );
    return { ...from, policyChains };
  });

  // ---- incremental end to end, compile included ----------------------------------------------
  await applyNft(run, renderFull(ir));
  let prevIR = ir;
  const e2e: number[] = [];
  for (let g = 1; g <= COMPILE_CHANGES; g++) {
    const [, t] = await timed(async () => {
      const pods = state.pods.map((p, i) => (i === 42 ? { ...p, labels: podLabels(i, g) } : p));
      const next = compile({ state: { ...state, pods }, policies, node: NODE });
      await applyNft(run, renderDiff(prevIR, next));
      prevIR = next;
    });
    e2e.push(t);
  }
  report(
    "labelChangeEndToEndMs",
    e2e,
    `pod label change end to end (full recompile + diff + nft): ${e2e.map(ms).join(", ")}`,
  );

  // ---- throughput and connection rate through the ruleset vs none ------------------------------
  await applyNft(run, renderFull(prevIR));
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
  const connrate = fileURLToPath(new URL("./connrate.js", import.meta.url));
  const measure = async (): Promise<{ gbps: number; cps: number }> => {
    const out = await client.exec("iperf3", ["-c", serverIp, "-p", String(iperfPort), "-t", "4", "-J"], {
      timeoutMs: 30_000,
    });
    const gbps =
      (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
        .bits_per_second / 1e9;
    const cr = JSON.parse(
      await client.exec(process.execPath, [connrate, serverIp, String(HTTP_PORT), "3", "16"]),
    ) as { rate: number; failed: number };
    if (cr.failed > 0) throw new Error(`${cr.failed} connections failed`);
    return { gbps, cps: cr.rate };
  };
  const withRules: Array<{ gbps: number; cps: number }> = [];
  const without: Array<{ gbps: number; cps: number }> = [];
  for (let round = 0; round < 2; round++) {
    await applyNft(run, renderFull(prevIR));
    withRules.push(await measure());
    await node.exec("nft", ["delete", "table", "inet", "tortie"]);
    without.push(await measure());
  }
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const w = { gbps: avg(withRules.map((x) => x.gbps)), cps: avg(withRules.map((x) => x.cps)) };
  const n = { gbps: avg(without.map((x) => x.gbps)), cps: avg(without.map((x) => x.cps)) };
  report(
    "throughput",
    { withRuleset: w, noRuleset: n },
    `iperf3 pod to pod: ${w.gbps.toFixed(2)} Gbit/s through the ruleset vs ${n.gbps.toFixed(2)} without (${((w.gbps / n.gbps) * 100).toFixed(0)}%)`,
  );
  report(
    "connectionRate",
    { withRuleset: w.cps, noRuleset: n.cps },
    `TCP connections/s (16 in flight): ${w.cps.toFixed(0)} through the ruleset vs ${n.cps.toFixed(0)} without (${((w.cps / n.cps) * 100).toFixed(0)}%)`,
  );
  lab.close();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
} finally {
  await kit.cleanup();
}
