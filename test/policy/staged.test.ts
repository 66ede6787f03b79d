/**
 * Calico's staged policies (StagedNetworkPolicy, StagedGlobalNetworkPolicy,
 * StagedKubernetesNetworkPolicy): validated like the policy they stand for, never enforced, and
 * committed by `explain --staged` as Calico commits them (Set replaces or adds the enforced policy of
 * the same kind, namespace and name; Delete removes it; Learn and Ignore change nothing).
 */
import t from "tap";
import { parse } from "yaml";
import { formatProblem } from "../../core/errors.js";
import { compile } from "../../policy/compile.js";
import { commitStaged, explain, parsePortArg } from "../../policy/explain.js";
import { loadStateText } from "../../policy/state.js";
import { validateStagedPolicy } from "../../policy/validate.js";
import { docs } from "./harness/both.js";

const STATE = `
apiVersion: v1
kind: Namespace
metadata: {name: n1}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: n1, labels: {app: web}}
spec: {nodeName: A}
status: {podIP: 10.0.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: n1, labels: {app: client}}
spec: {nodeName: B}
status: {podIP: 10.0.1.6}
`;

const ENFORCED_DENY = `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: web-in, namespace: n1}
spec: {selector: app == 'web', types: [Ingress], ingress: [{action: Deny}]}
`;
const staged = (action: string | null, rule = "Allow", kind = "StagedNetworkPolicy"): string => `
apiVersion: projectcalico.org/v3
kind: ${kind}
metadata: {name: web-in, namespace: n1}
spec: {${action === null ? "" : `stagedAction: ${action}, `}selector: app == 'web', types: [Ingress], ingress: [{action: ${rule}}]}
`;
const STAGED_K8S = `
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: web-in, namespace: n1}
spec: {podSelector: {}, policyTypes: [Ingress]}
`;

const verdict = (text: string, commit: boolean): string => {
  const loaded = loadStateText(docs(STATE, text));
  if (loaded.problems.length) throw new Error(loaded.problems.map(formatProblem).join("; "));
  const l = commit ? commitStaged(loaded).loaded : loaded;
  return explain(
    l,
    { namespace: "n1", pod: "client" },
    { namespace: "n1", pod: "web" },
    parsePortArg("80/TCP"),
  ).verdict;
};

t.test("a staged policy is never enforced", async (t) => {
  const without = loadStateText(docs(STATE, ENFORCED_DENY));
  const withStaged = loadStateText(docs(STATE, ENFORCED_DENY, staged("Set"), STAGED_K8S));
  t.same(withStaged.problems, []);
  t.equal(withStaged.staged?.length, 2);
  t.same(
    compile({ state: withStaged.state, policies: withStaged.policies, node: "A" }),
    compile({ state: without.state, policies: without.policies, node: "A" }),
    "the node's rules are those of the enforced policies alone",
  );
  t.equal(verdict(docs(ENFORCED_DENY, staged("Set")), false), "deny");
});

t.test("committing: Set replaces or adds, Delete removes, Learn and Ignore change nothing", async (t) => {
  t.equal(
    verdict(docs(ENFORCED_DENY, staged("Set")), true),
    "allow",
    "Set puts the staged Allow in the Deny's place",
  );
  t.equal(verdict(docs(ENFORCED_DENY, staged(null)), true), "allow", "stagedAction defaults to Set");
  t.equal(verdict(staged("Set", "Deny"), true), "deny", "Set with no enforced policy of that name adds one");
  t.equal(
    verdict(docs(ENFORCED_DENY, staged("Delete")), true),
    "allow",
    "Delete removes the enforced policy",
  );
  t.equal(verdict(docs(ENFORCED_DENY, staged("Learn")), true), "deny");
  t.equal(verdict(docs(ENFORCED_DENY, staged("Ignore")), true), "deny");
  t.equal(
    verdict(
      docs(
        ENFORCED_DENY,
        STAGED_K8S.replace("policyTypes: [Ingress]", "policyTypes: [Ingress], ingress: [{}]"),
      ),
      true,
    ),
    "deny",
    "a StagedKubernetesNetworkPolicy stands for the Kubernetes policy of that name, not the Calico one",
  );
  t.equal(verdict(STAGED_K8S, true), "deny", "it isolates the pod once committed");
  const loaded = loadStateText(docs(STATE, ENFORCED_DENY, staged("Delete"), staged("Learn"), STAGED_K8S));
  t.same(commitStaged(loaded).applied, [
    "Delete StagedNetworkPolicy n1/web-in",
    "Set StagedKubernetesNetworkPolicy n1/web-in",
  ]);
});

t.test("a bad staged policy is refused with its own kind and name and the field", async (t) => {
  const problems = (y: string): string[] => {
    const r = validateStagedPolicy(parse(y));
    return r.ok ? [] : r.problems.map(formatProblem);
  };
  t.same(problems(staged("Commit")), [
    'StagedNetworkPolicy n1/web-in: spec.stagedAction: must be Set, Delete, Learn or Ignore, not "Commit"',
  ]);
  t.same(problems(staged("Set", "Accept")), [
    'StagedNetworkPolicy n1/web-in: spec.ingress[0].action: must be one of "Allow", "Deny", "Pass", "Log"',
  ]);
  t.same(problems(STAGED_K8S.replace("podSelector: {}", "podSelector: {}, selector: all()")), [
    "StagedKubernetesNetworkPolicy n1/web-in: spec.selector: unknown field",
  ]);
  t.same(
    problems(staged("Set", "Allow", "StagedGlobalNetworkPolicy").replace(", namespace: n1", "")),
    [],
    "a StagedGlobalNetworkPolicy is cluster-wide",
  );
});
