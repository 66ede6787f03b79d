import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { serveCni, type CallRecord } from "../../cni/agent.js";
import { LAUNCHER, bakeLauncher } from "../../cni/install.js";
import { openIpamDatastore } from "../../ipam/open.js";
import { ipamObject } from "../../ipam/store.js";
import { Kit } from "../kit/kit.js";

/**
 * The C launcher against a server in this test's own process and namespace,
 * with commands that touch no link (STATUS, VERSION, bad input): what it
 * sends, what it copies back, and when it runs the Node plugin instead.
 */

function launch(bin: string, env: Record<string, string>, input: string) {
  return new Promise<{ code: number; out: string }>((resolve, reject) => {
    const p = execFile(bin, [], { env: { PATH: process.env["PATH"] ?? "", ...env } }, (e, out) => {
      if (e && typeof e.code !== "number") reject(new Error(`${bin}: ${e.message}`));
      else resolve({ code: typeof e?.code === "number" ? e.code : 0, out });
    });
    p.stdin?.end(input);
  });
}

t.test(
  "bakeLauncher writes the fallback into the one reserved region and refuses unsafe paths",
  async (t) => {
    const binary = readFileSync(LAUNCHER);
    const baked = bakeLauncher(binary, "/opt/x/node", "/opt/x/dist/cni/main.js", "ipam");
    t.equal(baked.length, binary.length, "same size: only the region changes");
    t.match(baked.toString("latin1"), '\nexec "/opt/x/node" "/opt/x/dist/cni/main.js" ipam\nversion={');
    t.throws(() => bakeLauncher(binary, '/opt/"x"/node', "/e.js", "main"), /holds " or a newline/);
    t.throws(() => bakeLauncher(Buffer.from("not a launcher"), "/n", "/e.js", "main"), /no single/);
  },
);

t.test("the launcher hands STATUS to the server and copies its answer byte for byte", async (t) => {
  const kit = Kit.create(t);
  const dir = kit.dir("x");
  const datastore = `file:${kit.dir("store")}`;
  const ds = await openIpamDatastore(datastore);
  t.teardown(() => ds.close());
  await ds.create("IPPool", ipamObject("IPPool", "pool4", { cidr: "10.9.0.0/16" }));
  const calls: CallRecord[] = [];
  const server = await serveCni(join(dir, "cni.sock"), { onCall: (r) => calls.push(r) });
  t.teardown(() => server.close());
  const bin = join(dir, "tortie");
  writeFileSync(
    bin,
    bakeLauncher(
      readFileSync(LAUNCHER),
      process.execPath,
      fileURLToPath(new URL("../../cni/main.js", import.meta.url)),
      "main",
    ),
    { mode: 0o755 },
  );
  const conf = {
    cniVersion: "1.0.0",
    name: "net",
    type: "tortie",
    datastore,
    nodeName: "node1",
    agentSocket: server.socket,
  };

  const ok = await launch(bin, { CNI_COMMAND: "STATUS" }, JSON.stringify(conf));
  t.same(ok, { code: 0, out: "" }, "STATUS: ready");
  t.match(calls.at(-1), { command: "STATUS", kind: "main", code: 0 }, "answered by the server");

  // Escapes and non-ASCII in the request, and in the answer the server copies back raw.
  const odd = 'nœud-"1"\\\t';
  const bad = await launch(bin, { CNI_COMMAND: "STATUS" }, JSON.stringify({ ...conf, type: odd }));
  t.equal(bad.code, 1);
  t.same(JSON.parse(bad.out), {
    cniVersion: "1.0.0",
    code: 7,
    msg: `network configuration: "type" is ${odd}, this is the tortie plugin`,
  });
  t.match(calls.at(-1), { command: "STATUS", code: 1 });

  const served = calls.length;
  const version = await launch(bin, { CNI_COMMAND: "VERSION" }, JSON.stringify(conf));
  t.same(JSON.parse(version.out), { cniVersion: "1.1.0", supportedVersions: ["0.4.0", "1.0.0", "1.1.0"] });
  t.equal(calls.length, served, "VERSION is answered without the server");

  // Not JSON: the Node plugin runs and reports it (decode failure, 6); the server never hears of it.
  const notJson = await launch(bin, { CNI_COMMAND: "STATUS" }, "{nope");
  t.equal(notJson.code, 1);
  t.match(JSON.parse(notJson.out), { code: 6, msg: /not JSON/ });
  // Nobody on the socket: the Node plugin does the work.
  const solo = await launch(
    bin,
    { CNI_COMMAND: "STATUS" },
    JSON.stringify({ ...conf, agentSocket: join(dir, "nobody.sock") }),
  );
  t.same(solo, { code: 0, out: "" }, "STATUS in-process");
  t.equal(calls.length, served, "neither reached the server");
});
