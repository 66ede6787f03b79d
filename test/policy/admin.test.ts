/**
 * Kubernetes AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1).
 * The expectations follow the API's reference: AdminNetworkPolicies come before every
 * NetworkPolicy, by priority (lower first), rules in order; Allow and Deny are final, Pass hands
 * over to the NetworkPolicies, and traffic no AdminNetworkPolicy rule matches goes on to them too.
 * The BaselineAdminNetworkPolicy counts only for pods no NetworkPolicy isolates; what it does not
 * decide is allowed. Selectors are plain Kubernetes label selectors. Checked on the IR both the
 * reference compiler and the agent's calculation produce.
 */
import t, { type Test } from "tap";
import { parse } from "yaml";
import { formatProblem } from "../../core/errors.js";
import { hostIfName } from "../../core/ifname.js";
import { IREvaluator } from "../../policy/evaluate.js";
import { explain, parsePortArg } from "../../policy/explain.js";
import { loadStateText } from "../../policy/state.js";
import { validatePolicy, validateTier } from "../../policy/validate.js";
import { N1_ALLOW_ALL, N1_DENY_ALL, docs, irBothWays } from "./harness/both.js";

const STATE = `
apiVersion: v1
kind: Namespace
metadata: {name: n1, labels: {team: a}}
---
apiVersion: v1
kind: Namespace
metadata: {name: n2, labels: {team: b}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: n1, labels: {app: web}}
spec:
  nodeName: A
  containers: [{name: c, ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]}]
status: {podIP: 10.0.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: n1, labels: {app: client}}
spec: {nodeName: A}
status: {podIP: 10.0.0.6}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: n2, labels: {app: other}}
spec: {nodeName: B}
status: {podIP: 10.0.1.7}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: partners, namespace: n2, labels: {app: other}}
spec: {nets: [192.0.2.0/28]}
`;

const CLIENT = "10.0.0.6";
const OTHER = "10.0.1.7";
const PARTNER = "192.0.2.3";
const OUTSIDE = "198.51.100.9";
const SOURCES = [CLIENT, OTHER, PARTNER, OUTSIDE];

/** The sources that may open a connection to n1/web on `port`/`proto`. */
function allowed(t: Test, objects: string, port = 80, proto: 6 | 17 = 6): string[] {
  const ev = new IREvaluator(irBothWays(t, docs(STATE, objects)));
  return SOURCES.filter(
    (src) =>
      ev.evaluate(src === CLIENT ? hostIfName("n1", "client") : null, hostIfName("n1", "web"), {
        family: 4,
        src,
        dst: "10.0.0.5",
        proto,
        srcPort: 40000,
        dstPort: port,
      }).action === "allow",
  );
}

/** Where n1/client may connect to, on TCP `port`. */
function egressAllowed(t: Test, objects: string, dsts: readonly string[], port = 80): string[] {
  const ev = new IREvaluator(irBothWays(t, docs(STATE, objects)));
  return dsts.filter(
    (dst) =>
      ev.evaluate(hostIfName("n1", "client"), null, {
        family: 4,
        src: CLIENT,
        dst,
        proto: 6,
        srcPort: 40000,
        dstPort: port,
      }).action === "allow",
  );
}

const anp = (name: string, priority: number, body: string): string => `
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: ${name}}
spec:
  priority: ${priority}
${body}`;
const banp = (body: string): string => `
apiVersion: policy.networking.k8s.io/v1alpha1
kind: BaselineAdminNetworkPolicy
metadata: {name: default}
spec:
${body}`;
const WEB = `  subject: {pods: {namespaceSelector: {matchLabels: {team: a}}, podSelector: {matchLabels: {app: web}}}}`;
const FROM_N2 = `{namespaces: {matchLabels: {team: b}}}`;
const FROM_CLIENT = `{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: client}}}}`;

t.test("an AdminNetworkPolicy decides before NetworkPolicies", async (t) => {
  t.same(
    allowed(
      t,
      docs(anp("deny-n2", 10, `${WEB}\n  ingress: [{action: Deny, from: [${FROM_N2}]}]`), N1_ALLOW_ALL),
    ),
    [CLIENT, PARTNER, OUTSIDE],
    "Deny is final although a NetworkPolicy allows all",
  );
  t.same(
    allowed(
      t,
      docs(anp("allow-n2", 10, `${WEB}\n  ingress: [{action: Allow, from: [${FROM_N2}]}]`), N1_DENY_ALL),
    ),
    [OTHER],
    "Allow is final although a NetworkPolicy isolates the pod",
  );
  t.same(
    allowed(
      t,
      docs(anp("pass-n2", 10, `${WEB}\n  ingress: [{action: Pass, from: [${FROM_N2}]}]`), N1_DENY_ALL),
    ),
    [],
    "Pass hands over to the NetworkPolicies, which deny",
  );
  t.same(
    allowed(t, anp("pass-n2", 10, `${WEB}\n  ingress: [{action: Pass, from: [${FROM_N2}]}]`)),
    [CLIENT, OTHER, PARTNER, OUTSIDE],
    "no rule matching, or a Pass, with no NetworkPolicy and no baseline: allowed",
  );
  t.same(
    allowed(
      t,
      docs(anp("deny-n2", 10, `${WEB}\n  ingress: [{action: Deny, from: [${FROM_N2}]}]`), N1_DENY_ALL),
    ),
    [],
    "traffic no rule matches goes on to the NetworkPolicies (no end-of-tier deny, no allow)",
  );
  t.same(
    allowed(
      t,
      docs(
        anp("allow-client", 20, `${WEB}\n  ingress: [{action: Allow, from: [${FROM_CLIENT}]}]`),
        anp(
          "deny-n1",
          10,
          `${WEB}\n  ingress: [{action: Deny, from: [{namespaces: {matchLabels: {team: a}}}]}]`,
        ),
      ),
    ),
    [OTHER, PARTNER, OUTSIDE],
    "lower priority first: priority 10's Deny beats priority 20's Allow",
  );
  t.same(
    allowed(
      t,
      anp(
        "rules-in-order",
        10,
        `${WEB}\n  ingress:\n  - {action: Allow, from: [${FROM_CLIENT}]}\n  - {action: Deny, from: [{namespaces: {}}]}`,
      ),
    ),
    [CLIENT, PARTNER, OUTSIDE],
    "inside one policy, rules in order",
  );
});

t.test("ports: portNumber, portRange and namedPort (whatever the container port's protocol)", async (t) => {
  const deny = (ports: string) =>
    anp("p", 1, `${WEB}\n  ingress: [{action: Deny, from: [{namespaces: {}}], ports: [${ports}]}]`);
  t.same(allowed(t, deny("{portNumber: {port: 80}}"), 80), [PARTNER, OUTSIDE], "TCP by default");
  t.same(allowed(t, deny("{portNumber: {port: 80}}"), 80, 17), SOURCES, "UDP 80 is another port");
  t.same(allowed(t, deny("{portNumber: {protocol: UDP, port: 80}}"), 80, 17), [PARTNER, OUTSIDE]);
  t.same(
    allowed(t, deny("{portRange: {start: 80, end: 90}}"), 90),
    [PARTNER, OUTSIDE],
    "the end is inclusive",
  );
  t.same(allowed(t, deny("{portRange: {start: 80, end: 90}}"), 91), SOURCES);
  t.same(allowed(t, deny("{namedPort: http}"), 8080), [PARTNER, OUTSIDE], "http is TCP 8080 on web");
  t.same(allowed(t, deny("{namedPort: dns}"), 53, 17), [PARTNER, OUTSIDE], "dns is UDP 53 on web");
  t.same(allowed(t, deny("{namedPort: dns}"), 53, 6), SOURCES, "not TCP 53");
});

t.test("selectors are Kubernetes label selectors: no Calico pseudo-labels, no network sets", async (t) => {
  t.same(
    allowed(
      t,
      anp(
        "deny-other",
        1,
        `${WEB}\n  ingress: [{action: Deny, from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: other}}}}]}]`,
      ),
    ),
    [CLIENT, PARTNER, OUTSIDE],
    "the NetworkSet labelled app=other is no pod",
  );
  t.same(
    allowed(
      t,
      anp(
        "deny-pseudo",
        1,
        `${WEB}\n  ingress: [{action: Deny, from: [{namespaces: {matchLabels: {projectcalico.org/name: n2}}}]}]`,
      ),
    ),
    SOURCES,
    "projectcalico.org/name is not a namespace label here",
  );
});

t.test("egress to networks and pods", async (t) => {
  const clientSubject = `  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: client}}}}`;
  t.same(
    egressAllowed(
      t,
      anp(
        "egress",
        5,
        `${clientSubject}\n  egress:\n  - {action: Allow, to: [{networks: [192.0.2.0/28]}, ${FROM_N2}]}\n  - {action: Deny, to: [{networks: [0.0.0.0/0]}]}`,
      ),
      [PARTNER, OTHER, OUTSIDE, "10.0.0.5"],
    ),
    [PARTNER, OTHER],
    "peers are ORed; the catch-all network denies the rest, pods included",
  );
});

t.test("the BaselineAdminNetworkPolicy counts where no NetworkPolicy isolates", async (t) => {
  const base = banp(`${WEB}\n  ingress: [{action: Deny, from: [${FROM_N2}]}]`);
  t.same(allowed(t, base), [CLIENT, PARTNER, OUTSIDE], "its Deny; what it does not decide is allowed");
  t.same(allowed(t, docs(base, N1_ALLOW_ALL)), SOURCES, "a NetworkPolicy selecting the pod decides instead");
  t.same(allowed(t, docs(base, N1_DENY_ALL)), [], "");
  t.same(
    allowed(t, docs(base, anp("pass", 1, `${WEB}\n  ingress: [{action: Pass, from: [{namespaces: {}}]}]`))),
    [CLIENT, PARTNER, OUTSIDE],
    "an AdminNetworkPolicy Pass with no NetworkPolicy reaches the baseline",
  );
  const loaded = loadStateText(docs(STATE, base));
  const r = explain(
    loaded,
    { namespace: "n2", pod: "other" },
    { namespace: "n1", pod: "web" },
    parsePortArg("80"),
  );
  t.equal(r.decidedBy.reason, "deny by BaselineAdminNetworkPolicy default spec.ingress[0]");
});

t.test("bad admin policies are refused with the field named", async (t) => {
  const problems = (y: string): string[] => {
    const r = validatePolicy(parse(y));
    return r.ok ? [] : r.problems.map(formatProblem);
  };
  t.same(problems(anp("a", 1001, WEB)), ["AdminNetworkPolicy a: spec.priority: must be <= 1000"]);
  t.same(
    problems(anp("a", 1, "  subject: {namespaces: {}, pods: {namespaceSelector: {}, podSelector: {}}}")),
    ["AdminNetworkPolicy a: spec.subject: must set exactly one of its fields"],
  );
  t.same(problems(anp("a", 1, `${WEB}\n  ingress: [{action: Log, from: [{namespaces: {}}]}]`)), [
    'AdminNetworkPolicy a: spec.ingress[0].action: must be one of "Allow", "Deny", "Pass"',
  ]);
  t.same(problems(anp("a", 1, `${WEB}\n  ingress: [{action: Deny}]`)), [
    "AdminNetworkPolicy a: spec.ingress[0].from: required",
  ]);
  t.same(problems(anp("a", 1, `${WEB}\n  egress: [{action: Deny, to: [{nodes: {}}]}]`)), [
    "AdminNetworkPolicy a: spec.egress[0].to[0].nodes: node peers are not supported (tortie does not filter host traffic)",
  ]);
  t.same(problems(anp("a", 1, `${WEB}\n  ingress: [{action: Deny, from: [{networks: [10.0.0.0/8]}]}]`)), [
    "AdminNetworkPolicy a: spec.ingress[0].from[0].networks: unknown field",
  ]);
  t.same(
    problems(
      anp(
        "a",
        1,
        `${WEB}\n  egress: [{action: Deny, to: [{networks: [10.0.0.0/33]}], ports: [{portRange: {start: 9, end: 9}}]}]`,
      ),
    ),
    [
      'AdminNetworkPolicy a: spec.egress[0].to[0].networks[0]: invalid CIDR "10.0.0.0/33"',
      "AdminNetworkPolicy a: spec.egress[0].ports[0].portRange.end: must be greater than start",
    ],
  );
  t.same(problems(banp(`${WEB}\n  ingress: [{action: Pass, from: [{namespaces: {}}]}]`)), [
    'BaselineAdminNetworkPolicy default: spec.ingress[0].action: must be one of "Allow", "Deny"',
  ]);
  t.same(problems(banp(WEB).replace("name: default", "name: other")), [
    'BaselineAdminNetworkPolicy other: metadata.name: must be "default": there is one BaselineAdminNetworkPolicy per cluster',
  ]);
  const tierProblems = (y: string): string[] => {
    const r = validateTier(parse(y));
    return r.ok ? [] : r.problems.map(formatProblem);
  };
  t.same(
    tierProblems(
      "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: kube-admin}\nspec: {order: 5}",
    ),
    [
      "Tier kube-admin: spec.order: the kube-admin tier's order is fixed at 1000",
      "Tier kube-admin: spec.defaultAction: the kube-admin tier's action is fixed at Pass",
    ],
  );
  t.same(
    tierProblems(
      "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata: {name: kube-baseline}\nspec: {order: 10000000, defaultAction: Pass}",
    ),
    [],
    "Calico's own object for the baseline tier",
  );
});
