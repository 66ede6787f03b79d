import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { delimiter, join } from "node:path";
import t from "tap";
import { parseAllDocuments } from "yaml";
import { kindOf } from "../../datastore/kinds.js";
import { validateObject } from "../../datastore/validate.js";
import { crdProblems } from "./crd-check.js";
import { CHART } from "./generate.js";

/**
 * The templates, rendered. helm cannot be installed where tortie is developed, so this runs only where a
 * `helm` is on PATH and is reported as SKIPPED otherwise (never as a pass). What it checks: `helm lint`
 * with the default and the full values, then every object `helm template` renders, CRDs included.
 */

const helm = (process.env.PATH ?? "")
  .split(delimiter)
  .map((d) => join(d, "helm"))
  .find((p) => existsSync(p));
const FULL = join(CHART, "examples", "full-values.yaml");
const CONTRACT_ENV = [
  "TORTIE_DATASTORE",
  "TORTIE_NODE",
  "TORTIE_CONTROL",
  "TORTIE_CNI_SOCKET",
  "TORTIE_LISTEN",
  "TORTIE_BACKEND",
  "TORTIE_RESYNC_INTERVAL",
];

t.test("the DaemonSet template names the agent's contract (text only: it runs everywhere)", async (t) => {
  const text = readFileSync(join(CHART, "templates", "daemonset.yaml"), "utf8");
  for (const name of [...CONTRACT_ENV, "TORTIE_IP"]) t.match(text, `- name: ${name}\n`, name);
  t.match(text, 'command: ["tortie", "node", "run"]');
  t.match(text, /livenessProbe:\s+httpGet:\s+host: 127\.0\.0\.1\s+path: \/liveness/);
  t.match(text, /readinessProbe:\s+httpGet:\s+host: 127\.0\.0\.1\s+path: \/readiness/);
  t.match(text, "value: /run/tortie/node.sock", "the contract's default control socket");
  const script = readFileSync(join(CHART, "files", "install-cni.sh"), "utf8");
  t.match(script, 'cni install \\\n  --dir "$bin_dir" --conf-dir "$conf_dir"');
  t.match(script, "bin_dir=${CNI_BIN_DIR:-/host/opt/cni/bin}");
  t.match(script, "conf_dir=${CNI_CONF_DIR:-/host/etc/cni/net.d}");
});

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  [k: string]: unknown;
}

interface Container {
  name: string;
  env: { name: string }[];
  securityContext: { capabilities: { add: string[] } };
}
interface PodSpec {
  hostNetwork: boolean;
  priorityClassName: string;
  containers: Container[];
  initContainers: Container[];
}

function run(args: string[]): string {
  return execFileSync(helm ?? "helm", args, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 120_000,
  });
}

function render(values?: string): K8sObject[] {
  const out = run([
    "template",
    "tortie",
    CHART,
    "--namespace",
    "kube-system",
    "--include-crds",
    ...(values ? ["-f", values] : []),
  ]);
  return parseAllDocuments(out)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

const skip = helm ? false : "helm is not on PATH here: `helm lint` and `helm template` did NOT run";

for (const [name, values] of [
  ["default values", undefined],
  ["the full example values", FULL],
] as const) {
  t.test(`helm lint and helm template with ${name}: every rendered object is valid`, { skip }, async (t) => {
    t.doesNotThrow(
      () => run(["lint", "--strict", CHART, ...(values ? ["-f", values] : [])]),
      "helm lint --strict",
    );
    const objs = render(values);
    const kinds = objs.map((o) => o.kind);
    for (const k of [
      "DaemonSet",
      "ServiceAccount",
      "Secret",
      "ClusterRole",
      "ClusterRoleBinding",
      "ConfigMap",
    ])
      t.ok(kinds.includes(k), `renders a ${k}`);
    for (const o of objs) {
      const id = `${o.kind} ${o.metadata.name}`;
      t.ok(
        typeof o.apiVersion === "string" && typeof o.metadata.name === "string",
        `${id}: apiVersion and name`,
      );
      if (o.kind === "CustomResourceDefinition") t.same(crdProblems(o), [], id);
      const kind = kindOf(o.apiVersion, o.kind);
      if (kind) t.same(validateObject(kind, o), [], id);
    }
    const ds = objs.find((o) => o.kind === "DaemonSet");
    const pod = (ds?.spec?.template as { spec: PodSpec }).spec;
    t.equal(pod.hostNetwork, true);
    t.equal(pod.priorityClassName, "system-node-critical");
    const agent = pod.containers[0];
    const env = new Set(agent?.env.map((e) => e.name));
    for (const name of CONTRACT_ENV) t.ok(env.has(name), `the agent gets ${name}`);
    t.same(agent?.securityContext.capabilities.add, ["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"]);
    t.equal(pod.initContainers[0]?.name, "install-cni");
    const cm = objs.find((o) => o.kind === "ConfigMap" && o.metadata.name === "tortie-install-cni");
    t.equal(
      (cm?.data as Record<string, string>)["install-cni.sh"],
      readFileSync(join(CHART, "files", "install-cni.sh"), "utf8").trimEnd(),
      "the ConfigMap carries the tested script",
    );
    const role = objs.find((o) => o.kind === "ClusterRole");
    const template = parseAllDocuments(
      readFileSync(join(CHART, "templates", "clusterrole.yaml"), "utf8"),
    )[0]?.toJS();
    t.same(role?.rules, template.rules, "the ClusterRole rbac.test.ts checked is the one rendered");
  });
}
