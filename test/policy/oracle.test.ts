/**
 * The oracle: expected outcomes written from the Kubernetes NetworkPolicy API reference and Calico's
 * policy documentation (never from our output), checked through compile → IR → evaluator.
 *
 * Cluster: namespaces a (team=a), b (team=b), c (no labels). In each: pod x (app=x; named ports
 * http=80/TCP, dns=53/UDP), pod y (app=y, role=db; http=81/TCP; service account "db"), pod z (no
 * labels, no ports). IPs: a → 10.0.1.1-3, b → 10.0.2.1-3, c → 10.0.3.1-3 (x, y, z).
 */
import t from "tap";
import { explain, parsePortArg } from "../../policy/explain.js";
import { loadStateText } from "../../policy/state.js";

const NS: Record<string, number> = { a: 1, b: 2, c: 3 };
const POD: Record<string, number> = { x: 1, y: 2, z: 3 };

function base(): string {
  const docs: string[] = [];
  for (const [ns, n] of Object.entries(NS)) {
    const labels = ns === "c" ? "{}" : `{team: ${ns}}`;
    docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${ns}, labels: ${labels}}`);
    for (const [pod, m] of Object.entries(POD)) {
      const labels = pod === "x" ? "{app: x}" : pod === "y" ? "{app: y, role: db}" : "{}";
      const ports =
        pod === "x"
          ? "[{name: http, containerPort: 80}, {name: dns, containerPort: 53, protocol: UDP}]"
          : pod === "y"
            ? "[{name: http, containerPort: 81, protocol: TCP}]"
            : "[]";
      docs.push(
        [
          "apiVersion: v1",
          "kind: Pod",
          `metadata: {name: ${pod}, namespace: ${ns}, labels: ${labels}}`,
          `spec: {nodeName: node${m % 2}, serviceAccountName: ${pod === "y" ? "db" : "default"}, containers: [{name: c, ports: ${ports}}]}`,
          `status: {podIP: 10.0.${n}.${m}, podIPs: [{ip: 10.0.${n}.${m}}, {ip: "fd00::${n}:${m}"}]}`,
        ].join("\n"),
      );
    }
  }
  return docs.join("\n---\n");
}

type Want = "allow" | "deny";
type Case = readonly [from: string, to: string, port: string, want: Want];

function scenario(name: string, policies: string, cases: readonly Case[]): void {
  t.test(name, async (t) => {
    const loaded = loadStateText(`${base()}\n---\n${policies}`);
    t.same(loaded.problems, [], "the policies are valid");
    for (const [from, to, port, want] of cases) {
      const [fns, fpod] = from.split("/") as [string, string];
      const [tns, tpod] = to.split("/") as [string, string];
      const r = explain(
        loaded,
        { namespace: fns, pod: fpod },
        { namespace: tns, pod: tpod },
        parsePortArg(port),
      );
      t.equal(r.verdict, want, `${from} -> ${to} ${port}: ${want} (got: ${r.decidedBy.reason})`);
    }
  });
}

const np = (ns: string, name: string, spec: string): string =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${spec}`;

scenario("no policies: everything is allowed", "", [
  ["a/x", "b/y", "80/TCP", "allow"],
  ["c/z", "a/x", "53/UDP", "allow"],
]);

scenario(
  "an empty podSelector with policyTypes Ingress and no rules isolates every pod of the namespace",
  np("a", "deny-in", "  podSelector: {}\n  policyTypes: [Ingress]"),
  [
    ["b/x", "a/x", "80/TCP", "deny"],
    ["a/y", "a/z", "80/TCP", "deny"],
    ["a/x", "b/x", "80/TCP", "allow"],
    ["b/x", "c/x", "80/TCP", "allow"],
  ],
);

scenario(
  "`ingress: []` denies like absent ingress; `ingress: [{}]` allows everything",
  [
    np("a", "empty-list", "  podSelector: {matchLabels: {app: x}}\n  ingress: []"),
    np("b", "allow-all", "  podSelector: {}\n  ingress: [{}]"),
  ].join("\n---\n"),
  [
    ["c/x", "a/x", "80/TCP", "deny"],
    ["c/x", "a/y", "80/TCP", "allow"],
    ["c/z", "b/x", "9999/UDP", "allow"],
    ["a/y", "b/z", "81/TCP", "allow"],
  ],
);

scenario(
  "a podSelector peer selects pods of the policy's own namespace only",
  np(
    "a",
    "from-y",
    "  podSelector: {matchLabels: {app: x}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: y}}}]",
  ),
  [
    ["a/y", "a/x", "80/TCP", "allow"],
    ["b/y", "a/x", "80/TCP", "deny"],
    ["a/z", "a/x", "80/TCP", "deny"],
    ["a/x", "a/y", "80/TCP", "allow"],
  ],
);

scenario(
  "a namespaceSelector peer selects every pod of the matching namespaces",
  np(
    "a",
    "from-b",
    "  podSelector: {matchLabels: {app: x}}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {team: b}}}]",
  ),
  [
    ["b/x", "a/x", "80/TCP", "allow"],
    ["b/z", "a/x", "81/UDP", "allow"],
    ["a/y", "a/x", "80/TCP", "deny"],
    ["c/x", "a/x", "80/TCP", "deny"],
  ],
);

scenario(
  "namespaceSelector and podSelector in one peer are ANDed",
  np(
    "a",
    "and",
    "  podSelector: {matchLabels: {app: x}}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {team: b}}, podSelector: {matchLabels: {app: y}}}]",
  ),
  [
    ["b/y", "a/x", "80/TCP", "allow"],
    ["b/x", "a/x", "80/TCP", "deny"],
    ["a/y", "a/x", "80/TCP", "deny"],
  ],
);

scenario(
  "separate peers are ORed",
  np(
    "a",
    "or",
    "  podSelector: {matchLabels: {app: x}}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {team: b}}}, {podSelector: {matchLabels: {app: y}}}]",
  ),
  [
    ["b/x", "a/x", "80/TCP", "allow"],
    ["a/y", "a/x", "80/TCP", "allow"],
    ["a/z", "a/x", "80/TCP", "deny"],
    ["c/y", "a/x", "80/TCP", "deny"],
  ],
);

scenario(
  "an empty namespaceSelector selects all namespaces (including unlabelled ones)",
  np(
    "a",
    "all-ns",
    "  podSelector: {}\n  ingress:\n  - from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: y}}}]",
  ),
  [
    ["c/y", "a/z", "80/TCP", "allow"],
    ["b/y", "a/x", "80/TCP", "allow"],
    ["c/x", "a/x", "80/TCP", "deny"],
  ],
);

scenario(
  "ipBlock with except matches pod IPs; host bits in the CIDR are ignored",
  np(
    "a",
    "block",
    "  podSelector: {}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.2.77/24, except: [10.0.2.2/32]}}]",
  ),
  [
    ["b/x", "a/x", "80/TCP", "allow"],
    ["b/y", "a/x", "80/TCP", "deny"],
    ["b/z", "a/x", "80/TCP", "allow"],
    ["c/x", "a/x", "80/TCP", "deny"],
  ],
);

scenario(
  "a numeric port with no protocol means TCP; other ports and UDP are denied",
  np("a", "tcp80", "  podSelector: {}\n  ingress:\n  - ports: [{port: 80}]"),
  [
    ["b/x", "a/x", "80/TCP", "allow"],
    ["b/x", "a/x", "81/TCP", "deny"],
    ["b/x", "a/x", "80/UDP", "deny"],
  ],
);

scenario(
  "protocol UDP and a port without a number (all ports of that protocol)",
  np("a", "udp", "  podSelector: {}\n  ingress:\n  - ports: [{protocol: UDP, port: 53}, {protocol: SCTP}]"),
  [
    ["b/x", "a/x", "53/UDP", "allow"],
    ["b/x", "a/x", "53/TCP", "deny"],
    ["b/x", "a/x", "54/UDP", "deny"],
    ["b/x", "a/x", "9/SCTP", "allow"],
  ],
);

scenario(
  "endPort makes an inclusive range",
  np("a", "range", "  podSelector: {}\n  ingress:\n  - ports: [{port: 80, endPort: 81}]"),
  [
    ["b/x", "a/x", "79/TCP", "deny"],
    ["b/x", "a/x", "80/TCP", "allow"],
    ["b/x", "a/x", "81/TCP", "allow"],
    ["b/x", "a/x", "82/TCP", "deny"],
  ],
);

scenario(
  "ingress named ports resolve on each destination pod, protocol included",
  np("a", "named", "  podSelector: {}\n  ingress:\n  - ports: [{port: http}, {port: dns, protocol: UDP}]"),
  [
    ["b/x", "a/x", "80/TCP", "allow"],
    ["b/x", "a/y", "81/TCP", "allow"],
    ["b/x", "a/y", "80/TCP", "deny"],
    ["b/x", "a/z", "80/TCP", "deny"],
    ["b/x", "a/x", "53/UDP", "allow"],
    ["b/x", "a/x", "53/TCP", "deny"],
  ],
);

scenario(
  "egress named ports resolve on the destination pod",
  np(
    "a",
    "named-out",
    "  podSelector: {matchLabels: {app: x}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{namespaceSelector: {}}]\n    ports: [{port: http}]",
  ),
  [
    ["a/x", "b/x", "80/TCP", "allow"],
    ["a/x", "b/y", "81/TCP", "allow"],
    ["a/x", "b/y", "80/TCP", "deny"],
    ["a/x", "b/z", "80/TCP", "deny"],
    ["a/y", "b/z", "80/TCP", "allow"],
  ],
);

scenario(
  "egress rules restrict only the selected pods' outgoing connections",
  np(
    "a",
    "out",
    "  podSelector: {matchLabels: {app: x}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{namespaceSelector: {matchLabels: {team: b}}}]\n    ports: [{port: 80}]",
  ),
  [
    ["a/x", "b/y", "80/TCP", "allow"],
    ["a/x", "b/y", "81/TCP", "deny"],
    ["a/x", "a/y", "80/TCP", "deny"],
    ["a/y", "c/x", "81/TCP", "allow"],
    ["b/x", "a/x", "80/TCP", "allow"],
  ],
);

scenario(
  "policyTypes defaulting: egress rules without policyTypes make the policy Ingress and Egress",
  np("a", "both", "  podSelector: {matchLabels: {app: x}}\n  egress:\n  - to: [{podSelector: {}}]"),
  [
    ["a/y", "a/x", "80/TCP", "deny"],
    ["a/x", "a/y", "80/TCP", "allow"],
    ["a/x", "b/y", "80/TCP", "deny"],
  ],
);

scenario(
  "policyTypes defaulting: `egress: []` without policyTypes is Ingress only; policyTypes [Egress] with no rules denies egress",
  [
    np("a", "ing-only", "  podSelector: {matchLabels: {app: x}}\n  ingress: [{}]\n  egress: []"),
    np("b", "eg-deny", "  podSelector: {matchLabels: {app: x}}\n  policyTypes: [Egress]"),
  ].join("\n---\n"),
  [
    ["a/x", "c/z", "80/TCP", "allow"],
    ["c/z", "a/x", "80/TCP", "allow"],
    ["b/x", "c/z", "80/TCP", "deny"],
    ["c/z", "b/x", "80/TCP", "allow"],
  ],
);

scenario(
  "policies are a union: each may allow what the other does not",
  [
    np(
      "a",
      "p1",
      "  podSelector: {matchLabels: {app: x}}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {team: b}}}]",
    ),
    np("a", "p2", "  podSelector: {}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: y}}}]"),
  ].join("\n---\n"),
  [
    ["b/z", "a/x", "80/TCP", "allow"],
    ["a/y", "a/x", "80/TCP", "allow"],
    ["b/z", "a/y", "80/TCP", "deny"],
    ["c/z", "a/x", "80/TCP", "deny"],
  ],
);

scenario(
  "matchExpressions: NotIn matches pods without the key; DoesNotExist; In; Exists",
  [
    np(
      "a",
      "notin",
      "  podSelector: {matchExpressions: [{key: role, operator: NotIn, values: [db]}]}\n  policyTypes: [Ingress]",
    ),
    np(
      "b",
      "dne",
      "  podSelector: {matchExpressions: [{key: app, operator: DoesNotExist}]}\n  policyTypes: [Ingress]",
    ),
    np(
      "c",
      "in",
      "  podSelector: {}\n  ingress:\n  - from: [{namespaceSelector: {matchExpressions: [{key: team, operator: In, values: [a]}]}, podSelector: {matchExpressions: [{key: role, operator: Exists}]}}]",
    ),
  ].join("\n---\n"),
  [
    ["c/x", "a/x", "80/TCP", "deny"],
    ["c/x", "a/z", "80/TCP", "deny"],
    ["c/x", "a/y", "80/TCP", "allow"],
    ["c/x", "b/z", "80/TCP", "deny"],
    ["c/x", "b/x", "80/TCP", "allow"],
    ["a/y", "c/x", "80/TCP", "allow"],
    ["a/x", "c/x", "80/TCP", "deny"],
    ["b/y", "c/x", "80/TCP", "deny"],
  ],
);

scenario(
  "both directions must allow: source egress and destination ingress",
  [
    np(
      "a",
      "out-b",
      "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to: [{namespaceSelector: {matchLabels: {team: b}}}]",
    ),
    np(
      "b",
      "in-y",
      "  podSelector: {}\n  ingress:\n  - from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: y}}}]",
    ),
  ].join("\n---\n"),
  [
    ["a/y", "b/x", "80/TCP", "allow"],
    ["a/x", "b/x", "80/TCP", "deny"],
    ["a/y", "c/x", "80/TCP", "deny"],
    ["c/y", "b/x", "80/TCP", "allow"],
  ],
);

const gnp = (name: string, spec: string, api = "tortie.io/v1"): string =>
  `apiVersion: ${api}\nkind: GlobalNetworkPolicy\nmetadata: {name: ${name}}\nspec:\n${spec}`;
const xnp = (ns: string, name: string, spec: string, api = "tortie.io/v1"): string =>
  `apiVersion: ${api}\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec:\n${spec}`;

scenario(
  "extended Deny is evaluated before Kubernetes policies",
  [
    gnp(
      "deny-b",
      "  order: 10\n  selector: app == 'x'\n  ingress:\n  - action: Deny\n    source: {namespaceSelector: team == 'b'}\n  - action: Pass",
    ),
    np("a", "allow-all", "  podSelector: {}\n  ingress: [{}]"),
  ].join("\n---\n"),
  [
    ["b/y", "a/x", "80/TCP", "deny"],
    ["a/y", "a/x", "80/TCP", "allow"],
    ["b/y", "a/y", "80/TCP", "allow"],
  ],
);

scenario(
  "extended policies run by order: a lower order Allow wins over a higher order Deny",
  [
    gnp(
      "deny-b",
      "  order: 20\n  selector: app == 'x'\n  ingress:\n  - action: Deny\n    source: {namespaceSelector: team == 'b'}\n  - action: Allow",
    ),
    gnp(
      "allow-by",
      "  order: 5\n  selector: app == 'x'\n  ingress:\n  - action: Allow\n    source: {selector: app == 'y', namespaceSelector: team == 'b'}",
    ),
  ].join("\n---\n"),
  [
    ["b/y", "a/x", "80/TCP", "allow"],
    ["b/x", "a/x", "80/TCP", "deny"],
    ["c/x", "a/x", "80/TCP", "allow"],
  ],
);

scenario(
  "Pass hands the decision to the Kubernetes tier; with no Kubernetes policy the default allows",
  [
    gnp(
      "pass-c",
      "  order: 1\n  selector: all()\n  ingress:\n  - action: Pass\n    source: {namespaceSelector: '!has(team)'}\n  - action: Deny",
    ),
    np(
      "a",
      "only-y",
      "  podSelector: {}\n  ingress:\n  - from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: y}}}]",
    ),
  ].join("\n---\n"),
  [
    ["c/y", "a/x", "80/TCP", "allow"],
    ["c/x", "a/x", "80/TCP", "deny"],
    ["c/x", "b/x", "80/TCP", "allow"],
    ["b/y", "a/x", "80/TCP", "deny"],
  ],
);

scenario(
  "an extended policy that selects a pod isolates it: no matching rule means deny",
  gnp(
    "only-by",
    "  selector: app == 'x'\n  ingress:\n  - action: Allow\n    source: {selector: app == 'y' && projectcalico.org/namespace == 'b'}",
  ),
  [
    ["b/y", "a/x", "80/TCP", "allow"],
    ["a/y", "a/x", "80/TCP", "deny"],
    ["a/x", "a/y", "80/TCP", "allow"],
  ],
);

scenario(
  "Calico v3 namespaced policy: selectors stay in the policy's namespace; nets, notNets, ports, notPorts",
  [
    xnp(
      "a",
      "calico",
      "  selector: app in {'x', 'y'}\n  types: [Ingress]\n  ingress:\n  - action: Allow\n    protocol: TCP\n    source: {selector: '!has(role)'}\n    destination: {ports: [80, '90:100']}\n  - action: Allow\n    protocol: UDP\n    source: {nets: [10.0.2.0/24], notNets: [10.0.2.3/32]}\n    destination: {notPorts: [53]}",
      "projectcalico.org/v3",
    ),
  ].join("\n---\n"),
  [
    ["a/z", "a/x", "80/TCP", "allow"],
    ["a/z", "a/x", "95/TCP", "allow"],
    ["a/z", "a/x", "81/TCP", "deny"],
    ["a/y", "a/x", "80/TCP", "deny"],
    ["b/z", "a/x", "80/TCP", "deny"],
    ["b/x", "a/y", "54/UDP", "allow"],
    ["b/x", "a/y", "53/UDP", "deny"],
    ["b/z", "a/y", "54/UDP", "deny"],
    ["c/x", "a/y", "54/UDP", "deny"],
    ["b/x", "a/z", "54/UDP", "allow"],
  ],
);

scenario(
  "Log records and continues; serviceAccounts.names selects by service account",
  xnp(
    "b",
    "sa",
    "  selector: all()\n  ingress:\n  - action: Log\n  - action: Allow\n    source: {serviceAccounts: {names: [db]}, namespaceSelector: all()}",
  ),
  [
    ["a/y", "b/x", "80/TCP", "allow"],
    ["c/y", "b/z", "81/UDP", "allow"],
    ["a/x", "b/x", "80/TCP", "deny"],
  ],
);

scenario(
  "egress notSelector and destination named ports in an extended policy",
  xnp(
    "a",
    "named",
    "  selector: app == 'x'\n  types: [Egress]\n  egress:\n  - action: Allow\n    protocol: TCP\n    destination: {namespaceSelector: all(), notSelector: role == 'db', ports: [http]}",
  ),
  [
    ["a/x", "b/x", "80/TCP", "allow"],
    ["a/x", "b/y", "81/TCP", "deny"],
    ["a/x", "b/x", "81/TCP", "deny"],
    ["a/x", "b/z", "80/TCP", "deny"],
  ],
);
