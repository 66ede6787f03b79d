import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";

const bin = fileURLToPath(new URL("../../../bin/tortie.js", import.meta.url));

function tortie(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test("tortie bgp run: a bad config is one line naming the field, exit 2", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tortie-bgp-cli-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cases: [string, RegExp][] = [
    [
      "routerId: 10.0.0.1\nasn: 65001\nlisten: {address: 0.0.0.0, port: 179}\npeers: [{address: 10.0.0.2, asn: 70000000000}]\n",
      /^tortie: bgp config \S+: peers\[0\]\.asn: must be <= 4294967295\n$/,
    ],
    [
      "asn: 65001\nlisten: {address: 0.0.0.0, port: 179}\npeers: []\n",
      /^tortie: bgp config \S+: routerId: is required\n$/,
    ],
    ["routerId: [\n", /^tortie: bgp config \S+: not valid YAML/],
  ];
  for (const [i, [yaml, re]] of cases.entries()) {
    const file = join(dir, `c${i}.yaml`);
    writeFileSync(file, yaml);
    const r = tortie("bgp", "run", "--config", file, "--control", join(dir, "s.sock"));
    t.equal(r.code, 2, `case ${i} exits 2`);
    t.match(r.stderr, re, `case ${i}`);
    t.equal(r.stderr.trim().split("\n").length, 1, `case ${i}: one line`);
  }
  const missing = tortie("bgp", "run", "--config", join(dir, "nope.yaml"));
  t.equal(missing.code, 2);
  t.match(missing.stderr, /cannot read/);
});

t.test("tortie bgp status with no speaker on the socket is a user error", async (t) => {
  const r = tortie("bgp", "status", "--json", "--control", "/nonexistent/tortie-bgp.sock");
  t.equal(r.code, 2);
  t.match(r.stderr, /^tortie: no bgp speaker answers on \/nonexistent\/tortie-bgp\.sock/);
});
