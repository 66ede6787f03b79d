import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import t from "tap";
import { agentPoolSize, agentRestartArgs } from "../../core/runtime.js";

t.test("V8's worker pool: one per CPU beyond the event loop's, 1 to 4", async (t) => {
  for (const [cpus, want] of [
    [1, 1],
    [2, 1],
    [3, 2],
    [5, 4],
    [64, 4],
  ] as const)
    t.equal(agentPoolSize(cpus), want, `${cpus} CPUs`);
});

t.test("restart arguments: added once, never over the operator's choice", async (t) => {
  const proc = (env: Record<string, string>, execArgv: string[] = ["--enable-source-maps"]) => ({
    execPath: "/usr/bin/node",
    execArgv,
    argv: ["/usr/bin/node", "/app/dist/cli/main.js", "node", "run", "--node", "n1"],
    env,
  });
  t.same(agentRestartArgs(proc({}), 2), [
    "/usr/bin/node",
    "--v8-pool-size=1",
    "--enable-source-maps",
    "/app/dist/cli/main.js",
    "node",
    "run",
    "--node",
    "n1",
  ]);
  t.equal(agentRestartArgs(proc({}, ["--v8-pool-size=3"]), 2), null, "already on the command line");
  t.equal(agentRestartArgs(proc({ NODE_OPTIONS: "--v8-pool-size=2 --max-old-space-size=300" }), 2), null);
  t.equal(agentRestartArgs(proc({ TORTIE_V8_POOL_SIZE: "default" }), 2), null, "Node's default kept");
  t.equal(agentRestartArgs(proc({ TORTIE_V8_POOL_SIZE: "3" }), 2)?.[1], "--v8-pool-size=3");
  t.throws(() => agentRestartArgs(proc({ TORTIE_V8_POOL_SIZE: "many" }), 2), /TORTIE_V8_POOL_SIZE/);
});

t.test("the process restarts in place with the option, its arguments intact", async (t) => {
  const child = fileURLToPath(new URL("./runtime-child.js", import.meta.url));
  const env: NodeJS.ProcessEnv = { ...process.env, TORTIE_V8_POOL_SIZE: "2" };
  delete env["NODE_OPTIONS"];
  const r = spawnSync(process.execPath, [child, "a", "--b"], { env, encoding: "utf8" });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { pid: number; execArgv: string[]; args: string[] };
  t.equal(out.pid, r.pid, "same PID: execve, not a child process");
  t.same(out.execArgv, ["--v8-pool-size=2"]);
  t.same(out.args, ["a", "--b"]);
  t.equal(r.stdout.trim().split("\n").length, 1, "it restarted once");
});
