import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import { validateFiles } from "../../policy/cli.js";

const dir = fileURLToPath(new URL("../../../examples/", import.meta.url));

t.test("every example policy set passes `tortie policy validate`", async (t) => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
  t.ok(files.length >= 5, "default deny, allow from frontend, egress to DNS, ipBlock, a global policy");
  for (const f of files) {
    const r = validateFiles([`${dir}${f}`]);
    t.same(r.problems, [], f);
    t.ok(r.policies.length > 0, `${f} holds policies`);
  }
  const all = validateFiles(files.map((f) => `${dir}${f}`));
  t.ok(
    all.policies.includes("GlobalNetworkPolicy admin-port-from-frontend-only"),
    "the extended global policy",
  );
});
