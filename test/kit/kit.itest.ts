import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import { listNetns } from "../../core/netns.js";
import { startBird, startEtcd, startExabgp, startFrrBgpd, startGobgpd } from "./daemons.js";
import { Kit } from "./kit.js";
import { isAlive, sweepLeftovers } from "./registry.js";
import { waitFor } from "./wait.js";

const child = fileURLToPath(new URL("./child.js", import.meta.url));

interface ChildRun {
  ns: string;
  pid: number;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>;
  kill(sig: NodeJS.Signals): void;
}

/** Starts child.js in a mode and resolves once it reports its namespace and daemon. */
async function startChild(mode: string): Promise<ChildRun> {
  const p = spawn(process.execPath, [child, mode], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  p.stdout.on("data", (b: Buffer) => (out += b.toString()));
  p.stderr.on("data", (b: Buffer) => (out += b.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }>((resolve) =>
    p.on("exit", (code, signal) => resolve({ code, signal, out })),
  );
  const m = await waitFor("child to report READY", () => /READY (\S+) (\d+)/.exec(out) ?? undefined, {
    timeoutMs: 20_000,
  });
  return { ns: m[1] ?? "", pid: Number(m[2]), done, kill: (sig) => p.kill(sig) };
}

t.test("namespaces joined by a veth pass packets and are removed afterwards", async (t) => {
  const kit = Kit.create();
  const a = await kit.netns("a");
  const b = await kit.netns("b");
  await kit.veth(a, "eth0", b, "eth0");
  await a.addr("eth0", "192.0.2.1/30");
  await b.addr("eth0", "192.0.2.2/30");
  await a.addr("eth0", "2001:db8::1/64");
  await b.addr("eth0", "2001:db8::2/64");
  await a.exec("ping", ["-c1", "-W2", "192.0.2.2"]);
  await a.exec("ping", ["-c1", "-W2", "2001:db8::2"]);
  await b.route(["198.51.100.0/24", "via", "192.0.2.1"]);
  t.match(await b.ip(["route", "show", "198.51.100.0/24"]), /via 192\.0\.2\.1/);
  t.ok(listNetns().includes(a.name));
  await kit.cleanup();
  t.notOk(listNetns().includes(a.name), "namespace a removed");
  t.notOk(listNetns().includes(b.name), "namespace b removed");
  t.notOk(existsSync(kit.root), "kit directory removed");
});

t.test("every reference daemon starts in a namespace and is stopped by cleanup", async (t) => {
  const kit = Kit.create(t);
  const ns = await kit.netns("daemons");
  const bird = await startBird(kit, ns, "router id 10.0.0.1;\nprotocol device {}\n");
  t.match(await bird.birdc("show status"), /BIRD 2/);
  const bgpd = await startFrrBgpd(
    kit,
    ns,
    "frr defaults traditional\nrouter bgp 65001\n bgp router-id 10.0.0.2\n bgp listen range 10.0.0.0/8 peer-group x\n",
  );
  t.match(await bgpd.vtysh("show bgp summary"), /.*/);
  const gobgpd = await startGobgpd(
    kit,
    ns,
    '[global.config]\n  as = 65002\n  router-id = "10.0.0.3"\n  port = 1790\n',
  );
  t.match(await gobgpd.gobgp(["global"]), /AS:\s+65002/);
  const exabgp = await startExabgp(
    kit,
    ns,
    "neighbor 127.0.0.2 {\n router-id 10.0.0.4;\n local-address 127.0.0.1;\n local-as 65003;\n peer-as 65009;\n}\n",
  );
  const etcd = await startEtcd(kit, null);
  const res = await fetch(`${etcd.url}/health`);
  t.equal(res.status, 200, "etcd answers on loopback");
  const pids = [bird.daemon.pid, bgpd.daemon.pid, gobgpd.daemon.pid, exabgp.daemon.pid, etcd.daemon.pid];
  t.ok(
    pids.every((p) => isAlive(p)),
    "all five daemons run",
  );
  const nsPids = await ns.pids();
  await kit.cleanup();
  t.ok(
    pids.every((p) => !isAlive(p)),
    "all five daemons stopped",
  );
  t.ok(
    nsPids.every((p) => !isAlive(p)),
    "nothing is left running in the namespace",
  );
  t.notOk(listNetns().includes(ns.name));
});

t.test("a deliberately failing test still removes its namespace and daemon", async (t) => {
  const c = await startChild("failing-test");
  const r = await c.done;
  t.not(r.code, 0, "the child's test failed");
  t.match(r.out, /not ok .*deliberately failing/);
  t.notOk(listNetns().includes(c.ns), "namespace removed after the failing test");
  t.notOk(isAlive(c.pid), "daemon stopped after the failing test");
});

t.test("an uncaught exception still removes what the process made", async (t) => {
  const c = await startChild("throw");
  const r = await c.done;
  t.not(r.code, 0);
  t.notOk(listNetns().includes(c.ns));
  t.notOk(isAlive(c.pid));
});

for (const sig of ["SIGTERM", "SIGINT"] as const) {
  t.test(`${sig} makes a test process clean up before it exits`, async (t) => {
    const c = await startChild("wait");
    t.ok(listNetns().includes(c.ns));
    c.kill(sig);
    const r = await c.done;
    t.match(r.out, new RegExp(`cleaned up after ${sig}`));
    t.notOk(listNetns().includes(c.ns), "namespace removed");
    t.notOk(isAlive(c.pid), "daemon stopped");
  });
}

t.test("after SIGKILL the next run's sweeper removes exactly the leftovers", async (t) => {
  const bystander = Kit.create(t);
  const mine = await bystander.netns("bystander");
  const c = await startChild("wait");
  c.kill("SIGKILL");
  await c.done;
  t.ok(listNetns().includes(c.ns), "SIGKILL left the namespace behind");
  t.ok(isAlive(c.pid), "and its daemon running");
  const report = sweepLeftovers();
  t.ok(report.namespaces.includes(c.ns), "the sweeper reports the namespace it removed");
  t.notOk(listNetns().includes(c.ns), "leftover namespace removed");
  await waitFor("leftover daemon to die", () => !isAlive(c.pid));
  t.ok(listNetns().includes(mine.name), "a live test's namespace is left alone");
});
