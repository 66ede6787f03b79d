import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t, { type Test } from "tap";
import { run } from "../../core/exec.js";
import { hostIfName } from "../../core/ifname.js";
import { callAgent } from "../../cni/agent-protocol.js";
import { allocations, readSnapshot } from "../../ipam/check.js";
import type { Netns } from "../../core/netns.js";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { cni, cniWorld } from "./harness.js";

const CLI = fileURLToPath(new URL("../../cli/main.js", import.meta.url));

/** cniWorld with the executables installed and `tortie cni serve` listening in the node's namespace. */
async function servedWorld(t: Test, kit: Kit) {
  const world = await cniWorld(t, kit);
  const socket = join(kit.dir("run"), "cni.sock");
  await run(process.execPath, [CLI, "cni", "install", "--dir", world.binDir]);
  const server = kit.spawn(world.node, process.execPath, [CLI, "cni", "serve", "--socket", socket], {
    name: "cni-serve",
  });
  await server.waitForOutput(/listening on/);
  const conf = {
    cniVersion: "1.0.0",
    name: "k8s-pod-network",
    type: "tortie",
    datastore: world.datastore,
    nodeName: "node1",
    mtu: 1500,
    ipam: { type: "tortie-ipam" },
    agentSocket: socket,
  };
  return { ...world, socket, server, conf, main: join(world.binDir, "tortie") };
}

t.test("with `tortie cni serve` listening, the executables hand their work to it", async (t) => {
  const kit = Kit.create(t);
  const { node, podA, podB, binDir, ds, socket, server, conf, main } = await servedWorld(t, kit);
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
  const elsewhere = await run(main, [], {
    input: JSON.stringify(conf),
    env: { PATH: process.env["PATH"] ?? "", CNI_COMMAND: "STATUS" },
  });
  t.equal(elsewhere, "", "the launcher refused by the server runs the Node plugin: STATUS ready");
  await server.waitForOutput(/STATUS main refused: the caller runs in another network namespace/);

  for (const p of [a, b]) {
    const del = await cni(node, main, "DEL", conf, p, binDir);
    t.equal(del.code, 0, `DEL ${p.name}: ${del.out}`);
    await t.rejects(node.ip(["link", "show", hostIfName("default", p.name)]), /does not exist/);
  }
  t.same(allocations(await readSnapshot(ds)), [], "DEL through the server released every address");

  // CNI 1.1 GC drops what the runtime no longer lists: link, endpoint and addresses; keeps the valid one.
  for (const p of [a, b]) t.equal((await cni(node, main, "ADD", conf, p, binDir)).code, 0);
  const gc = await cni(
    node,
    main,
    "GC",
    { ...conf, cniVersion: "1.1.0", "cni.dev/valid-attachments": [{ containerID: a.id, ifname: "eth0" }] },
    undefined,
    binDir,
  );
  t.equal(gc.code, 0, `GC: ${gc.out}`);
  await server.waitForOutput(/GC main code 0/);
  t.same(
    allocations(await readSnapshot(ds)).map((r) => r.handle),
    [`k8s-pod-network.${a.id}`],
    "GC released the attachment the runtime no longer lists, and kept the valid one",
  );
  await t.rejects(
    node.ip(["link", "show", hostIfName("default", "web-b")]),
    /does not exist/,
    "GC deleted the host veth of the attachment it dropped",
  );
  await node.ip(["link", "show", hostIfName("default", "web-a")]);
  t.same(
    (await ds.list("WorkloadEndpoint")).items.map((w) => (w.spec as { containerID: string }).containerID),
    [a.id],
    "and its WorkloadEndpoint",
  );
  t.equal((await cni(node, main, "DEL", conf, a, binDir)).code, 0);

  // No server (the socket is gone): the same executables do the work in their own process.
  server.signal("SIGTERM");
  await server.waitForExit();
  t.equal(server.exitStatus?.code, 0, "the server stops cleanly on SIGTERM");
  const solo = await cni(node, main, "ADD", conf, a, binDir);
  t.equal(solo.code, 0, `ADD without a server: ${solo.out}`);
  t.equal((await cni(node, main, "DEL", conf, a, binDir)).code, 0);
  t.same(allocations(await readSnapshot(ds)), []);

  // DEL tolerates half-made state: a host link with no IPAM record, and addresses with no link.
  const half = hostIfName("default", "half");
  await node.ip(["link", "add", half, "type", "veth", "peer", "name", "halfpeer"]);
  const delHalf = await cni(node, main, "DEL", conf, { ns: podA, name: "half", id: "beef03" }, binDir);
  t.equal(delHalf.code, 0, `DEL of a link without addresses: ${delHalf.out}`);
  await t.rejects(node.ip(["link", "show", half]), /does not exist/, "the stray link is gone");
  t.equal((await cni(node, main, "ADD", conf, b, binDir)).code, 0);
  await node.ip(["link", "del", hostIfName("default", "web-b")]);
  const delNoLink = await cni(node, main, "DEL", conf, b, binDir);
  t.equal(delNoLink.code, 0, `DEL of addresses without a link: ${delNoLink.out}`);
  t.same(allocations(await readSnapshot(ds)), [], "and their addresses are released");

  // CNI 1.1: STATUS says whether ADD can work; GC releases what the runtime no longer lists.
  t.equal((await cni(node, main, "STATUS", conf, undefined, binDir)).code, 0, "STATUS: ready");
  const noPool = await cni(
    node,
    main,
    "STATUS",
    { ...conf, nodeName: "x", datastore: "file:/nonexistent/x" },
    undefined,
    binDir,
  );
  t.equal(noPool.code, 1);
  t.equal(noPool.json["code"], 50, "STATUS without a usable pool: plugin not available (50)");
});

/** How many connections wait in the accept queue of the listening unix socket at `path` (ss: Recv-Q). */
async function backlog(node: Netns, path: string): Promise<number> {
  const out = await node.exec("ss", ["-xlnH", "src", path]);
  const fields = out.trim().split(/\s+/);
  return Number(fields[2] ?? 0);
}

t.test(
  "a server that hangs or dies mid-request: the launcher reports a CNI error; a stale socket falls back",
  async (t) => {
    const kit = Kit.create(t);
    const { node, podA, binDir, ds, socket, server, conf, main } = await servedWorld(t, kit);
    const a = { ns: podA, name: "web-a", id: "dead01" };

    // Stopped: the kernel still accepts the connection, nobody answers; the launcher gives up at its deadline.
    server.signal("SIGSTOP");
    const hung = await cni(node, main, "STATUS", { ...conf, agentTimeoutMs: 1000 }, undefined, binDir);
    t.equal(hung.code, 1);
    t.same(hung.json, {
      cniVersion: "1.0.0",
      code: 5,
      msg: `tortie CNI agent at ${socket}: no answer within 1000 ms`,
    });

    // Killed while the request waits: the launcher sees the connection go and says so (no fallback: the
    // server may have done part of the work).
    const pending = cni(node, main, "ADD", conf, a, binDir);
    await waitFor(
      "the ADD to wait in the stopped server's accept queue",
      async () => (await backlog(node, socket)) >= 2,
      {
        timeoutMs: 10_000,
      },
    );
    server.signal("SIGKILL");
    const lost = await pending;
    t.equal(lost.code, 1);
    t.equal(lost.json["code"], 5);
    t.match(
      lost.json["msg"],
      new RegExp(
        `^tortie CNI agent at ${socket}(: Connection reset by peer| closed the connection without an answer)$`,
      ),
    );
    await server.waitForExit();

    // The dead server's socket file is still there; connecting is refused, so the plugin runs in-process.
    const solo = await cni(node, main, "ADD", conf, a, binDir);
    t.equal(solo.code, 0, `ADD with a stale socket: ${solo.out}`);
    t.equal((await cni(node, main, "DEL", conf, a, binDir)).code, 0);
    t.same(allocations(await readSnapshot(ds)), [], "nothing left allocated");
  },
);
