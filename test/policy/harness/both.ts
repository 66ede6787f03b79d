import type { Test } from "tap";
import { formatProblem } from "../../../core/errors.js";
import { calculate } from "../../../policy/calc.js";
import { compile } from "../../../policy/compile.js";
import type { PolicyIR } from "../../../policy/ir.js";
import { loadStateText } from "../../../policy/state.js";

/**
 * The IR of a state file's text for `node`, by the reference compiler, checked equal to what the
 * agent's incremental calculation makes of the same objects.
 */
export function irBothWays(t: Test, text: string, node: string | null = "A"): PolicyIR {
  const loaded = loadStateText(text);
  t.same(loaded.problems.map(formatProblem), [], "the state loads");
  const input = { state: loaded.state, policies: loaded.policies, node };
  const ir = compile(input);
  t.same(calculate(input), ir, "the agent's calculation gives the reference compiler's IR");
  return ir;
}

/** Kubernetes NetworkPolicies of namespace n1 for the tier tests: isolate every pod, or allow all. */
export const N1_DENY_ALL = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: n1}
spec: {podSelector: {}, policyTypes: [Ingress]}
`;
export const N1_ALLOW_ALL = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: n1}
spec: {podSelector: {}, ingress: [{}]}
`;

/** YAML documents joined into one multi-document text. */
export const docs = (...d: string[]): string => d.join("\n---\n");
