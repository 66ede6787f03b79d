import t from "tap";
import { formatProblem } from "../../core/errors.js";
import { loadStateText } from "../../policy/state.js";
import { validatePolicy } from "../../policy/validate.js";
import type { Policy } from "../../policy/model.js";
import { parse } from "yaml";

function problems(yaml: string): string[] {
  const r = validatePolicy(parse(yaml));
  return r.ok ? [] : r.problems.map(formatProblem);
}

function ok(t: { fail: (message: string) => unknown }, yaml: string): Policy {
  const r = validatePolicy(parse(yaml));
  if (!r.ok) {
    t.fail(r.problems.map(formatProblem).join("\n"));
    throw new Error("invalid");
  }
  return r.policy;
}

const k8s = (spec: string, md = "{name: web, namespace: prod}"): string =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: ${md}\nspec:\n${spec}`;

t.test("field paths of Kubernetes validation errors", async (t) => {
  const cases: Array<[string, string]> = [
    [
      "  ingress:\n  - ports: [{port: 80}, {port: 90, endPort: 85}]",
      "spec.ingress[0].ports[1].endPort: must be >= port",
    ],
    [
      "  ingress:\n  - ports: [{port: http, endPort: 85}]",
      "spec.ingress[0].ports[0].endPort: may not be specified when port is non-numeric",
    ],
    [
      "  ingress:\n  - ports: [{endPort: 85}]",
      "spec.ingress[0].ports[0].endPort: may not be specified when port is not specified",
    ],
    [
      "  ingress:\n  - ports: [{port: 0}]",
      "spec.ingress[0].ports[0].port: must be between 1 and 65535, inclusive",
    ],
    [
      "  ingress:\n  - ports: [{port: 70000}]",
      "spec.ingress[0].ports[0].port: must be between 1 and 65535, inclusive",
    ],
    [
      "  ingress:\n  - ports: [{port: Http}]",
      "spec.ingress[0].ports[0].port: must contain only lowercase alphanumeric characters and '-'",
    ],
    [
      "  ingress:\n  - ports: [{port: web-server-port-x}]",
      "spec.ingress[0].ports[0].port: must be no more than 15 characters",
    ],
    [
      "  ingress:\n  - ports: [{port: '8080'}]",
      "spec.ingress[0].ports[0].port: must contain at least one letter",
    ],
    [
      "  ingress:\n  - ports: [{protocol: ICMP}]",
      'spec.ingress[0].ports[0].protocol: must be one of "TCP", "UDP", "SCTP"',
    ],
    ["  egress:\n  - to: [{}]", "spec.egress[0].to[0]: must specify a peer"],
    [
      "  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]",
      "spec.egress[0].to[0]: may not specify more than 1 peer type (ipBlock with a selector)",
    ],
    [
      "  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/33}}]",
      'spec.egress[0].to[0].ipBlock.cidr: invalid CIDR "10.0.0.0/33"',
    ],
    [
      "  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.0.0/8]}}]",
      'spec.egress[0].to[0].ipBlock.except[0]: must be a strict subset of "10.0.0.0/8"',
    ],
    [
      "  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [fd00::/64]}}]",
      'spec.egress[0].to[0].ipBlock.except[0]: must be a strict subset of "10.0.0.0/8"',
    ],
    [
      "  egress:\n  - to: [{ipBlock: {except: [10.0.0.0/16]}}]",
      "spec.egress[0].to[0].ipBlock.cidr: required",
    ],
    [
      "  podSelector: {matchExpressions: [{key: app, operator: In}]}",
      "spec.podSelector.matchExpressions[0].values: must be specified when operator is In",
    ],
    [
      "  podSelector: {matchExpressions: [{key: app, operator: Exists, values: [a]}]}",
      "spec.podSelector.matchExpressions[0].values: may not be specified when operator is Exists",
    ],
    [
      "  podSelector: {matchExpressions: [{key: app, operator: Is}]}",
      'spec.podSelector.matchExpressions[0].operator: must be one of "In", "NotIn", "Exists", "DoesNotExist"',
    ],
    [
      "  podSelector: {matchLabels: {app: 'a b'}}",
      "spec.podSelector.matchLabels.app: must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    ],
    [
      "  podSelector: {matchLabels: {'-app': a}}",
      `spec.podSelector.matchLabels: key "-app": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`,
    ],
    ["  policyTypes: [Ingress, Sideways]", 'spec.policyTypes[1]: must be one of "Ingress", "Egress"'],
    ["  ingress:\n  - form: []", "spec.ingress[0].form: unknown field"],
  ];
  for (const [spec, want] of cases) t.same(problems(k8s(spec)), [`NetworkPolicy prod/web: ${want}`], want);
  t.same(problems(k8s("  podSelector: {}", "{name: Web}")), [
    "NetworkPolicy default/Web: metadata.name: must be a lowercase RFC 1123 subdomain",
  ]);
  t.same(problems("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}"), [
    "NetworkPolicy default/x: spec: required",
  ]);
});

t.test("every problem of an object is listed, not just the first", async (t) => {
  const got = problems(k8s("  ingress:\n  - ports: [{port: 90, endPort: 85}, {port: 0}]\n    from: [{}]"));
  t.equal(got.length, 3);
});

t.test("policyTypes defaulting follows the API server", async (t) => {
  const types = (spec: string): [boolean, boolean] => {
    const p = ok(t, k8s(spec));
    return [p.ingress !== null, p.egress !== null];
  };
  t.same(types("  podSelector: {}"), [true, false], "no rules: Ingress");
  t.same(types("  egress: [{}]"), [true, true], "egress rules: Ingress and Egress");
  t.same(types("  egress: []"), [true, false], "an empty egress list is no egress section");
  t.same(types("  policyTypes: [Egress]\n  ingress: [{}]"), [false, true], "explicit policyTypes win");
  const p = ok(t, k8s("  ingress: []"));
  t.same(p.ingress, [], "`ingress: []` is no rules (deny all)");
  t.same(ok(t, k8s("  ingress: [{}]")).ingress?.length, 1, "`ingress: [{}]` is one rule matching everything");
});

t.test(
  "Kubernetes normalisation: default namespace, TCP default, per-protocol rules, canonical CIDRs",
  async (t) => {
    const p = ok(
      t,
      k8s(
        "  ingress:\n  - from: [{ipBlock: {cidr: 10.1.2.3/16, except: [10.1.0.0/24]}}]\n    ports: [{port: 80}, {port: 53, protocol: UDP}, {port: http}, {port: 80, endPort: 80}]",
        "{name: web}",
      ),
    );
    t.equal(p.ref.namespace, "default");
    t.equal(p.ingress?.length, 2, "one rule per protocol");
    t.same(p.ingress?.[0]?.protocol, 6);
    t.same(p.ingress?.[0]?.destination.ports, [
      { kind: "number", port: 80 },
      { kind: "named", name: "http" },
      { kind: "number", port: 80 },
    ]);
    t.same(p.ingress?.[1]?.protocol, 17);
    t.same(p.ingress?.[0]?.source.peers, [{ kind: "ipBlock", cidr: "10.1.0.0/16", except: ["10.1.0.0/24"] }]);
    t.equal(p.ingress?.[1]?.index, 0, "both come from spec.ingress[0]");
  },
);

const ext = (kind: string, spec: string, api = "tortie.io/v1", md = "{name: p, namespace: prod}"): string =>
  `apiVersion: ${api}\nkind: ${kind}\nmetadata: ${md}\nspec:\n${spec}`;

t.test("extended policies: Calico YAML accepted unchanged; field errors", async (t) => {
  const calico = ext(
    "GlobalNetworkPolicy",
    "  order: 100\n  selector: role == 'db'\n  namespaceSelector: has(team)\n  types: [Ingress, Egress]\n  ingress:\n  - action: Allow\n    protocol: TCP\n    source: {selector: app == 'web', namespaceSelector: all(), nets: [10.0.0.0/8], notNets: [10.1.0.0/16]}\n    destination: {ports: [5432, '6000:6010', http], notPorts: [6005]}\n  - action: Allow\n    protocol: ICMP\n    icmp: {type: 8, code: 0}\n  - action: Log\n  egress:\n  - action: Pass\n    ipVersion: 6\n  - action: Deny\n    notProtocol: UDP\n    destination: {serviceAccounts: {names: [db], selector: tier == 'a'}}",
    "projectcalico.org/v3",
    "{name: db-guard}",
  );
  const p = ok(t, calico);
  t.equal(p.order, 100);
  t.equal(p.tier, "extended");
  t.equal(p.ref.namespace, null);
  t.same(
    p.ingress?.map((r) => r.action),
    ["allow", "allow", "log"],
  );
  t.same(
    p.egress?.map((r) => r.action),
    ["pass", "deny"],
  );
  t.equal(p.ingress?.[1]?.ipVersion, 4, "ICMP implies IPv4");
  t.same(p.ingress?.[0]?.destination.ports, [
    { kind: "number", port: 5432 },
    { kind: "number", port: 6000, endPort: 6010 },
    { kind: "named", name: "http" },
  ]);

  const cases: Array<[string, string, string]> = [
    [
      "NetworkPolicy",
      "  ingress:\n  - action: Allow\n    destination: {ports: [80]}",
      "spec.ingress[0].destination.ports: may only be used with protocol TCP, UDP, SCTP or UDPLite",
    ],
    [
      "NetworkPolicy",
      "  ingress:\n  - action: Accept",
      'spec.ingress[0].action: must be one of "Allow", "Deny", "Pass", "Log"',
    ],
    ["NetworkPolicy", "  ingress:\n  - protocol: TCP", "spec.ingress[0].action: required"],
    [
      "NetworkPolicy",
      '  selector: "app =="',
      'spec.selector: invalid selector "app ==": expected a quoted string at offset 6',
    ],
    [
      "NetworkPolicy",
      "  ingress:\n  - action: Allow\n    icmp: {type: 8}",
      "spec.ingress[0].icmp: may only be used with protocol ICMP or ICMPv6",
    ],
    [
      "NetworkPolicy",
      "  ingress:\n  - action: Allow\n    protocol: ICMP\n    icmp: {code: 1}",
      "spec.ingress[0].icmp.code: may not be specified without type",
    ],
    [
      "NetworkPolicy",
      "  ingress:\n  - action: Allow\n    protocol: ICMPv6\n    ipVersion: 4",
      "spec.ingress[0].ipVersion: must be 6 with protocol ICMPv6",
    ],
    [
      "NetworkPolicy",
      "  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {ports: ['90:80']}",
      "spec.ingress[0].destination.ports[0]: range end must be >= range start",
    ],
    [
      "NetworkPolicy",
      "  ingress:\n  - action: Allow\n    protocol: 256",
      "spec.ingress[0].protocol: must be between 1 and 255, inclusive",
    ],
    [
      "NetworkPolicy",
      "  ingress:\n  - action: Allow\n    source: {nets: [10.0.0.0/40]}",
      'spec.ingress[0].source.nets[0]: invalid CIDR "10.0.0.0/40"',
    ],
    ["NetworkPolicy", "  namespaceSelector: all()", "spec.namespaceSelector: unknown field"],
    [
      "NetworkPolicy",
      "  types: [Egress]\n  ingress: [{action: Allow}]",
      "spec.ingress: ingress rules given but types excludes Ingress",
    ],
    ["NetworkPolicy", "  tier: Security", "spec.tier: must be a lowercase RFC 1123 label"],
    ["NetworkPolicy", "  tier: sec.urity", "spec.tier: must be a lowercase RFC 1123 label"],
  ];
  for (const [kind, spec, want] of cases)
    t.same(problems(ext(kind, spec)), [`${kind} prod/p: ${want}`], want);
  t.same(
    problems(ext("GlobalNetworkPolicy", "  selector: all()", "tortie.io/v1", "{name: g, namespace: x}")),
    ["GlobalNetworkPolicy g: metadata.namespace: must not be set on a cluster-wide policy"],
  );
});

t.test("Calico types defaulting", async (t) => {
  const dirs = (spec: string): [boolean, boolean] => {
    const p = ok(t, ext("NetworkPolicy", spec));
    return [p.ingress !== null, p.egress !== null];
  };
  t.same(dirs("  selector: all()"), [true, false]);
  t.same(dirs("  egress: [{action: Allow}]"), [false, true]);
  t.same(dirs("  ingress: [{action: Allow}]\n  egress: [{action: Allow}]"), [true, true]);
});

t.test("the state loader keeps good objects when others are bad", async (t) => {
  const r = loadStateText(
    [
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: prod, labels: {env: prod}}",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: prod}\nspec: {nodeName: n1, containers: [{ports: [{name: http, containerPort: 80}]}]}\nstatus: {podIPs: [{ip: 10.0.0.1}, {ip: 'fd00::1'}]}",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nstatus: {podIP: 10.0.0.300}",
      k8s("  ingress:\n  - ports: [{port: 90, endPort: 85}]"),
      k8s("  podSelector: {}", "{name: good, namespace: prod}"),
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: host, namespace: prod}\nspec: {hostNetwork: true}\nstatus: {podIP: 192.168.0.1}",
      "apiVersion: v1\nkind: Pod\nmetadata: {name: done, namespace: prod}\nstatus: {phase: Succeeded, podIP: 10.0.0.9}",
      "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: c, namespace: other}\n  status: {podIP: 10.0.0.3}",
    ].join("\n---\n"),
    "s.yaml",
  );
  t.same(r.problems.map(formatProblem), [
    'Pod default/b: status.podIP: invalid IP address "10.0.0.300"',
    "NetworkPolicy prod/web: spec.ingress[0].ports[0].endPort: must be >= port",
    "s.yaml document 6: kind: unsupported apiVersion/kind apps/v1/Deployment (want v1 Namespace, Pod, ServiceAccount, List, a (staged) NetworkPolicy, a NetworkSet, a Tier or an EndpointSlice)",
  ]);
  t.same(
    r.policies.map((p) => p.ref.name),
    ["good"],
  );
  t.same(
    r.state.pods.map((p) => `${p.namespace}/${p.name}`),
    ["other/c", "prod/a", "prod/done", "prod/host"],
  );
  t.same(
    r.state.pods.filter((p) => p.name === "host" || p.name === "done").map((p) => p.ips),
    [[], []],
    "host-network and finished pods have no policy addresses",
  );
  const a = r.state.pods.find((p) => p.name === "a");
  t.same(a?.ips, ["10.0.0.1", "fd00::1"]);
  t.same(a?.ports, [{ containerPort: 80, protocol: "TCP", name: "http" }], "protocol defaults to TCP");
  t.equal(a?.serviceAccountName, "default");
  t.same(
    r.state.namespaces.map((n) => [n.name, n.labels]),
    [
      ["other", { "kubernetes.io/metadata.name": "other" }],
      ["prod", { env: "prod", "kubernetes.io/metadata.name": "prod" }],
    ],
    "namespaces get the automatic name label; undeclared ones exist",
  );
  const bad = loadStateText("a: [", "broken.yaml");
  t.equal(bad.problems.length > 0, true, "a YAML syntax error is a problem");
  t.match(
    formatProblem(bad.problems[0] ?? { object: "", path: "", message: "" }),
    /^broken.yaml document 1: \(yaml\): /,
  );
});

t.test("Calico rule fields tortie cannot enforce are refused with the reason", async (t) => {
  t.same(
    problems(
      ext(
        "NetworkPolicy",
        `  ingress:
    - action: Allow
      http: {methods: [GET]}`,
        "projectcalico.org/v3",
      ),
    ),
    [
      "NetworkPolicy prod/p: spec.ingress[0].http: HTTP matching needs an application-layer proxy; tortie enforces layers 3 and 4",
    ],
  );
});

t.test(
  "services: the Service stands alone on its side; a cluster-wide policy names its namespace",
  async (t) => {
    t.same(
      problems(
        ext(
          "NetworkPolicy",
          `  egress:
    - action: Allow
      protocol: TCP
      destination: {services: {name: api}, ports: [443], selector: app == 'x'}
    - action: Allow
      protocol: TCP
      source: {services: {name: api, namespace: Bad_NS, port: 1}, ports: [80]}
    - action: Allow
      destination: {services: {namespace: prod}}`,
          "projectcalico.org/v3",
        ),
      ),
      [
        "NetworkPolicy prod/p: spec.egress[0].destination.selector: cannot be combined with services",
        "NetworkPolicy prod/p: spec.egress[0].destination.ports: cannot be combined with services (the Service's ports are matched)",
        "NetworkPolicy prod/p: spec.egress[1].source.services.namespace: must be a lowercase RFC 1123 label",
        "NetworkPolicy prod/p: spec.egress[1].source.services.port: unknown field",
        "NetworkPolicy prod/p: spec.egress[2].destination.services.name: required",
      ],
    );
    t.same(
      problems(
        ext(
          "GlobalNetworkPolicy",
          "  egress:\n    - action: Allow\n      destination: {services: {name: kubernetes}}",
          "projectcalico.org/v3",
          "{name: g}",
        ),
      ),
      [
        "GlobalNetworkPolicy g: spec.egress[0].destination.services.namespace: required in a cluster-wide policy",
      ],
    );
    const p = ok(
      t,
      ext(
        "NetworkPolicy",
        "  egress:\n    - action: Allow\n      destination: {services: {name: api}}",
        "projectcalico.org/v3",
      ),
    );
    t.same(
      p.egress?.[0]?.destination.services,
      { name: "api", namespace: "prod" },
      "the policy's namespace by default",
    );
  },
);
