import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { run } from "../../core/exec.js";
import { hostIfName } from "../../core/ifname.js";
import { callAgent } from "../../cni/agent-protocol.js";
import { allocations, readSnapshot } from "../../ipam/check.js";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { cni, cniWorld } from "./harness.js";

const CLI = fileURLToPath(new URL("../../cli/main.js", import.meta.url));

t.test("with `tortie cni serve` listening, the executables hand their work to it", async (t) => {
  const kit = Kit.create(t);
  const { node, podA, podB, binDir, datastore, ds } = await cniWorld(t, kit);
  const socket = join(kit.dir("run"), "cni.sock");
  await run(process.execPath, [CLI, "cni", "install", "--dir", binDir]);

  const server = kit.spawn(node, process.execPath, [CLI, "cni", "serve", "--socket", socket], {
    name: "cni-serve",
  });
  await server.waitForOutput(/listening on/);

  const conf = {
    cniVersion: "1.0.0",
    name: "k8s-pod-network",
    type: "tortie",
    datastore,
    nodeName: "node1",
    mtu: 1500,
    ipam: { type: "tortie-ipam" },
    agentSocket: socket,
  };
  const main = join(binDir, "tortie");
  const a = { ns: podA, name: "web-a", id: "beef01" };
  const b = { ns: podB, name: "web-b", id: "beef02" };
  const addA = await cni(node, main, "ADD", conf, a, binDir);
  t.equal(addA.code, 0, `ADD a: ${addA.out}`);
  const addB = await cni(node, main, "ADD", conf, b, binDir);
  t.equal(addB.code, 0, `ADD b: ${addB.out}`);
  await server.waitForOutput(/ADD main code 0[^]*ADD main code 0/);
  const [b4] = (addB.json["ips"] as { address: string }[]).map((i) => i.address.split("/")[0] ?? "");
  await waitFor("pod a to ping pod b", () => podA.exec("ping", ["-c1", "-W1", b4 ?? ""]).then(() => true), {
    timeoutMs: 15_000,
  });
  t.pass("pods wired by the server reach each other");

  // Errors come back as the plugin's own error JSON.
  const bad = await cni(node, main, "ADD", { ...conf, mtu: 10 }, a, binDir);
  t.equal(bad.code, 1);
  t.equal(bad.json["code"], 7);
  t.match(bad.json["msg"], /"mtu" must be an integer/);

  // A caller in another network namespace (this test process) is refused, so it does the work itself.
  const refused = await callAgent(socket, "main", { CNI_COMMAND: "DEL" }, JSON.stringify(conf));
  t.equal(refused, undefined, "refused: the caller must fall back to running the plugin itself");
  await server.waitForOutput(/DEL main refused: the caller runs in another network namespace/);

  for (const p of [a, b]) {
    const del = await cni(node, main, "DEL", conf, p, binDir);
    t.equal(del.code, 0, `DEL ${p.name}: ${del.out}`);
    await t.rejects(node.ip(["link", "show", hostIfName("default", p.name)]), /does not exist/);
  }
  t.same(allocations(await readSnapshot(ds)), [], "DEL through the server released every address");

  // No server: the same executables do the work in their own process.
  server.signal("SIGTERM");
  await server.waitForExit();
  t.equal(server.exitStatus?.code, 0, "the server stops cleanly on SIGTERM");
  const solo = await cni(node, main, "ADD", conf, a, binDir);
  t.equal(solo.code, 0, `ADD without a server: ${solo.out}`);
  t.equal((await cni(node, main, "DEL", conf, a, binDir)).code, 0);
  t.same(allocations(await readSnapshot(ds)), []);
});
