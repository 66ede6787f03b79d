/**
 * Calico NetworkSets and GlobalNetworkSets: validation, and which rules take their nets. The
 * expectations follow Calico's resource reference (a NetworkSet is matched by network policy rules
 * of its namespace, a GlobalNetworkSet by global network policy rules and by rules whose
 * namespaceSelector is `global()`; Kubernetes NetworkPolicy never matches either), checked on the
 * IR both the reference compiler and the agent's calculation produce.
 */
import t, { type Test } from "tap";
import { parse } from "yaml";
import { formatProblem } from "../../core/errors.js";
import { hostIfName } from "../../core/ifname.js";
import { IREvaluator } from "../../policy/evaluate.js";
import type { Family } from "../../policy/ir.js";
import { loadStateText } from "../../policy/state.js";
import { irBothWays } from "./harness/both.js";
import { validateNetworkSet, validatePolicy } from "../../policy/validate.js";

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
spec: {nodeName: A}
status: {podIPs: [{ip: 10.0.0.5}, {ip: "fd00::5"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: n2, labels: {app: other}}
spec: {nodeName: B}
status: {podIP: 10.0.1.7}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: corp, labels: {role: corp}}
spec: {nets: [198.51.100.0/28, "2001:db8::/48"]}
---
apiVersion: tortie.io/v1
kind: GlobalNetworkSet
metadata: {name: feeds, labels: {role: blocked}}
spec: {nets: [203.0.113.0/24]}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: db, namespace: n1, labels: {role: db}}
spec: {nets: [192.0.2.0/28]}
---
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: db, namespace: n2, labels: {role: db}}
spec: {nets: [192.0.2.128/28]}
`;

const NS1_DB = "192.0.2.1";
const NS2_DB = "192.0.2.129";
const CORP = "198.51.100.1";
const FEEDS = "203.0.113.5";
const POD_N2 = "10.0.1.7";
const ELSEWHERE = "8.8.8.8";
const ALL_SOURCES = [NS1_DB, NS2_DB, CORP, FEEDS, POD_N2, ELSEWHERE];

/** The sources (of ALL_SOURCES) that may open a TCP connection to n1/web on port 80. */
function allowed(t: Test, policies: string, sources = ALL_SOURCES, family: Family = 4): string[] {
  const ev = new IREvaluator(irBothWays(t, `${STATE}\n---\n${policies}`));
  const dst = family === 4 ? "10.0.0.5" : "fd00::5";
  return sources.filter(
    (src) =>
      ev.evaluate(null, hostIfName("n1", "web"), { family, src, dst, proto: 6, srcPort: 40000, dstPort: 80 })
        .ingress.action === "allow",
  );
}

const np = (ns: string, ingress: string): string =>
  `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: ${ns}}
spec:
  selector: app == 'web'
  types: [Ingress]
  ingress: ${ingress}`;
const gnp = (ingress: string): string =>
  `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec:
  selector: app == 'web'
  types: [Ingress]
  ingress: ${ingress}`;

t.test("which rules take which network sets' nets", async (t) => {
  t.same(
    allowed(t, np("n1", "[{action: Allow, source: {selector: role == 'db'}}]")),
    [NS1_DB],
    "a namespaced policy's selector: the NetworkSets of its namespace only",
  );
  t.same(
    allowed(t, np("n1", "[{action: Allow, source: {namespaceSelector: global()}}]")),
    [CORP, FEEDS],
    "namespaceSelector global(): every GlobalNetworkSet, no pod, no NetworkSet",
  );
  t.same(
    allowed(
      t,
      np("n1", "[{action: Allow, source: {namespaceSelector: global(), selector: role == 'corp'}}]"),
    ),
    [CORP],
    "global() and a selector: the GlobalNetworkSets it selects",
  );
  t.same(
    allowed(t, gnp("[{action: Allow, source: {selector: role == 'db'}}]")),
    [NS1_DB, NS2_DB],
    "a global policy's selector: NetworkSets of every namespace",
  );
  t.same(
    allowed(t, gnp("[{action: Allow, source: {selector: has(role)}}]")),
    [NS1_DB, NS2_DB, CORP, FEEDS],
    "and GlobalNetworkSets",
  );
  t.same(
    allowed(t, gnp("[{action: Allow, source: {namespaceSelector: team == 'b'}}]")),
    [NS2_DB, POD_N2],
    "a namespaceSelector: pods and NetworkSets of those namespaces, no GlobalNetworkSet",
  );
  t.same(
    allowed(t, gnp(`[{action: Allow, source: {selector: "projectcalico.org/namespace == 'n2'"}}]`)),
    [NS2_DB, POD_N2],
    "a NetworkSet carries its namespace as a pseudo-label, as a pod does",
  );
  t.same(
    allowed(t, gnp("[{action: Deny, source: {selector: role == 'blocked'}}, {action: Allow}]")),
    [NS1_DB, NS2_DB, CORP, POD_N2, ELSEWHERE],
    "a deny list of a threat feed",
  );
  t.same(
    allowed(t, gnp("[{action: Allow, source: {notSelector: role == 'blocked'}}]")),
    [NS1_DB, NS2_DB, CORP, POD_N2, ELSEWHERE],
    "notSelector takes the nets out too",
  );
  t.same(
    allowed(t, gnp("[{action: Allow, source: {serviceAccounts: {names: [default]}}}]")),
    [POD_N2],
    "a service account condition never holds for a network set",
  );
  t.same(
    allowed(
      t,
      gnp("[{action: Allow, source: {selector: role == 'corp'}}]"),
      ["2001:db8::1", "2001:db9::1"],
      6,
    ),
    ["2001:db8::1"],
    "IPv6 nets in the IPv6 set",
  );
  t.same(
    allowed(
      t,
      `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: k, namespace: n1}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{namespaceSelector: {}}]}]`,
    ),
    [POD_N2],
    "a Kubernetes NetworkPolicy matches pods only",
  );
});

function setProblems(yaml: string): string[] {
  const r = validateNetworkSet(parse(yaml));
  return r.ok ? [] : r.problems.map(formatProblem);
}

t.test("network set validation names the object and the field", async (t) => {
  const r = validateNetworkSet(
    parse(`apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: ext, namespace: n1, labels: {role: db}}
spec: {nets: [10.1.2.3, 10.9.9.9/16, "fd00::1", 10.1.2.3/32]}`),
  );
  t.same(
    r.ok ? r.set : r.problems,
    {
      namespace: "n1",
      name: "ext",
      labels: { role: "db" },
      nets: ["10.1.2.3/32", "10.9.0.0/16", "fd00::1/128"],
    },
    "an address is a /32 or /128, host bits are cleared, duplicates go",
  );
  t.same(
    setProblems(`apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: ext, namespace: n1}
spec: {nets: [10.0.0.0/8, 10.0.0.0/33, 7]}`),
    [
      'NetworkSet n1/ext: spec.nets[1]: invalid CIDR "10.0.0.0/33"',
      "NetworkSet n1/ext: spec.nets[2]: must be a string",
    ],
  );
  t.same(
    setProblems(`apiVersion: tortie.io/v1
kind: GlobalNetworkSet
metadata: {name: Feeds, namespace: n1, labels: {"-x": y}}
spec: {nets: 10.0.0.0/8, allowedEgressDomains: [a.com], extra: 1}`),
    [
      "GlobalNetworkSet Feeds: metadata.name: must be a lowercase RFC 1123 subdomain",
      "GlobalNetworkSet Feeds: metadata.namespace: must not be set on a GlobalNetworkSet",
      "GlobalNetworkSet Feeds: metadata.labels: key \"-x\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
      "GlobalNetworkSet Feeds: spec.nets: must be a list of CIDRs",
      "GlobalNetworkSet Feeds: spec.allowedEgressDomains: domain names are not supported",
      "GlobalNetworkSet Feeds: spec.extra: unknown field",
    ],
  );
  t.same(setProblems(`apiVersion: projectcalico.org/v3\nkind: GlobalNetworkSet\nmetadata: {}`), [
    "GlobalNetworkSet (unnamed): metadata.name: required",
  ]);
  const loaded = loadStateText(`${STATE}\n---\napiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: {name: db, namespace: n1}
spec: {nets: [192.0.2.64/28]}`);
  t.same(
    loaded.problems.map(formatProblem),
    ["NetworkSet n1/db: metadata.name: duplicate object"],
    "a second object of the same name is refused, the first kept",
  );
  t.same(loaded.state.networkSets?.length, 4);
});

t.test("global() only where Calico takes it", async (t) => {
  const bad = (spec: string): string[] => {
    const r = validatePolicy(parse(spec));
    return r.ok ? [] : r.problems.map(formatProblem);
  };
  t.same(bad(np("n1", "[{action: Allow, source: {namespaceSelector: ' global( ) '}}]")), [], "alone, spaced");
  t.match(bad(np("n1", "[{action: Allow, source: {namespaceSelector: global() || team == 'a'}}]")), [
    /NetworkPolicy n1\/p: spec\.ingress\[0\]\.source\.namespaceSelector: global\(\) is supported only as the whole namespaceSelector of a rule/,
  ]);
  t.match(bad(np("n1", "[{action: Allow, source: {selector: global()}}]")), [
    /spec\.ingress\[0\]\.source\.selector: global\(\) is supported only/,
  ]);
  t.same(
    bad(`apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: g}
spec: {namespaceSelector: global(), ingress: [{action: Allow}]}`),
    [
      "GlobalNetworkPolicy g: spec.namespaceSelector: global() selects host endpoints, which tortie does not support",
    ],
  );
});
