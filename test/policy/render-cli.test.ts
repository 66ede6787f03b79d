import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";

const bin = fileURLToPath(new URL("../../../bin/tortie.js", import.meta.url));

function tortie(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const STATE = `
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Pod
metadata: {namespace: x, name: a, labels: {pod: a}}
spec: {nodeName: node1, containers: [{name: c}]}
status: {podIP: 10.244.1.2}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: deny}
spec: {podSelector: {}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: bad}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 90, endPort: 80}]}]
`;

t.test("policy render", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tortie-render-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, "state.yaml");
  writeFileSync(state, STATE);

  t.test(
    "prints one nft JSON transaction for the node; bad objects are skipped with a warning",
    async (t) => {
      const r = tortie("policy", "render", "--state", state, "--node", "node1");
      t.equal(r.code, 0);
      const doc = JSON.parse(r.stdout) as { nftables: Array<Record<string, unknown>> };
      t.same(doc.nftables[0], { add: { table: { family: "inet", name: "tortie" } } });
      t.match(r.stdout, /"tortie:established"/);
      t.match(r.stdout, /tei-456b416f2bf/, "the ingress chain of x/a (tort + sha1(x.a))");
      t.match(r.stderr, /NetworkPolicy x\/bad: spec\.ingress\[0\]\.ports\[0\]\.endPort/);
    },
  );

  t.test("another node has no endpoints, only the fixed table", async (t) => {
    const r = tortie("policy", "render", "--state", state, "--node", "node2");
    t.equal(r.code, 0);
    t.notMatch(r.stdout, /tei-/);
  });

  t.test("--backend iptables prints the three sections", async (t) => {
    const r = tortie("policy", "render", "--state", state, "--node", "node1", "--backend", "iptables");
    t.equal(r.code, 0);
    t.match(r.stdout, /# tortie: ipset restore -!\n/);
    t.match(r.stdout, /# tortie: iptables-restore --noflush\n\*filter\n/);
    t.match(r.stdout, /# tortie: ip6tables-restore --noflush\n\*filter\n/);
    t.match(r.stdout, /-A tei-456b416f2bf -m comment --comment "tei-456b416f2bf:default" -j DROP/);
  });

  t.test("user errors exit 2 with one line", async (t) => {
    const bad = tortie("policy", "render", "--state", state, "--backend", "pf");
    t.equal(bad.code, 2);
    t.match(bad.stderr, /nft, iptables/);
    const missing = tortie("policy", "render", "--state", join(dir, "nope.yaml"));
    t.equal(missing.code, 2);
    t.match(missing.stderr, /cannot read state file/);
  });
});
