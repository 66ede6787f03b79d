/** Times the pure compile of the benchmark cluster (no root): `node dist/bench/policy/profile.js`. */
import { compile } from "../../policy/compile.js";
import { NODE, clusterState, loadPolicies } from "./cluster.js";

const state = clusterState();
const policies = loadPolicies();
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  const ir = compile({ state, policies, node: NODE });
  process.stdout.write(`compile ${(performance.now() - t0).toFixed(1)} ms, ${ir.sets.length} sets\n`);
}
