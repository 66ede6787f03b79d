import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import { UserError } from "../../core/errors.js";
import { buildProgram, loadGroups, run } from "../../cli/run.js";

const bin = fileURLToPath(new URL("../../../bin/tortie.js", import.meta.url));
const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

function tortie(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test("--help lists the commands and exits 0", async (t) => {
  const r = tortie("--help");
  t.equal(r.code, 0);
  t.match(r.stdout, /Usage: tortie/);
  t.match(r.stdout, /doctor/);
  t.match(r.stdout, /--log-level/);
});

t.test("--version prints the package version", async (t) => {
  const r = tortie("--version");
  t.equal(r.code, 0);
  t.equal(r.stdout.trim(), pkg.version);
});

for (const [args, pattern] of [
  [["frobnicate"], /^tortie: unknown command 'frobnicate'/],
  [["doctor", "--bogus"], /^tortie: unknown option '--bogus'/],
  [["--log-level", "loud", "doctor"], /^tortie: option '--log-level <level>' argument 'loud' is invalid/],
] as const) {
  t.test(`a usage error (${args.join(" ")}) is one line on stderr and exit 2`, async (t) => {
    const r = tortie(...args);
    t.equal(r.code, 2);
    t.match(r.stderr, pattern);
    t.equal(r.stderr.trim().split("\n").length, 1, "one line");
    t.notMatch(r.stderr, /\bat .*\.js:\d+/, "no stack trace");
  });
}

t.test("doctor --json prints one JSON document; logs go to stderr as JSON lines", async (t) => {
  const r = tortie("--log-level", "debug", "doctor", "--json");
  t.equal(r.code, 0);
  const report = JSON.parse(r.stdout) as { node: string; tools: { tool: string; found: boolean }[] };
  t.equal(report.node, process.version);
  t.ok(report.tools.some((x) => x.tool === "nft"));
  const line = JSON.parse(r.stderr.trim().split("\n")[0] ?? "") as { level: number; msg: string };
  t.equal(line.msg, "checking tools");
  t.equal(line.level, 20, "pino's debug level");
});

t.test("a UserError from an action exits 2 with its message; other errors exit 1", async (t) => {
  const errs: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = (s: string) => (errs.push(s), true);
  try {
    const p1 = buildProgram(await loadGroups());
    p1.command("bad").action(() => {
      throw new UserError("config.yaml: peers[0].asn: must be an integer");
    });
    t.equal(await run(["bad"], p1), 2);
    const p2 = buildProgram(await loadGroups());
    p2.command("boom").action(() => {
      throw new Error("socket closed");
    });
    t.equal(await run(["boom"], p2), 1);
  } finally {
    process.stderr.write = write;
  }
  t.same(errs, ["tortie: config.yaml: peers[0].asn: must be an integer\n", "tortie: socket closed\n"]);
});
