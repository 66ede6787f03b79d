import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { run } from "../../core/exec.js";
import { hostIfName } from "../../core/ifname.js";
import { allocations, readSnapshot } from "../../ipam/check.js";
import { ipamObject } from "../../ipam/store.js";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { cni, cniWorld, type Invocation } from "./harness.js";

const CLI = fileURLToPath(new URL("../../cli/main.js", import.meta.url));

t.test("the installed plugin wires two pods to a node; they ping each other; CHECK and DEL", async (t) => {
  const kit = Kit.create(t);
  const { node, podA, podB, binDir, datastore, ds } = await cniWorld(t, kit);
  const confDir = kit.dir("net.d");
  await ds.create("IPPool", ipamObject("IPPool", "pods6", { cidr: "fd00:244::/64" }));

  await run(process.execPath, [
    CLI,
    "cni",
    "install",
    "--dir",
    binDir,
    "--conf-dir",
    confDir,
    "--datastore",
    datastore,
    "--node-name",
    "node1",
  ]);
  const conflist = JSON.parse(readFileSync(join(confDir, "10-tortie.conflist"), "utf8")) as {
    cniVersion: string;
    name: string;
    plugins: Record<string, unknown>[];
  };
  const plugin = conflist.plugins[0] ?? {};
  const conf: Record<string, unknown> = { cniVersion: conflist.cniVersion, name: conflist.name, ...plugin };
  t.same(Object.keys(plugin).sort(), ["datastore", "ipam", "mtu", "nodeName", "type"]);
  const main = join(binDir, "tortie");

  const version = await cni(node, main, "VERSION", { cniVersion: "1.0.0" }, undefined, binDir);
  t.ok((version.json["supportedVersions"] as string[]).includes("1.0.0"));

  const a = { ns: podA, name: "web-a", id: "c0ffee01" };
  const b = { ns: podB, name: "web-b", id: "c0ffee02" };
  const addA = await cni(node, main, "ADD", conf, a, binDir);
  t.equal(addA.code, 0, `ADD a: ${addA.out}`);
  const addB = await cni(node, main, "ADD", conf, b, binDir);
  t.equal(addB.code, 0, `ADD b: ${addB.out}`);
  const ipsOf = (r: Invocation) =>
    (r.json["ips"] as { address: string }[]).map((i) => i.address.split("/")[0] ?? "");
  const [a4, a6] = ipsOf(addA);
  const [b4] = ipsOf(addB);
  t.match(a4, /^10\.244\./);
  t.match(a6, /^fd00:244::/);
  t.same(
    (addA.json["interfaces"] as { name: string }[]).map((i) => i.name),
    [hostIfName("default", "web-a"), "eth0"],
  );
  t.same(addA.json["routes"], [
    { dst: "0.0.0.0/0", gw: "169.254.1.1" },
    { dst: "::/0", gw: "fe80::1" },
  ]);

  await waitFor(
    "pod a to ping pod b over IPv4",
    () => podA.exec("ping", ["-c1", "-W1", b4 ?? ""]).then(() => true),
    { timeoutMs: 15_000 },
  );
  await waitFor(
    "pod b to ping pod a over IPv6",
    () => podB.exec("ping", ["-6", "-c1", "-W1", a6 ?? ""]).then(() => true),
    { timeoutMs: 15_000 },
  );
  t.pass("pods reach each other over IPv4 and IPv6");

  const weps = (await ds.list("WorkloadEndpoint")).items;
  t.same(
    weps.map((w) => (w.spec as { interfaceName: string }).interfaceName).sort(),
    [hostIfName("default", "web-a"), hostIfName("default", "web-b")].sort(),
  );

  const checkA = await cni(node, main, "CHECK", { ...conf, prevResult: addA.json }, a, binDir);
  t.equal(checkA.code, 0, `CHECK a: ${checkA.out}`);
  await podB.ip(["route", "del", "default"]);
  const checkB = await cni(node, main, "CHECK", { ...conf, prevResult: addB.json }, b, binDir);
  t.not(checkB.code, 0);
  t.equal(checkB.json["code"], 102);
  t.match(checkB.json["msg"], /CHECK pod default\/web-b: the default route via 169\.254\.1\.1 is missing/);

  // A retried ADD with the same container id keeps its address.
  const again = await cni(node, main, "ADD", conf, a, binDir);
  t.same(ipsOf(again), ipsOf(addA), "ADD is idempotent per container id");

  for (const p of [a, b]) {
    const del = await cni(node, main, "DEL", conf, p, binDir);
    t.equal(del.code, 0, `DEL ${p.name}: ${del.out}`);
    await t.rejects(
      node.ip(["link", "show", hostIfName("default", p.name)]),
      /does not exist/,
      `host link of ${p.name} removed`,
    );
  }
  t.same(allocations(await readSnapshot(ds)), [], "DEL released every address");
  t.same((await ds.list("IPAMHandle")).items, []);
  t.same((await ds.list("WorkloadEndpoint")).items, []);
  const delAgain = await cni(node, main, "DEL", conf, { name: "web-a", id: "c0ffee01" }, binDir);
  t.equal(delAgain.code, 0, "DEL again (namespace gone) succeeds");

  const bad = await cni(node, main, "ADD", { ...conf, datastore: undefined }, a, binDir);
  t.not(bad.code, 0);
  t.same(bad.json, {
    cniVersion: "1.0.0",
    code: 7,
    msg: 'network configuration: "datastore" must be a non-empty string',
  });
  const noPod = await cni(node, main, "ADD", conf, { ns: podA, name: "x", id: "c0ffee03" }, binDir).then(
    async () => cni(node, main, "ADD", { ...conf, cniVersion: "0.1.0" }, a, binDir),
  );
  t.equal(noPod.json["code"], 1, "an unsupported cniVersion is error 1");
  await cni(node, main, "DEL", conf, { ns: podA, name: "x", id: "c0ffee03" }, binDir);

  const ipam = join(binDir, "tortie-ipam");
  const ipamAdd = await cni(node, ipam, "ADD", conf, { ns: podA, name: "solo", id: "c0ffee04" }, binDir);
  t.equal(ipamAdd.code, 0, `IPAM plugin ADD: ${ipamAdd.out}`);
  t.equal((ipamAdd.json["ips"] as unknown[]).length, 2);
  const ipamDel = await cni(node, ipam, "DEL", conf, { ns: podA, name: "solo", id: "c0ffee04" }, binDir);
  t.equal(ipamDel.code, 0);
  t.same(allocations(await readSnapshot(ds)), []);
});
