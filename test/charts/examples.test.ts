import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { runSync } from "../../core/exec.js";
import { CHART, REPO } from "./generate.js";

const cli = join(REPO, "dist", "cli", "main.js");
const dir = join(CHART, "examples", "policies");
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => join(dir, f));

t.test("the chart's example policies pass `tortie policy validate`", async (t) => {
  t.ok(files.length >= 2, `${files.length} files`);
  const out = runSync(process.execPath, [cli, "policy", "validate", "--json", ...files]);
  const report = JSON.parse(out) as unknown;
  t.match(report, { valid: true, problems: [] }, out);
  t.equal((report as { policies: unknown[] }).policies.length, 5, "every policy in them was read");
});

t.test("…and a broken copy of one fails it, so the check can fail", async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "tortie-charts-"));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  copyFileSync(files[0]!, join(tmp, "ok.yaml"));
  writeFileSync(
    join(tmp, "bad.yaml"),
    "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x, namespace: y}\nspec:\n  podSelector: {}\n  ingress:\n    - ports: [{protocol: TCP, port: 70000}]\n",
  );
  t.throws(
    () => runSync(process.execPath, [cli, "policy", "validate", join(tmp, "ok.yaml"), join(tmp, "bad.yaml")]),
    { code: 2, message: /port/ },
  );
});
