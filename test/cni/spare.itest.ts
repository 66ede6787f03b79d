import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { run } from "../../core/exec.js";
import { readSnapshot } from "../../ipam/check.js";
import { ipamObject } from "../../ipam/store.js";
import { Kit } from "../kit/kit.js";
import { cni, cniWorld } from "./harness.js";

const CLI = fileURLToPath(new URL("../../cli/main.js", import.meta.url));

t.test(
  "the server claims blocks in the background: ADDs across a block boundary never claim inline",
  async (t) => {
    const kit = Kit.create(t);
    const { node, podA, binDir, datastore, ds } = await cniWorld(t, kit);
    // /27 blocks: 32 addresses, topped up below 8 free; a disabled pool and one for other nodes get nothing.
    const pods4 = await ds.get("IPPool", "pods4");
    await ds.update("IPPool", { ...pods4, spec: { ...(pods4.spec as object), disabled: true } });
    await ds.create("IPPool", ipamObject("IPPool", "small", { cidr: "10.250.0.0/24", blockSize: 27 }));
    await ds.create("IPPool", ipamObject("IPPool", "off", { cidr: "10.251.0.0/24", disabled: true }));
    await ds.create(
      "IPPool",
      ipamObject("IPPool", "elsewhere", { cidr: "10.252.0.0/24", nodeSelector: "rack == 'r9'" }),
    );
    const socket = join(kit.dir("run"), "cni.sock");
    await run(process.execPath, [CLI, "cni", "install", "--dir", binDir]);
    const server = kit.spawn(
      node,
      process.execPath,
      [CLI, "cni", "serve", "--socket", socket, "--datastore", datastore, "--node", "node1"],
      { name: "cni-serve" },
    );
    await server.waitForOutput(/listening on/);
    // At start, before any ADD: one block in the one enabled pool that selects node1.
    await server.waitForOutput(/claimed block 10\.250\.0\.\d+\/27 for node1 \(background\)/);
    const conf = {
      cniVersion: "1.0.0",
      name: "k8s-pod-network",
      type: "tortie-ipam",
      datastore,
      nodeName: "node1",
      agentSocket: socket,
      ipam: { type: "tortie-ipam" },
    };
    const ipam = join(binDir, "tortie-ipam");
    const pods = 40;
    for (let i = 0; i < pods; i++) {
      const r = await cni(node, ipam, "ADD", conf, { ns: podA, name: `burst-${i}`, id: `burst${i}` }, binDir);
      t.equal(r.code, 0, `ADD ${i}: ${r.out}`);
    }
    const out = server.output();
    t.equal((out.match(/^ADD ipam code 0 /gm) ?? []).length, pods, "every ADD went through the server");
    t.notMatch(out, /inline/, "no ADD claimed a block itself");
    t.equal(
      (out.match(/claimed block 10\.250\.0\.\d+\/27 for node1 \(background\)/g) ?? []).length,
      2,
      "40 pods in /27 blocks: the start's block and one more, claimed in the background",
    );
    const blocks = (await readSnapshot(ds)).blocks.map((b) => b.data.cidr);
    t.notOk(
      blocks.some((c) => !c.startsWith("10.250.")),
      "nothing in a disabled pool (pods4, off) or one that does not select the node",
    );
    t.equal(blocks.filter((c) => c.startsWith("10.250.")).length, 2);
    await server.stop();
  },
);
