/**
 * BGPPeer spec.password.secretKeyRef end to end: `tortie node run` reads the TCP-MD5 key from a
 * Secret in its own namespace and peers with bird2, which insists on that key. A missing Secret holds
 * the peering (and says so); the Secret's arrival brings it up; rotating the Secret and bird's key
 * brings it back with the new one.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { run } from "../../core/exec.js";
import { openDatastore, type ObjectOf } from "../../datastore/index.js";
import type { NodeStatusView } from "../../felix/agent.js";
import { startBird } from "../kit/daemons.js";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { CLI, spawnAgent } from "./harness.js";

const birdConf = (password: string) => `
router id 10.0.0.254;
protocol device {}
protocol static { ipv4; route 198.51.100.0/26 blackhole; }
protocol bgp node1 {
  local 10.0.0.254 as 65000; neighbor 10.0.0.1 as 64512;
  password "${password}";
  hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 2;
  ipv4 { import all; export all; };
}
`;

t.test("BGP password from a Secret in the agent's namespace, against bird2", async (t) => {
  const kit = Kit.create(t);
  const node = await kit.netns("node1");
  const tor = await kit.netns("tor");
  await node.up("lo");
  await tor.up("lo");
  await kit.veth(node, "eth0", tor, "eth0");
  await node.addr("eth0", "10.0.0.1/24");
  await tor.addr("eth0", "10.0.0.254/24");

  const store = kit.dir("store");
  const ds = await openDatastore(`file:${store}`);
  t.teardown(() => ds.close());
  await ds.create("BGPConfiguration", {
    apiVersion: "tortie.io/v1",
    kind: "BGPConfiguration",
    metadata: { name: "default" },
    spec: { asNumber: 64512, nodeToNodeMeshEnabled: false },
  });
  await ds.create("BGPPeer", {
    apiVersion: "tortie.io/v1",
    kind: "BGPPeer",
    metadata: { name: "tor" },
    spec: {
      peerIP: "10.0.0.254",
      asNumber: 65000,
      password: { secretKeyRef: { name: "bgp-tor", key: "pw" } },
    },
  });
  const bird = await startBird(kit, tor, birdConf("first-key"));
  const control = join(kit.dir("run"), "node.sock");
  const agent = spawnAgent(kit, node, {
    datastore: `file:${store}`,
    node: "node1",
    control,
    flags: ["--ip", "10.0.0.1/24", "--secrets-namespace", "tortie-system"],
  });
  t.teardown(() => {
    if (!t.passing()) t.comment(agent.output().slice(-4000));
  });
  const status = async (): Promise<NodeStatusView> =>
    JSON.parse(
      await run(process.execPath, [CLI, "node", "status", "--control", control, "--json"]),
    ) as NodeStatusView;
  const established = async () => (await bird.birdc("show protocols node1")).includes("Established");

  const held = await waitFor("the agent to report the missing Secret", async () => {
    if (!agent.running) throw new Error(agent.output());
    const s = await status().catch(() => undefined);
    return s?.problems.find((p) => p.includes("no Secret tortie-system/bgp-tor")) ?? false;
  });
  t.match(held, /BGPPeer tor: spec\.password\.secretKeyRef: no Secret tortie-system\/bgp-tor/);
  t.same(
    (await status()).bgp.peers.map((p) => p.address),
    [],
    "no unsigned session while the Secret is missing",
  );

  // A Secret of the same name elsewhere is not read (the agent watches only its own namespace).
  const secret = (namespace: string, pw: string): ObjectOf<"Secret"> =>
    ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "bgp-tor", namespace },
      type: "Opaque",
      data: { pw: Buffer.from(pw).toString("base64") },
    }) as ObjectOf<"Secret">;
  await ds.create("Secret", secret("default", "first-key"));
  await ds.create("Secret", secret("tortie-system", "first-key"));
  await waitFor("bird Established with the key from the Secret", established, { timeoutMs: 20_000 });
  t.pass("the Secret's key reaches Established");
  t.equal((await status()).bgp.peers[0]?.state, "Established");

  // Rotation: bird takes the new key first, so the session is down until the agent has it too, and
  // only the Secret's update can bring it back.
  await writeBird(kit, bird.socket, birdConf("second-key"));
  await waitFor("bird's session down after its key changed", async () => !(await established()), {
    timeoutMs: 20_000,
  });
  const cur = await ds.get("Secret", "bgp-tor", "tortie-system");
  await ds.update("Secret", { ...secret("tortie-system", "second-key"), metadata: cur.metadata });
  await waitFor("Established again with the rotated key", established, { timeoutMs: 30_000 });
  t.pass("the rotated key reaches Established");
});

/** Rewrites bird's configuration file in place and has it reread (bird restarts the changed session). */
async function writeBird(kit: Kit, socket: string, conf: string): Promise<void> {
  writeFileSync(join(kit.dir("bird"), "bird.conf"), conf);
  await run("birdc", ["-s", socket, "configure"]);
}
