/**
 * Calico tiers: validation of Tier objects and of a policy's `spec.tier`, and evaluation order. The
 * expectations follow Calico's Tier reference: tiers are evaluated by order (smallest first, absent
 * last, then by name); a tier with no policy for the endpoint is skipped; inside one, the first
 * Allow or Deny decides, a Pass goes on to the next tier, and when no policy decides the tier's
 * defaultAction applies (Deny unless it says Pass). The default tier (order 1,000,000) holds policies
 * without a tier and the Kubernetes ones; when every tier has passed, the pod's default (allow)
 * applies. Checked on the IR both the reference compiler and the agent's calculation produce.
 */
import t, { type Test } from "tap";
import { parse } from "yaml";
import { formatProblem } from "../../core/errors.js";
import { hostIfName } from "../../core/ifname.js";
import { PolicyCalc } from "../../policy/calc.js";
import { compile } from "../../policy/compile.js";
import { IREvaluator } from "../../policy/evaluate.js";
import { explain, explainText, parsePortArg } from "../../policy/explain.js";
import type { PolicyIR } from "../../policy/ir.js";
import { loadStateText } from "../../policy/state.js";
import { N1_ALLOW_ALL, N1_DENY_ALL, docs, irBothWays } from "./harness/both.js";
import { validateTier } from "../../policy/validate.js";

const STATE = `
apiVersion: v1
kind: Namespace
metadata: {name: n1}
---
apiVersion: v1
kind: Namespace
metadata: {name: n2}
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
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: n2, labels: {app: other}}
spec: {nodeName: B}
status: {podIP: 10.0.1.7}
`;

const CLIENT = "10.0.1.6";
const OTHER = "10.0.1.7";
const OUTSIDE = "192.0.2.9";
const SOURCES = [CLIENT, OTHER, OUTSIDE];

const irOf = (t: Test, objects: string): PolicyIR => irBothWays(t, `${STATE}\n---\n${objects}`);

/** The sources (of SOURCES) that may open a TCP connection to n1/web on `port`. */
function allowed(t: Test, objects: string, port = 80): string[] {
  const ev = new IREvaluator(irOf(t, objects));
  return SOURCES.filter(
    (src) =>
      ev.evaluate(null, hostIfName("n1", "web"), {
        family: 4,
        src,
        dst: "10.0.0.5",
        proto: 6,
        srcPort: 40000,
        dstPort: port,
      }).action === "allow",
  );
}

const tier = (name: string, order: number | null, action?: "Deny" | "Pass"): string => `
apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: ${name}}
spec: {${order === null ? "" : `order: ${order}`}${action ? `${order === null ? "" : ", "}defaultAction: ${action}` : ""}}
`;

/** A GlobalNetworkPolicy selecting n1/web for ingress, in `tierName` (null: no spec.tier). */
const gnp = (name: string, tierName: string | null, rules: string, order?: number): string => `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ${name}}
spec:
  ${tierName === null ? "" : `tier: ${tierName}`}
  ${order === undefined ? "" : `order: ${order}`}
  selector: app == 'web'
  types: [Ingress]
  ingress:
${rules}
`;

const ALLOW_CLIENT = "  - {action: Allow, source: {selector: app == 'client'}}";
const DENY_CLIENT = "  - {action: Deny, source: {selector: app == 'client'}}";
const DENY_OTHER = "  - {action: Deny, source: {selector: app == 'other'}}";
const PASS_ALL = "  - {action: Pass}";
const PASS_OTHER = "  - {action: Pass, source: {selector: app == 'other'}}";
const ALLOW_ALL = "  - {action: Allow}";
const NO_RULES = "    []";

t.test("Tier objects are validated with the field named", async (t) => {
  const problems = (y: string): string[] => {
    const r = validateTier(parse(y));
    return r.ok ? [] : r.problems.map(formatProblem);
  };
  t.same(validateTier(parse(tier("security", 100.5, "Pass"))), {
    ok: true,
    tier: { name: "security", order: 100.5, defaultAction: "pass" },
  });
  t.same(validateTier(parse("apiVersion: tortie.io/v1\nkind: Tier\nmetadata: {name: platform}")), {
    ok: true,
    tier: { name: "platform", order: null, defaultAction: "deny" },
  });
  t.same(problems(tier("security", null, "Allow" as "Deny")), [
    'Tier security: spec.defaultAction: must be Deny or Pass, not "Allow"',
  ]);
  t.same(problems("apiVersion: tortie.io/v1\nkind: Tier\nmetadata: {name: a}\nspec: {order: high}"), [
    "Tier a: spec.order: must be a number",
  ]);
  t.same(problems("apiVersion: tortie.io/v1\nkind: Tier\nmetadata: {name: a}\nspec: {selector: all()}"), [
    "Tier a: spec.selector: unknown field",
  ]);
  t.same(problems("apiVersion: tortie.io/v1\nkind: Tier\nmetadata: {name: a, namespace: n1}"), [
    "Tier a: metadata.namespace: must not be set: tiers are cluster-wide",
  ]);
  t.same(problems(tier("sec.urity", 1)), [
    'Tier sec.urity: metadata.name: must be a lowercase RFC 1123 label (policy names in a tier are prefixed "<tier>.")',
  ]);
  t.same(problems(tier("default", 5, "Pass")), [
    "Tier default: spec.order: the default tier's order is fixed at 1000000",
    "Tier default: spec.defaultAction: the default tier's action is fixed at Deny",
  ]);
  t.same(problems(tier("default", 1000000, "Deny")), [], "Calico's own default tier object is accepted");
  const loaded = loadStateText(docs(tier("a", 1), tier("a", 2)));
  t.same(loaded.problems.map(formatProblem), ["Tier a: metadata.name: duplicate object"]);
});

t.test("a tier before the default one decides first", async (t) => {
  const security = tier("security", 100);
  t.same(
    allowed(
      t,
      docs(security, gnp("security.deny-other", "security", `${DENY_OTHER}\n${PASS_ALL}`), N1_ALLOW_ALL),
    ),
    [CLIENT, OUTSIDE],
    "its Deny wins over a Kubernetes allow; its Pass lets the default tier decide",
  );
  t.same(
    allowed(
      t,
      docs(security, gnp("security.allow-client", "security", `${ALLOW_CLIENT}\n${PASS_ALL}`), N1_DENY_ALL),
    ),
    [CLIENT],
    "its Allow wins over a Kubernetes default deny",
  );
  t.same(
    allowed(t, docs(security, gnp("security.deny-other", "security", DENY_OTHER), N1_ALLOW_ALL)),
    [],
    "no policy of the tier decides: the tier's default action (Deny) drops it, whatever later tiers say",
  );
  t.same(
    allowed(
      t,
      docs(tier("security", 100, "Pass"), gnp("security.deny-other", "security", DENY_OTHER), N1_DENY_ALL),
    ),
    [],
    "defaultAction Pass hands over to the default tier, where Kubernetes isolation denies",
  );
  t.same(
    allowed(t, docs(tier("security", 100, "Pass"), gnp("security.deny-other", "security", DENY_OTHER))),
    [CLIENT, OUTSIDE],
    "defaultAction Pass with nothing in the default tier: the pod's default allows",
  );
  t.same(
    allowed(t, docs(security, gnp("security.none", "security", NO_RULES), N1_ALLOW_ALL)),
    [],
    "a policy without rules still makes the tier apply: end-of-tier deny",
  );
  t.same(
    allowed(
      t,
      docs(security, gnp("security.pass-other", "security", `${PASS_OTHER}\n${ALLOW_ALL}`), N1_DENY_ALL),
    ),
    [CLIENT, OUTSIDE],
    "a Pass skips the rest of its tier, not only its policy",
  );
});

t.test("a tier whose policies do not select the endpoint is skipped", async (t) => {
  const elsewhere = `
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.others-only}
spec:
  tier: security
  selector: app == 'nothing-here'
  ingress: [{action: Deny}]
`;
  t.same(allowed(t, docs(tier("security", 100), elsewhere, N1_ALLOW_ALL)), [CLIENT, OTHER, OUTSIDE]);
  t.same(allowed(t, docs(tier("security", 100), elsewhere)), [CLIENT, OTHER, OUTSIDE]);
  const egressOnly = gnp("security.egress", "security", NO_RULES).replace(
    "types: [Ingress]",
    "types: [Egress]",
  );
  t.same(
    allowed(t, docs(tier("security", 100), egressOnly.replace("ingress:\n    []", "egress: []"))),
    [CLIENT, OTHER, OUTSIDE],
    "a tier applies per direction",
  );
});

t.test("tiers are evaluated by order, then by name; absent order last", async (t) => {
  const a = (order: number | null) => tier("aa", order);
  const b = (order: number | null) => tier("bb", order);
  const pols = docs(
    gnp("aa.deny-client", "aa", `${DENY_CLIENT}\n${PASS_ALL}`),
    gnp("bb.allow-client", "bb", ALLOW_CLIENT),
  );
  t.same(allowed(t, docs(a(100), b(200), pols)), [], "aa (100) before bb (200): aa's deny");
  t.same(
    allowed(t, docs(a(300), b(200), pols)),
    [CLIENT],
    "bb (200) before aa (300): bb's allow, then its end-of-tier deny",
  );
  t.same(allowed(t, docs(a(100), b(100), pols)), [], "equal order: by name, aa first");
  t.same(allowed(t, docs(a(null), b(5), pols)), [CLIENT], "aa without order comes after bb");
  t.same(allowed(t, docs(a(null), b(null), pols)), [], "both without order: by name");
  t.same(
    allowed(t, docs(b(200), pols)),
    [CLIENT],
    "a tier a policy names before its Tier object exists sorts last (and denies at its end)",
  );
});

t.test("tiers after the default tier", async (t) => {
  const late = tier("baseline", 2_000_000);
  const baseline = gnp("baseline.allow-client", "baseline", ALLOW_CLIENT);
  t.same(
    allowed(t, docs(late, baseline)),
    [CLIENT],
    "nothing in the default tier for the endpoint: the later tier decides, and denies at its end",
  );
  t.same(
    allowed(t, docs(late, baseline, N1_ALLOW_ALL)),
    [CLIENT, OTHER, OUTSIDE],
    "a Kubernetes allow in the default tier decides before it",
  );
  t.same(
    allowed(t, docs(late, baseline, N1_DENY_ALL)),
    [],
    "the default tier applies and allows nothing: denied there, the later tier is never reached",
  );
  t.same(
    allowed(
      t,
      docs(late, gnp("baseline.allow-all", "baseline", ALLOW_ALL), gnp("pass-other", null, PASS_OTHER)),
    ),
    [OTHER],
    "the default tier applies: what no rule decides is denied; a Pass goes on to the later tier",
  );
  t.same(
    allowed(t, docs(late, baseline, gnp("pass-all", null, PASS_ALL), N1_ALLOW_ALL)),
    [CLIENT, OTHER, OUTSIDE],
    "a default-tier Pass goes to the Kubernetes policies first (tortie's order), which allow",
  );
  t.same(
    allowed(t, docs(late, tier("security", 10, "Pass"), gnp("security.x", "security", DENY_OTHER), baseline)),
    [CLIENT],
    "before-tier passes, default tier empty, later tier allows the client and denies the rest",
  );
  t.same(
    allowed(t, docs(tier("baseline", 2_000_000, "Pass"), baseline)),
    [CLIENT, OTHER, OUTSIDE],
    "every tier passed: the pod's default allows",
  );
});

t.test("explain names the tier that denied", async (t) => {
  const loaded = loadStateText(
    docs(STATE, tier("security", 100), gnp("security.deny-other", "security", DENY_OTHER), N1_ALLOW_ALL),
  );
  t.same(loaded.problems, []);
  const web = { namespace: "n1", pod: "web" };
  const r = explain(loaded, { namespace: "n1", pod: "client" }, web, parsePortArg("80/TCP"));
  t.equal(r.verdict, "deny");
  t.equal(
    r.decidedBy.reason,
    "tier security has a policy for n1/web's ingress, but none of them decided (the tier's default action: Deny)",
  );
  const passing = loadStateText(
    docs(
      STATE,
      tier("security", 100),
      tier("team", 200, "Pass"),
      gnp("security.pass", "security", PASS_ALL),
      gnp("team.other", "team", DENY_OTHER),
      N1_ALLOW_ALL,
    ),
  );
  const through = explain(passing, { namespace: "n1", pod: "client" }, web, parsePortArg("80/TCP"));
  t.equal(through.verdict, "allow");
  t.same(through.ingress.passedBy, [
    "security (Pass by GlobalNetworkPolicy security.pass spec.ingress[0])",
    "team (its default action, Pass)",
  ]);
  t.match(
    explainText(through),
    "; passed on by tier security (Pass by GlobalNetworkPolicy security.pass spec.ingress[0]), then team (its default action, Pass)",
  );
  const other = explain(loaded, { namespace: "n2", pod: "other" }, web, parsePortArg("80/TCP"));
  t.equal(other.verdict, "deny");
  t.equal(other.decidedBy.reason, "deny by GlobalNetworkPolicy security.deny-other spec.ingress[0]");
});

t.test("a tier's order or action changing re-sorts the chains of the pods its policies select", async (t) => {
  const loaded = loadStateText(
    docs(
      STATE,
      tier("aa", 100),
      tier("bb", 200),
      gnp("aa.deny-client", "aa", `${DENY_CLIENT}\n${PASS_ALL}`),
      gnp("bb.allow-client", "bb", ALLOW_CLIENT),
    ),
  );
  t.same(loaded.problems, []);
  const calc = new PolicyCalc("A");
  for (const n of loaded.state.namespaces) calc.upsertNamespace(n);
  for (const p of loaded.state.pods) calc.upsertPod(p);
  for (const tr of loaded.state.tiers ?? []) calc.upsertTier(tr);
  for (const p of loaded.policies) calc.upsertPolicy(p);
  const check = (
    tiers: { name: string; order: number | null; defaultAction: "deny" | "pass" }[],
    msg: string,
  ) => {
    const want = compile({ state: { ...loaded.state, tiers }, policies: loaded.policies, node: "A" });
    t.same(calc.ir(), want, msg);
  };
  calc.ir();
  calc.takeDelta();
  calc.upsertTier({ name: "aa", order: 300, defaultAction: "deny" });
  const delta = calc.takeDelta();
  t.same(
    [...delta.chains],
    [`tei-${hostIfName("n1", "web").slice(4)}`],
    "only web's ingress chain is rewritten",
  );
  check(
    [
      { name: "aa", order: 300, defaultAction: "deny" },
      { name: "bb", order: 200, defaultAction: "deny" },
    ],
    "order changed",
  );
  calc.upsertTier({ name: "bb", order: 200, defaultAction: "pass" });
  check(
    [
      { name: "aa", order: 300, defaultAction: "deny" },
      { name: "bb", order: 200, defaultAction: "pass" },
    ],
    "action changed",
  );
  calc.removeTier("aa");
  check([{ name: "bb", order: 200, defaultAction: "pass" }], "tier gone: its policies sort last");
});
