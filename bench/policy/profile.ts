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
