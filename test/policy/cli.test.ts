import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { run } from "../../cli/run.js";
import type { ExplainReport } from "../../policy/explain.js";

const bin = fileURLToPath(new URL("../../../bin/tortie.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "tortie-policy-cli-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function tortie(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    env: { ...process.env, TORTIE_LOG_LEVEL: "warn" },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** In-process run (spawning is slow on a loaded machine); output captured. */
async function inproc(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = (c: string | Uint8Array) => (out.push(String(c)), true);
  process.stderr.write = (c: string | Uint8Array) => (err.push(String(c)), true);
  try {
    const code = await run(["--log-level", "warn", ...args]);
    return { code, stdout: out.join(""), stderr: err.join("") };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    process.exitCode = undefined;
  }
}

function explainRun(state: string, from: string, to: string, port: string, ...more: string[]) {
  return inproc("policy", "explain", "--state", state, "--from", from, "--to", to, "--port", port, ...more);
}

async function explainJson(state: string, from: string, to: string, port: string) {
  return JSON.parse((await explainRun(state, from, to, port, "--json")).stdout) as ExplainReport;
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const GOOD = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 80}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: no-ssh}
spec:
  order: 10
  selector: all()
  ingress:
  - action: Deny
    protocol: TCP
    destination: {ports: [22]}
  - action: Pass
`;

const BAD = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: default}
spec:
  ingress:
  - ports: [{port: 80}, {port: 90, endPort: 85}]
---
apiVersion: tortie.io/v1
kind: NetworkPolicy
metadata: {name: worse, namespace: default}
spec:
  selector: "app =="
`;

t.test("validate: exit 0 when every object is valid", async (t) => {
  const r = await inproc("policy", "validate", file("good.yaml", GOOD));
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), "ok: 2 policy object(s) valid in 1 file(s)");
});

t.test(
  "validate: exit 2 and every problem listed, named by kind, namespace/name and field path",
  async (t) => {
    const r = tortie("policy", "validate", file("good2.yaml", GOOD), file("bad.yaml", BAD));
    t.equal(r.code, 2);
    t.match(r.stderr, "NetworkPolicy default/bad: spec.ingress[0].ports[1].endPort: must be >= port");
    t.match(
      r.stderr,
      'NetworkPolicy default/worse: spec.selector: invalid selector "app ==": expected a quoted string at offset 6',
    );
    t.equal(r.stderr.trim().split("\n").length, 2);
  },
);

t.test("validate --json: the report on stdout, exit 2 on problems", async (t) => {
  const r = await inproc("policy", "validate", "--json", file("bad2.yaml", BAD));
  t.equal(r.code, 2);
  const report = JSON.parse(r.stdout) as {
    valid: boolean;
    problems: Array<{ object: string; path: string; message: string }>;
  };
  t.equal(report.valid, false);
  t.same(report.problems[0], {
    object: "NetworkPolicy default/bad",
    path: "spec.ingress[0].ports[1].endPort",
    message: "must be >= port",
  });
  const good = JSON.parse(
    (await inproc("policy", "validate", "--json", file("good3.yaml", GOOD))).stdout,
  ) as {
    valid: boolean;
    policies: string[];
  };
  t.same(good, {
    valid: true,
    files: [join(dir, "good3.yaml")],
    policies: ["NetworkPolicy prod/web", "GlobalNetworkPolicy no-ssh"],
    networkSets: [],
    tiers: [],
    staged: [],
    notes: [],
    problems: [],
  });
  const sets = await inproc(
    "policy",
    "validate",
    file(
      "sets.yaml",
      `${GOOD}---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: feed}
spec: {nets: [203.0.113.0/24]}
---
apiVersion: tortie.io/v1
kind: NetworkSet
metadata: {name: db, namespace: prod}
spec: {nets: [192.0.2.0/28]}
`,
    ),
  );
  t.equal(sets.stdout.trim(), "ok: 2 policy object(s) and 2 network set(s) valid in 1 file(s)");
  const tiered = await inproc(
    "policy",
    "validate",
    file(
      "tiers.yaml",
      `apiVersion: projectcalico.org/v3
kind: Tier
metadata: {name: security}
spec: {order: 100}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: security.a}
spec: {tier: security, selector: all(), ingress: [{action: Pass}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: platform.b}
spec: {tier: platform, selector: all(), ingress: [{action: Pass}]}
`,
    ),
  );
  t.equal(
    tiered.stdout.trim(),
    [
      "ok: 2 policy object(s) and 1 tier(s) valid in 1 file(s)",
      "note: GlobalNetworkPolicy platform.b: spec.tier platform is defined by no Tier in these files (until one exists it is enforced in a tier sorted last, which denies what its policies do not decide)",
    ].join("\n"),
  );
  const json = await inproc("policy", "validate", "--json", join(dir, "tiers.yaml"));
  t.match(JSON.parse(json.stdout), { valid: true, tiers: ["security"], notes: [/platform\.b/] });
});

t.test("validate: a missing file is a one-line user error", async (t) => {
  const r = await inproc("policy", "validate", join(dir, "nope.yaml"));
  t.equal(r.code, 2);
  t.match(r.stderr, /^tortie: cannot read state file .*nope\.yaml/);
});

const STATE = `apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: prod, labels: {app: web}}
spec: {nodeName: n1}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: prod, labels: {app: client}}
spec: {nodeName: n2}
status: {podIP: 10.0.0.3}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: prod}
spec: {nodeName: n2}
status: {podIP: 10.0.0.4}
---
${GOOD}---
${BAD}`;

t.test("explain: allowed, with the deciding policy and rule", async (t) => {
  const state = file("state.yaml", STATE);
  const r = tortie(
    "policy",
    "explain",
    "--state",
    state,
    "--from",
    "prod/client",
    "--to",
    "prod/web-0",
    "--port",
    "80/TCP",
  );
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  t.equal(lines[0], "allowed: prod/client -> prod/web-0 80/TCP (10.0.0.3 -> 10.0.0.2)");
  t.equal(lines[1], "  decided by ingress of prod/web-0: allow by NetworkPolicy prod/web spec.ingress[0]");
  t.match(r.stderr, "skipped: NetworkPolicy default/bad", "bad objects are reported, not fatal");
});

t.test("explain --json: denied by the default, and denied by an extended Deny rule", async (t) => {
  const state = file("state2.yaml", STATE);
  const d = await explainJson(state, "prod/other", "prod/web-0", "80/TCP");
  t.equal(d.verdict, "deny");
  t.equal(d.allowed, false);
  t.equal(d.decidedBy.direction, "ingress");
  t.equal(d.decidedBy.policy, null);
  t.match(
    d.decidedBy.reason,
    /passed to the Kubernetes tier, where a policy selects prod\/web-0 for ingress and no rule allows this/,
  );
  t.equal(d.egress.verdict, "allow");
  const ssh = await explainJson(state, "prod/client", "prod/other", "22/TCP");
  t.equal(ssh.verdict, "deny");
  t.same(ssh.decidedBy.policy, {
    apiVersion: "projectcalico.org/v3",
    kind: "GlobalNetworkPolicy",
    namespace: null,
    name: "no-ssh",
  });
  t.equal(ssh.decidedBy.rule, "spec.ingress[0]");
  t.equal(ssh.decidedBy.action, "deny");
  t.match(ssh.decidedBy.ruleId, /^tpi-[0-9a-f]{16}:0\.0$/);
  const udp = await explainJson(state, "prod/client", "prod/other", "22/UDP");
  t.equal(udp.verdict, "allow", "Pass then no Kubernetes policy selects prod/other: allowed");
  t.match(udp.ingress.reason, /passed to the Kubernetes tier/);
});

t.test("explain from an address outside the cluster: the network set's rule decides", async (t) => {
  const state = file(
    "state-netset.yaml",
    `${STATE}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: {name: feed, labels: {feed: threats}}
spec: {nets: [203.0.113.0/24]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-feed}
spec:
  order: 1
  selector: all()
  types: [Ingress]
  ingress: [{action: Deny, source: {selector: feed == 'threats'}}, {action: Pass}]
`,
  );
  const bad = await explainJson(state, "203.0.113.9", "prod/web-0", "80/TCP");
  t.equal(bad.verdict, "deny");
  t.equal(bad.from, "203.0.113.9");
  t.equal(bad.decidedBy.reason, "deny by GlobalNetworkPolicy deny-feed spec.ingress[0]");
  t.equal(bad.egress.reason, "203.0.113.9 is no pod's address: no policy judges its egress");
  const other = await explainJson(state, "198.51.100.7", "prod/web-0", "80/TCP");
  t.equal(other.verdict, "deny", "not in the feed: prod/web's own policy does not allow it");
  t.match(other.decidedBy.reason, /default deny/);
  const pod = await explainJson(state, "10.0.0.3", "prod/web-0", "80/TCP");
  t.equal(pod.from, "prod/client", "a pod's address is that pod");
  t.equal(pod.verdict, "allow");
  const r = await explainRun(state, "203.0.113.9", "198.51.100.7", "80");
  t.equal(r.code, 2);
  t.match(r.stderr, /one end must be a pod/);
});

t.test("explain --staged: the verdict with the staged policies committed, and what it was", async (t) => {
  const state = file(
    "staged.yaml",
    `${STATE}---
apiVersion: projectcalico.org/v3
kind: StagedKubernetesNetworkPolicy
metadata: {name: web, namespace: prod}
spec: {podSelector: {matchLabels: {app: web}}, policyTypes: [Ingress]}
`,
  );
  const text = await explainRun(state, "prod/client", "prod/web-0", "80/TCP", "--staged");
  t.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trim().split("\n");
  t.match(lines[0], /^denied: prod\/client -> prod\/web-0 80\/TCP/);
  t.equal(
    lines.at(-1),
    "  with the staged policies committed (Set StagedKubernetesNetworkPolicy prod/web); without them: allowed",
  );
  const json = JSON.parse(
    (await explainRun(state, "prod/client", "prod/web-0", "80/TCP", "--staged", "--json")).stdout,
  );
  t.match(json, {
    verdict: "deny",
    staged: { applied: ["Set StagedKubernetesNetworkPolicy prod/web"], verdictWithout: "allow" },
  });
  const plain = await explainJson(state, "prod/client", "prod/web-0", "80/TCP");
  t.equal(plain.verdict, "allow", "without --staged the staged policy is not looked at");
});

t.test("explain: bad arguments are user errors", async (t) => {
  const state = file("state3.yaml", STATE);
  for (const [args, re] of [
    [["--from", "prod", "--to", "prod/web-0", "--port", "80/TCP"], /--from "prod": want NAMESPACE\/POD/],
    [["--from", "prod/client", "--to", "prod/nope", "--port", "80/TCP"], /--to prod\/nope: no such pod/],
    [
      ["--from", "prod/client", "--to", "prod/web-0", "--port", "80/ICMP"],
      /--port "80\/ICMP": want PORT\/PROTOCOL/,
    ],
  ] as const) {
    const r = await inproc("policy", "explain", "--state", state, ...args);
    t.equal(r.code, 2, args.join(" "));
    t.match(r.stderr, re);
  }
});
