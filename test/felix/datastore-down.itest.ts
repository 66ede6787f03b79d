/**
 * The datastore goes away under a running agent: the programmed state stays, readiness says why,
 * and when etcd is back (same data) the agent resumes and programs what changed.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { run } from "../../core/exec.js";
import type { NodeStatusView } from "../../felix/agent.js";
import { freePort, startEtcd } from "../kit/daemons.js";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { CLI, spawnAgent } from "./harness.js";

const DATASTORE = fileURLToPath(new URL("../../datastore/index.js", import.meta.url));

t.test("datastore unreachable: keep the last state, not ready; resync when it returns", async (t) => {
  const kit = Kit.create(t);
  const ns = await kit.netns("node");
  await ns.up("lo");
  await kit.veth(ns, "eth0", await kit.netns("peer"), "eth0");
  await ns.addr("eth0", "10.0.0.1/24");
  // etcd lives in the node's namespace: the agent reaches it on that namespace's loopback.
  const clientPort = await freePort();
  const etcd = await startEtcd(kit, ns, { clientPort });
  const datastore = `etcd:${etcd.url}`;
  /** Writes a confirmed block affinity for the node from inside its namespace. */
  const affine = (cidr: string) =>
    ns.exec(process.execPath, [
      "--input-type=module",
      "-e",
      `const { openDatastore } = await import(${JSON.stringify(DATASTORE)});` +
        `const ds = await openDatastore(${JSON.stringify(datastore)});` +
        `await ds.create("BlockAffinity", { apiVersion: "tortie.io/v1", kind: "BlockAffinity",` +
        ` metadata: { name: "node-${cidr.replace(/[./]/g, "-")}" },` +
        ` spec: { state: "confirmed", node: "node", cidr: ${JSON.stringify(cidr)}, time: 1 } });` +
        `await ds.close();`,
    ]);
  await affine("10.244.7.0/26");
  const control = join(kit.dir("run"), "node.sock");
  const agent = spawnAgent(kit, ns, {
    datastore,
    node: "node",
    control,
    flags: ["--resync-interval", "1"],
    name: "felix",
  });
  const status = async (): Promise<NodeStatusView> => {
    if (!agent.running) throw new Error(`agent exited: ${agent.output()}`);
    return JSON.parse(
      await run(process.execPath, [CLI, "node", "status", "--control", control, "--json"]),
    ) as NodeStatusView;
  };
  const readiness = async () =>
    (
      await ns.exec("curl", [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "http://127.0.0.1:9099/readiness",
      ])
    ).trim();
  await waitFor("the agent to be ready", async () => (await status()).ready, { timeoutMs: 20_000 });
  t.match(await ns.ip(["route", "show", "proto", "201"]), /blackhole 10\.244\.7\.0\/26/, "block programmed");
  t.equal(await readiness(), "200");

  await etcd.daemon.stop();
  const down = await waitFor("the agent to notice", async () => {
    const s = await status();
    return !s.ready && s;
  });
  t.same(down.notReadyReasons, ["datastore unreachable"]);
  t.equal(down.datastore.up, false);
  t.equal(await readiness(), "503");
  t.match(
    await ns.ip(["route", "show", "proto", "201"]),
    /blackhole 10\.244\.7\.0\/26/,
    "routes kept while it is away",
  );
  t.match(await ns.exec("nft", ["list", "tables"]), /inet tortie\b/, "nftables kept while it is away");

  await startEtcd(kit, ns, { clientPort, dataDir: etcd.dataDir });
  await waitFor("the agent to be ready again", async () => (await status()).ready, { timeoutMs: 20_000 });
  await affine("10.244.8.0/26");
  await waitFor(
    "a change made after the return to be programmed",
    async () => /blackhole 10\.244\.8\.0\/26/.test(await ns.ip(["route", "show", "proto", "201"])),
    { timeoutMs: 10_000 },
  );
  t.match(await ns.ip(["route", "show", "proto", "201"]), /blackhole 10\.244\.7\.0\/26/);
  const metrics = await ns.exec("curl", ["-s", "http://127.0.0.1:9099/metrics"]);
  t.match(metrics, /tortie_felix_errors_total\{kind="datastore"\} [1-9]/, "the outage is counted");
  await agent.stop();
});
