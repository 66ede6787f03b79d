import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import t from "tap";
import { run } from "../../core/exec.js";
import { labMatrix, type LabStatus } from "../../lab/lab.js";
import { matrixDiff, type Matrix, type PortKey } from "../../lab/matrix.js";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { TestLab } from "./harness.js";

/**
 * The end-to-end suite: one lab of two nodes running `tortie node run`, a bird ToR, four pods made
 * by the CNI plugin; every check is real packets between pod namespaces or the real router's table.
 */

const EXAMPLES = fileURLToPath(new URL("../../../examples/", import.meta.url));

interface Pod {
  readonly key: string;
  readonly ns: string;
  readonly node: string;
  readonly ip: string;
}

/** What the examples allow, written from the Kubernetes and Calico semantics (README of policy/). */
function allowedByExamples(from: Pod, to: Pod, port: PortKey): boolean {
  if (from.key === to.key) return true; // loopback: no policy sees it
  if (from.ns === "data") return false; // egress to DNS only
  if (port === "81/TCP") return from.ns === "frontend"; // the global admin-port policy decides, Allow or Deny
  if (to.ns === "backend") return from.ns === "frontend";
  if (to.ns === "data") return from.ns === "backend" && from.key.startsWith("backend/api-");
  if (to.ns === "frontend") return from.ns === "frontend"; // 07's AdminNetworkPolicy denies backend, first
  return true;
}

function expected(
  pods: readonly Pod[],
  port: PortKey,
  allowed: (a: Pod, b: Pod) => boolean,
): Record<string, Matrix> {
  const m: Matrix = {};
  for (const a of pods) {
    const row: Record<string, boolean> = {};
    for (const b of pods) row[b.key] = allowed(a, b);
    m[a.key] = row;
  }
  return { [port]: m };
}

t.test("the lab end to end: BGP to the ToR, cross-node pods without NAT, policy, restarts", async (t) => {
  const kit = Kit.create(t);
  const lab = new TestLab(kit);
  t.teardown(() => lab.down());

  const up = await lab.cli("up", "--nodes", "2", "--pods-per-node", "2");
  t.equal(up.code, 0, `lab up: ${up.stderr}`);
  t.match(up.stdout, /summary: 2 node\(s\), 2 BGP session\(s\) up, 2 block\(s\), 4 pod\(s\)/);
  const st = await lab.json<LabStatus>("status");
  const pods: Pod[] = st.pods.map((p) => ({
    key: p.pod,
    ns: p.pod.split("/")[0] ?? "",
    node: p.node,
    ip: p.ip ?? "",
  }));
  t.same(
    pods.map((p) => [p.key, p.node]),
    [
      ["frontend/web-1", "node1"],
      ["backend/api-1", "node1"],
      ["backend/api-2", "node2"],
      ["data/db-2", "node2"],
    ],
  );

  await t.test("the ToR learns every node's block, next hop the node, and forwards to pods", async (t) => {
    t.same(
      st.nodes.map((n) => [n.name, n.agent, n.ready]),
      [
        ["node1", "running", true],
        ["node2", "running", true],
      ],
    );
    t.same(
      st.tor.sessions.map((s) => [s.node, s.state]),
      [
        ["node1", "Established"],
        ["node2", "Established"],
      ],
    );
    for (const n of st.nodes) {
      t.equal(n.blocks.length, 1);
      for (const b of n.blocks)
        t.same(
          st.tor.routes.find((r) => r.prefix === b)?.nextHops,
          [n.ip.split("/")[0]],
          `ToR: ${b} via ${n.name}`,
        );
    }
    const kernel = await run("ip", ["-n", `${lab.prefix}tor`, "route", "show", "proto", "bird"]);
    for (const n of st.nodes) for (const b of n.blocks) t.match(kernel, b, `${b} is in the ToR's kernel`);
    // From the router's own namespace: its kernel routes reach a pod on each node.
    for (const p of [pods[0], pods[2]])
      await waitFor(`the ToR to ping ${p?.key}`, () =>
        run("ip", ["netns", "exec", `${lab.prefix}tor`, "ping", "-c1", "-W1", p?.ip ?? ""]).then(() => true),
      );
  });

  await t.test(
    "every pod reaches every pod across nodes, and the server sees the client's own address",
    async (t) => {
      for (const port of ["80/TCP", "80/UDP"] as const) {
        const r = await labMatrix(lab.dir, port);
        t.same(
          matrixDiff(
            expected(pods, port, () => true),
            { [port]: r.report.matrix },
          ),
          [],
          `${port}: all allowed`,
        );
        const ipOf = new Map(pods.map((p) => [p.key, p.ip]));
        t.equal(r.outcome.seen.length, 16);
        t.same(
          r.outcome.seen.filter((s) => s.saw !== ipOf.get(s.from)),
          [],
          `${port}: no NAT`,
        );
        const crossNode = r.outcome.seen.filter(
          (s) => pods.find((p) => p.key === s.from)?.node !== pods.find((p) => p.key === s.to)?.node,
        );
        t.equal(crossNode.length, 8, `${port}: eight of the pairs cross nodes`);
      }
    },
  );

  await t.test("the examples' policies hold across nodes", async (t) => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith(".yaml"));
    await lab.ok("apply", ...files.map((f) => `${EXAMPLES}${f}`));
    for (const port of ["80/TCP", "81/TCP"] as const) {
      const want = expected(pods, port, (a, b) => allowedByExamples(a, b, port));
      let last: string[] = [];
      const diff = await waitFor(
        `${port} to match the examples' policies`,
        async () => {
          last = matrixDiff(want, { [port]: (await labMatrix(lab.dir, port)).report.matrix });
          return last.length === 0;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      ).then(
        () => [],
        () => last,
      );
      t.same(diff, [], `${port} as the policies say`);
    }
  });

  const policyMatrix = expected(pods, "80/TCP", (a, b) => allowedByExamples(a, b, "80/TCP"));
  const matrixNow = async () => ({ "80/TCP": (await labMatrix(lab.dir, "80/TCP")).report.matrix });

  await t.test("a node's agent stopped and started again: traffic and policy go on", async (t) => {
    await lab.ok("stop", "node2");
    const down = await lab.json<LabStatus>("status");
    t.equal(down.nodes[1]?.agent, "stopped");
    t.same(
      matrixDiff(policyMatrix, await matrixNow()),
      [],
      "with node2's agent stopped, routes and rules stay",
    );
    await lab.ok("start", "node2");
    await waitFor(
      "node2 ready and its ToR session Established again",
      async () => {
        const s = await lab.json<LabStatus>("status");
        return s.nodes[1]?.ready === true && s.tor.sessions.every((x) => x.state === "Established");
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    t.same(matrixDiff(policyMatrix, await matrixNow()), [], "after the restart, the same matrix");
  });

  await t.test(
    "a ToR restart: pods keep talking over the mesh, the ToR learns every block again",
    async (t) => {
      await lab.ok("stop", "tor");
      t.same(matrixDiff(policyMatrix, await matrixNow()), [], "nodes route to each other without the ToR");
      await lab.ok("start", "tor");
      await waitFor(
        "every session Established and every block at the ToR again",
        async () => {
          const s = await lab.json<LabStatus>("status");
          const blocks = s.nodes.flatMap((n) => n.blocks);
          return (
            s.tor.sessions.every((x) => x.state === "Established") &&
            blocks.every((b) => s.tor.routes.some((r) => r.prefix === b))
          );
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      t.pass("the ToR is back with every node's block");
      t.same(matrixDiff(policyMatrix, await matrixNow()), []);
    },
  );

  await lab.ok("down");
  t.same(lab.namespaces(), [], "down leaves no namespace");
});
