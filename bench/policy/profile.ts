/**
 * The pure part of bench/policy without root: the reference compiler, and the policy engine's
 * calculation built from the same objects. `node dist/bench/policy/profile.js [rounds]`
 */
import { PolicyCalc } from "../../policy/calc.js";
import { compile } from "../../policy/compile.js";
import { renderFull } from "../../policy/nft/render.js";
import { NODE, clusterState, loadPolicies } from "./cluster.js";

const rounds = Number(process.argv[2] ?? 3);
const state = clusterState();
const policies = loadPolicies();
const ms = (t0: number): string => `${(performance.now() - t0).toFixed(1)} ms`;
for (let i = 0; i < rounds; i++) {
  let t0 = performance.now();
  const ir = compile({ state, policies, node: NODE });
  const a = ms(t0);
  t0 = performance.now();
  const calc = new PolicyCalc(NODE);
  for (const n of state.namespaces) calc.upsertNamespace(n);
  for (const p of state.pods) calc.upsertPod(p);
  for (const p of policies) calc.upsertPolicy(p);
  const ir2 = calc.ir();
  const b = ms(t0);
  t0 = performance.now();
  renderFull(ir2);
  const c = ms(t0);
  const same = JSON.stringify(ir) === JSON.stringify(ir2);
  process.stdout.write(`compile() ${a}; calculation build ${b}; render ${c}; equal: ${same}\n`);
}

// The calculation's share of a pod label change (no kernel): upsert, take the delta, build the
// touched sets.
{
  const calc = new PolicyCalc(NODE);
  for (const n of state.namespaces) calc.upsertNamespace(n);
  for (const p of state.pods) calc.upsertPod(p);
  for (const p of policies) calc.upsertPolicy(p);
  calc.ir();
  calc.takeDelta();
  const times: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const p = state.pods[(i * 37) % state.pods.length];
    if (!p) continue;
    const t0 = performance.now();
    calc.upsertPod({ ...p, labels: { ...p.labels, tier: i % 2 ? "frontend" : "backend" } });
    for (const name of calc.takeDelta().sets) calc.setIR(name);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const at = (q: number): string => (times[Math.floor(q * (times.length - 1))] ?? NaN).toFixed(2);
  process.stdout.write(`calculation share of a pod label change: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms\n`);
}
