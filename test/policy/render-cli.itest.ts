import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { stringify } from "yaml";
import { Kit } from "../kit/kit.js";
import { labStateYaml } from "./harness/enforce.js";
import { PolicyLab, matrixDiff } from "./harness/lab.js";

const bin = fileURLToPath(new URL("../../../bin/tortie.js", import.meta.url));

/** The contract as a user meets it: `tortie policy render` piped into `nft -j -f` on the node. */
t.test("tortie policy render output loads into an empty namespace, over itself, and enforces", async (t) => {
  const kit = Kit.create(t);
  const lab = await PolicyLab.create(kit, [
    { namespace: "x", name: "a", node: "node1", ip: "10.244.1.2" },
    { namespace: "x", name: "b", node: "node1", ip: "10.244.1.3" },
    { namespace: "y", name: "a", node: "node1", ip: "10.244.1.4" },
  ]);
  t.teardown(() => lab.close());
  const node = lab.node("node1").netns;
  const dir = kit.dir("render-cli");
  const render = (policies: object[]): string => {
    const state = join(dir, "state.yaml");
    writeFileSync(state, [labStateYaml(lab), ...policies.map((p) => stringify(p))].join("---\n"));
    const r = spawnSync(process.execPath, [bin, "policy", "render", "--state", state, "--node", "node1"], {
      encoding: "utf8",
    });
    t.equal(r.status, 0, `render exits 0 ${r.stderr}`);
    const out = join(dir, "out.json");
    writeFileSync(out, r.stdout);
    return out;
  };
  const fromB = {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { namespace: "x", name: "from-b" },
    spec: {
      podSelector: { matchLabels: { pod: "a" } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: "b" } } }] }],
    },
  };

  const first = render([fromB]);
  await node.exec("nft", ["-j", "-f", first]);
  await node.exec("nft", ["-j", "-f", first]);
  let got = await lab.probe(["80/TCP"]);
  t.same(
    matrixDiff(
      lab.expect((f, to) => to.key !== "x/a" || f.key === "x/b", ["80/TCP"]),
      got.matrices,
    ),
    [],
    "only x/b reaches x/a",
  );

  await node.exec("nft", ["-j", "-f", render([])]);
  got = await lab.probe(["80/TCP"]);
  t.same(
    matrixDiff(
      lab.expect(() => true, ["80/TCP"]),
      got.matrices,
    ),
    [],
    "policy gone, all allowed again",
  );
  t.notMatch(await node.exec("nft", ["list", "ruleset"]), /tpi-/, "the old policy chain is gone");
});
