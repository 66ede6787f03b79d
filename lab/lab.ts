import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { installCni } from "../cni/install.js";
import { UserError, ValidationError, errorMessage } from "../core/errors.js";
import { CommandError, run } from "../core/exec.js";
import type { Netns } from "../core/netns.js";
import { createNetns, listNetns, veth } from "../core/netns.js";
import { isAlive, processStart } from "../core/proc.js";
import { WaitAborted, waitFor } from "../core/wait.js";
import { AlreadyExistsError, ConflictError, NotFoundError } from "../datastore/errors.js";
import type { KindName } from "../datastore/kinds.js";
import { decodeManifest } from "../datastore/manifest.js";
import { openDatastore } from "../datastore/open.js";
import type { Datastore, StoredObject } from "../datastore/types.js";
import { validateFiles } from "../policy/cli.js";
import { matrixChanges, type MatrixChange, type MatrixReport, type PortKey } from "./matrix.js";
import {
  POD_PORTS,
  initialObjects,
  namespaceObject,
  placePod,
  planLab,
  podKey,
  podNetns,
  podObject,
  podSocket,
  validateOptions,
  type LabOptions,
  type LabPlan,
  type NodePlan,
  type PodPlan,
} from "./plan.js";
import { ProbeClient, type ProbeOutcome } from "./probe.js";
import { Progress } from "./progress.js";
import {
  killProcess,
  readState,
  recordResource,
  teardown,
  writeState,
  type LabPod,
  type LabState,
  type TeardownReport,
} from "./state.js";
import { prepareTor, torAnswers, torRoutes, torSessions, type TorRoute, type TorSession } from "./tor.js";

const CLI = fileURLToPath(new URL("../cli/main.js", import.meta.url));
const POD_AGENT = fileURLToPath(new URL("./pod-agent.js", import.meta.url));

/** How long `up` waits for BGP and the node agents before it says what is missing. */
const CONVERGE_MS = 60_000;

export function requireState(dir: string): LabState {
  const s = readState(dir);
  if (!s) throw new UserError(`no lab in ${dir}: start one with \`tortie lab up\``);
  return s;
}

function daemonPid(state: LabState, name: string): { pid: number; start: string } | undefined {
  for (let i = state.resources.length - 1; i >= 0; i--) {
    const r = state.resources[i];
    if (r?.kind === "pid" && r.name === name) return r;
  }
  return undefined;
}

export function daemonRunning(state: LabState, name: string): boolean {
  const p = daemonPid(state, name);
  return p !== undefined && isAlive(p.pid, p.start);
}

/** Starts a program detached (its own process group, output to a log file) inside a lab namespace. */
function spawnDaemon(
  state: LabState,
  name: string,
  netns: string,
  cmd: string,
  args: readonly string[],
  log: string,
): number {
  mkdirSync(join(log, ".."), { recursive: true });
  const fd = openSync(log, "a");
  const child = spawn("ip", ["netns", "exec", netns, cmd, ...args], {
    detached: true,
    stdio: ["ignore", fd, fd],
    env: process.env,
  });
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${name} (${cmd})`);
  child.unref();
  recordResource(state, { kind: "pid", pid, start: processStart(pid) ?? "", name });
  return pid;
}

async function makeNetns(state: LabState, name: string): Promise<Netns> {
  recordResource(state, { kind: "netns", name });
  return createNetns(name);
}

function makeDir(state: LabState, path: string): void {
  if (!existsSync(path)) recordResource(state, { kind: "dir", path });
  mkdirSync(path, { recursive: true });
}

/** Creates the object, or replaces the stored one's labels/spec (keeping its status) when it exists. */
async function upsert(ds: Datastore, kind: KindName, obj: StoredObject): Promise<StoredObject> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await ds.create(kind, obj);
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
    }
    const cur = await ds.get(kind, obj.metadata.name, obj.metadata.namespace);
    const next: StoredObject = {
      ...cur,
      ...obj,
      metadata: { ...cur.metadata, ...obj.metadata, resourceVersion: cur.metadata.resourceVersion },
      ...(cur.status !== undefined ? { status: cur.status } : {}),
    };
    try {
      return await ds.update(kind, next);
    } catch (err) {
      // Someone else wrote it between our read and our write: read again.
      if (!(err instanceof ConflictError) || attempt >= 5) throw err;
    }
  }
}

/** Creates the object unless one of that name exists (then leaves it as it is). */
async function ensure(ds: Datastore, kind: KindName, obj: StoredObject): Promise<void> {
  try {
    await ds.create(kind, obj);
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
  }
}

// ---- up ----

export interface UpResult {
  readonly state: LabState;
  readonly summary: LabStatus;
}

export async function labUp(
  o: LabOptions & { agent: boolean },
  progress = new Progress(),
): Promise<UpResult> {
  const bad = validateOptions(o);
  if (bad) throw new UserError(bad);
  if (readState(o.dir))
    throw new UserError(`a lab is already up (state in ${o.dir}/state.json): \`tortie lab down\` removes it`);
  const leftovers = listNetns().filter((n) => n.startsWith(o.prefix));
  if (leftovers.length)
    throw new UserError(
      `namespaces of an earlier lab are still there (${leftovers.join(" ")}): run \`tortie lab down\``,
    );
  await checkTools(o);
  const plan = planLab(o);
  mkdirSync(plan.dir, { recursive: true });
  const state: LabState = {
    version: 1,
    created: new Date().toISOString(),
    plan,
    agent: o.agent,
    pods: [],
    resources: [],
    matrices: {},
  };
  writeState(state);
  for (const d of ["datastore", "cni", "nodes", "logs", "tor", "pods", "pictures"])
    makeDir(state, join(plan.dir, d));

  try {
    await build(state, progress);
  } catch (err) {
    throw new Error(
      `${errorMessage(err)}\nlab up stopped half way: logs are in ${join(plan.dir, "logs")}; \`tortie lab down\` removes what it made`,
      { cause: err },
    );
  }
  const summary = await labStatus(plan.dir);
  return { state: requireState(plan.dir), summary };
}

async function build(state: LabState, progress: Progress): Promise<void> {
  const plan = state.plan;
  progress.note(
    `tortie lab: ${plan.nodes.length} node(s), ToR ${plan.tor.kind} (AS ${plan.tor.asn}), ${plan.pods.length} pod(s), state in ${plan.dir}`,
  );
  const tor = await progress.step(
    `top-of-rack router namespace ${plan.tor.netns} with bridge br0 ${plan.tor.ip}/24`,
    () => makeTor(state),
  );
  await progress.step(`${plan.nodes.length} node namespace(s) on the rack's bridge`, () =>
    Promise.all(plan.nodes.map((n) => makeNode(state, tor, n))).then(() => undefined),
  );
  const ds = await openDatastore(`file:${plan.datastoreDir}`);
  try {
    await progress.step(
      "datastore: IPPool 10.244.0.0/16 (blocks /26), BGPConfiguration, BGPPeer tor, Nodes",
      async () => {
        for (const { kind, object } of initialObjects(plan)) await upsert(ds, kind as KindName, object);
      },
    );
    await progress.step(`${plan.tor.kind} on the ToR: eBGP AS ${plan.tor.asn} to every node`, () =>
      startTor(state),
    );
    if (state.agent)
      await progress.step("tortie node run on every node", async () => {
        for (const n of plan.nodes) startNodeAgent(state, n);
        await waitAgentsAlive(state);
      });
    else
      progress.note(
        "  - no node agents (--no-agent): pods reach only pods on their own node, BGP stays down",
      );
    await progress.step("CNI plugin installed (tortie cni install)", () => {
      installCniForLab(plan);
      return Promise.resolve();
    });
    await progress.step(
      `${plan.pods.length} pod(s) through the CNI plugin, each serving TCP+UDP on ${POD_PORTS.join(", ")}`,
      () => addPods(state, ds, plan.pods),
      (ips) => ips.join(" "),
    );
    if (state.agent)
      await progress.step("BGP converged: every session Established, the ToR has every node's block", () =>
        waitConverged(state, ds),
      );
  } finally {
    await ds.close();
  }
}

async function checkTools(o: LabOptions & { agent: boolean }): Promise<void> {
  const need = o.tor === "bird" ? ["bird", "birdc"] : ["/usr/lib/frr/bgpd", "vtysh"];
  for (const t of need)
    await run("sh", ["-c", `command -v ${t}`]).catch(() => {
      throw new UserError(`--tor ${o.tor} needs ${t}: run scripts/setup.sh (it installs bird2 and frr)`);
    });
  if (o.agent)
    // Commander prints the top-level help for an unknown group, so look for the agent's own flag.
    await run(process.execPath, [CLI, "node", "run", "--help"]).then((help) => {
      if (!help.includes("--datastore"))
        throw new UserError(
          "this build has no node agent (`tortie node run`): build it, or pass --no-agent for the topology and pods alone",
        );
    });
}

async function makeTor(state: LabState): Promise<Netns> {
  const { tor } = state.plan;
  const ns = await makeNetns(state, tor.netns);
  await ns.ip(["link", "add", "br0", "type", "bridge"]);
  await ns.addr("br0", `${tor.ip}/24`);
  await ns.up("br0");
  await ns.sysctl("net.ipv4.ip_forward", "1");
  return ns;
}

/** A node: its uplink is a port of the ToR's bridge; it forwards (as kubeadm requires of a node). */
async function makeNode(state: LabState, tor: Netns, n: NodePlan): Promise<void> {
  const ns = await makeNetns(state, n.netns);
  await veth(tor, n.torPort, ns, "eth0");
  await tor.ip(["link", "set", n.torPort, "master", "br0"]);
  await ns.addr("eth0", n.ip);
  await ns.route(["default", "via", state.plan.tor.ip, "dev", "eth0"]);
  await ns.sysctl("net.ipv4.ip_forward", "1");
  mkdirSync(join(n.control, ".."), { recursive: true });
}

export async function startTor(state: LabState): Promise<void> {
  const d = await prepareTor(state.plan);
  const log = join(state.plan.dir, "logs", "tor.log");
  const pid = spawnDaemon(state, "tor", state.plan.tor.netns, d.cmd, d.args, log);
  await waitFor(
    `the ToR (${state.plan.tor.kind}) to answer`,
    async () => {
      if (!isAlive(pid)) throw new WaitAborted(`the ToR exited: ${tail(log)}`);
      return torAnswers(state.plan);
    },
    { timeoutMs: 20_000 },
  );
}

export function startNodeAgent(state: LabState, n: NodePlan): void {
  spawnDaemon(
    state,
    `node:${n.name}`,
    n.netns,
    process.execPath,
    [
      CLI,
      "node",
      "run",
      "--datastore",
      `file:${state.plan.datastoreDir}`,
      "--node",
      n.name,
      "--control",
      n.control,
      "--ip",
      n.ip,
    ],
    n.log,
  );
}

function tail(file: string, bytes = 1500): string {
  try {
    return readFileSync(file, "utf8").slice(-bytes);
  } catch {
    return "";
  }
}

/** Catches an agent that dies at start (bad flag, datastore error) instead of waiting for BGP to time out. */
async function waitAgentsAlive(state: LabState): Promise<void> {
  await new Promise((r) => setTimeout(r, 300));
  for (const n of state.plan.nodes)
    if (!daemonRunning(state, `node:${n.name}`))
      throw new Error(`tortie node run on ${n.name} exited: ${tail(n.log)}`);
}

function installCniForLab(plan: LabPlan): void {
  for (const n of plan.nodes)
    installCni({
      dir: plan.cniBinDir,
      confDir: n.cniConfDir,
      datastore: `file:${plan.datastoreDir}`,
      nodeName: n.name,
      mtu: 1500,
      network: "k8s-pod-network",
    });
}

// ---- pods ----

/** The kubelet's side of a CNI call: the plugin by path, CNI_* in the environment, the network config on stdin. */
async function cniCall(plan: LabPlan, pod: LabPod, command: "ADD" | "DEL"): Promise<Record<string, unknown>> {
  const node = plan.nodes.find((n) => n.name === pod.node);
  if (!node) throw new Error(`pod ${podKey(pod)}: no node ${pod.node}`);
  const conflist = JSON.parse(readFileSync(join(node.cniConfDir, "10-tortie.conflist"), "utf8")) as {
    cniVersion: string;
    name: string;
    plugins: Record<string, unknown>[];
  };
  const conf = { cniVersion: conflist.cniVersion, name: conflist.name, ...conflist.plugins[0] };
  const env = {
    PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: command,
    CNI_CONTAINERID: pod.containerId,
    CNI_NETNS: `/var/run/netns/${podNetns(plan.prefix, pod)}`,
    CNI_IFNAME: "eth0",
    CNI_PATH: plan.cniBinDir,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId}`,
  };
  try {
    const out = await run("ip", ["netns", "exec", node.netns, join(plan.cniBinDir, "tortie")], {
      input: JSON.stringify(conf),
      env,
      timeoutMs: 60_000,
    });
    return out.trim() ? (JSON.parse(out) as Record<string, unknown>) : {};
  } catch (err) {
    const detail = err instanceof CommandError ? err.stdout.trim() || err.stderr.trim() : errorMessage(err);
    throw new Error(`CNI ${command} for pod ${podKey(pod)} on ${pod.node} failed: ${detail}`, { cause: err });
  }
}

async function addPod(state: LabState, ds: Datastore, p: PodPlan): Promise<string> {
  const plan = state.plan;
  const key = podKey(p);
  const pod: LabPod = { ...p, containerId: createHash("sha256").update(`tortie-lab/${key}`).digest("hex") };
  state.pods = [...state.pods.filter((x) => podKey(x) !== key), pod];
  writeState(state);
  await ensure(ds, "Namespace", namespaceObject(p.namespace));
  await makeNetns(state, podNetns(plan.prefix, p));
  await upsert(ds, "Pod", podObject(p));
  const result = await cniCall(plan, pod, "ADD");
  const ips = ((result["ips"] as Array<{ address?: string }> | undefined) ?? [])
    .map((i) => (i.address ?? "").split("/")[0] ?? "")
    .filter(Boolean);
  const ip = ips[0];
  if (ip === undefined)
    throw new Error(`CNI ADD for pod ${key} returned no address: ${JSON.stringify(result)}`);
  pod.ip = ip;
  writeState(state);
  const stored = await ds.get("Pod", p.name, p.namespace);
  const hostIP = plan.nodes.find((n) => n.name === p.node)?.ip.split("/")[0];
  await ds.update("Pod", {
    ...stored,
    status: {
      phase: "Running",
      podIP: ip,
      podIPs: ips.map((x) => ({ ip: x })),
      ...(hostIP ? { hostIP } : {}),
    },
  });
  const socket = podSocket(plan.dir, p);
  const log = join(plan.dir, "logs", `pod-${p.namespace}-${p.name}.log`);
  const pid = spawnDaemon(
    state,
    `pod:${key}`,
    podNetns(plan.prefix, p),
    process.execPath,
    [POD_AGENT, socket, ...POD_PORTS.map(String)],
    log,
  );
  await waitFor(
    `pod ${key}'s server to listen`,
    () => {
      if (!isAlive(pid)) throw new WaitAborted(`pod ${key}'s server exited: ${tail(log)}`);
      return tail(log).includes("READY");
    },
    { timeoutMs: 20_000 },
  );
  return ip;
}

/** A few at a time: each CNI ADD is a process and a datastore transaction; the nodes' IPAM serialises anyway. */
async function addPods(state: LabState, ds: Datastore, pods: readonly PodPlan[]): Promise<string[]> {
  const out: string[] = new Array<string>(pods.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < pods.length) {
      const i = next++;
      const p = pods[i];
      if (p) out[i] = `${podKey(p)}=${await addPod(state, ds, p)}`;
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  return out;
}

/** Node agents' readiness is their own HTTP endpoint inside the node's namespace (loopback there). */
async function nodeReady(n: NodePlan): Promise<boolean> {
  const script =
    "fetch('http://127.0.0.1:9099/readiness').then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))";
  return run("ip", ["netns", "exec", n.netns, process.execPath, "-e", script], { timeoutMs: 5_000 }).then(
    () => true,
    () => false,
  );
}

async function nodeBlocks(ds: Datastore): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const b of (await ds.list("IPAMBlock")).items) {
    const aff = b.spec.affinity;
    if (typeof aff !== "string" || !aff.startsWith("host:")) continue;
    const node = aff.slice(5);
    out.set(node, [...(out.get(node) ?? []), b.spec.cidr].sort());
  }
  return out;
}

async function waitConverged(state: LabState, ds: Datastore): Promise<void> {
  const plan = state.plan;
  await waitFor(
    "every node's agent to be ready, every ToR session Established, every block at the ToR",
    async () => {
      for (const n of plan.nodes)
        if (!daemonRunning(state, `node:${n.name}`))
          throw new WaitAborted(`tortie node run on ${n.name} exited: ${tail(n.log)}`);
      const sessions = await torSessions(plan);
      const down = sessions.filter((s) => s.state !== "Established");
      if (down.length)
        throw new Error(
          `ToR sessions not Established: ${down.map((s) => `${s.node} ${s.state}`).join(", ")}`,
        );
      const routes = new Set((await torRoutes(plan)).map((r) => r.prefix));
      const missing = [...(await nodeBlocks(ds)).values()].flat().filter((b) => !routes.has(b));
      if (missing.length) throw new Error(`the ToR has no route yet for ${missing.join(", ")}`);
      const ready = await Promise.all(plan.nodes.map(nodeReady));
      const notReady = plan.nodes.filter((_, i) => !ready[i]).map((n) => n.name);
      if (notReady.length) throw new Error(`not ready: ${notReady.join(", ")}`);
      return true;
    },
    { timeoutMs: CONVERGE_MS, intervalMs: 250 },
  );
}

// ---- apply ----

export interface ApplyResult {
  readonly applied: string[];
  readonly pods: string[];
}

export async function labApply(dir: string, files: readonly string[]): Promise<ApplyResult> {
  const state = requireState(dir);
  const report = validateFiles(files);
  if (!report.valid) throw new ValidationError(report.problems);
  const docs: Array<{ kind: KindName; object: StoredObject }> = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch (err) {
      throw new UserError(`cannot read ${f}: ${errorMessage(err)}`);
    }
    parseAllDocuments(text).forEach((d, i) => {
      if (d.errors.length)
        throw new UserError(`${f}: document ${i + 1}: ${d.errors[0]?.message ?? "bad YAML"}`);
      const js: unknown = d.toJS();
      if (js !== null && js !== undefined) docs.push(decodeManifest(js, `${f} (document ${i + 1})`));
    });
  }
  const ds = await openDatastore(`file:${state.plan.datastoreDir}`);
  const applied: string[] = [];
  const newPods: PodPlan[] = [];
  try {
    // Namespaces first, so that pods and policies land in namespaces that exist.
    const order = (k: string) => (k === "Namespace" ? 0 : k === "Pod" ? 2 : 1);
    for (const { kind, object } of [...docs].sort((a, b) => order(a.kind) - order(b.kind))) {
      const ref = `${object.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ""}${object.metadata.name}`;
      if (kind === "Namespace") {
        await upsert(ds, kind, namespaceObject(object.metadata.name, object.metadata.labels ?? {}));
      } else if (kind === "Pod") {
        const ns = object.metadata.namespace ?? "default";
        const existing = state.pods.find((p) => p.namespace === ns && p.name === object.metadata.name);
        const labels = object.metadata.labels ?? {};
        if (existing) {
          existing.labels = labels;
          writeState(state);
          const cur = await ds.get("Pod", existing.name, ns);
          await ds.update("Pod", { ...cur, metadata: { ...cur.metadata, labels } });
        } else {
          const wanted = (object.spec as { nodeName?: string } | undefined)?.nodeName;
          const node = placePod(
            state.plan.nodes.map((n) => n.name),
            [...state.pods, ...newPods],
            wanted,
          );
          if (!node) throw new UserError(`${ref}: spec.nodeName ${wanted ?? ""} is not a node of the lab`);
          newPods.push({ namespace: ns, name: object.metadata.name, node, labels });
        }
      } else await upsert(ds, kind, object);
      applied.push(ref);
    }
    const pods = newPods.length ? await addPods(state, ds, newPods) : [];
    return { applied, pods };
  } finally {
    await ds.close();
  }
}

// ---- matrix ----

export interface MatrixResult {
  readonly report: MatrixReport;
  /** Cells that differ from the last matrix of this port (none when there was no earlier one). */
  readonly changes: MatrixChange[];
  readonly hadPrevious: boolean;
  readonly outcome: ProbeOutcome;
}

export async function labMatrix(dir: string, port: PortKey, timeoutMs = 400): Promise<MatrixResult> {
  const state = requireState(dir);
  // Grouped by namespace, so each tier is a block of rows and columns in the grid.
  const pods = state.pods
    .filter((p): p is LabPod & { ip: string } => p.ip !== undefined)
    .sort(
      (a, b) =>
        a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name, "en", { numeric: true }),
    );
  if (pods.length === 0) throw new UserError("the lab has no pods: `tortie lab apply` a Pod manifest");
  const client = await ProbeClient.connect(
    pods.map((p) => ({ key: podKey(p), ip: p.ip, socket: podSocket(state.plan.dir, p) })),
  );
  let outcome: ProbeOutcome;
  try {
    outcome = await client.probe([port], timeoutMs);
  } finally {
    client.close();
  }
  const report: MatrixReport = { port, pods: pods.map(podKey), matrix: outcome.matrices[port] ?? {} };
  const previous = state.matrices[port];
  const changes = previous ? matrixChanges(previous.matrix, report.matrix) : [];
  // Re-read: another command may have changed the state while we probed.
  const latest = readState(dir) ?? state;
  latest.matrices = { ...latest.matrices, [port]: report };
  writeState(latest);
  return { report, changes, hadPrevious: previous !== undefined, outcome };
}

// ---- status ----

export interface LabStatus {
  readonly dir: string;
  readonly created: string;
  readonly tor: {
    readonly kind: string;
    readonly netns: string;
    readonly asn: number;
    readonly running: boolean;
    readonly sessions: TorSession[];
    readonly routes: TorRoute[];
  };
  readonly nodes: Array<{
    readonly name: string;
    readonly netns: string;
    readonly ip: string;
    readonly agent: "running" | "stopped" | "none";
    readonly ready: boolean;
    readonly blocks: string[];
    readonly pods: number;
  }>;
  readonly pods: Array<{
    readonly pod: string;
    readonly node: string;
    readonly ip: string | null;
    readonly server: boolean;
  }>;
}

export async function labStatus(dir: string): Promise<LabStatus> {
  const state = requireState(dir);
  const plan = state.plan;
  const torRunning = daemonRunning(state, "tor");
  const [sessions, routes] = torRunning
    ? await Promise.all([torSessions(plan).catch(() => []), torRoutes(plan).catch(() => [])])
    : [[], []];
  const ds = await openDatastore(`file:${plan.datastoreDir}`);
  let blocks: Map<string, string[]>;
  try {
    blocks = await nodeBlocks(ds);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    blocks = new Map();
  } finally {
    await ds.close();
  }
  const nodes = await Promise.all(
    plan.nodes.map(async (n) => {
      const agent: "running" | "stopped" | "none" = !state.agent
        ? "none"
        : daemonRunning(state, `node:${n.name}`)
          ? "running"
          : "stopped";
      return {
        name: n.name,
        netns: n.netns,
        ip: n.ip,
        agent,
        ready: agent === "running" ? await nodeReady(n) : false,
        blocks: blocks.get(n.name) ?? [],
        pods: state.pods.filter((p) => p.node === n.name).length,
      };
    }),
  );
  return {
    dir: plan.dir,
    created: state.created,
    tor: {
      kind: plan.tor.kind,
      netns: plan.tor.netns,
      asn: plan.tor.asn,
      running: torRunning,
      sessions,
      routes,
    },
    nodes,
    pods: state.pods.map((p) => ({
      pod: podKey(p),
      node: p.node,
      ip: p.ip ?? null,
      server: daemonRunning(state, `pod:${podKey(p)}`),
    })),
  };
}

// ---- restart and down ----

/** Stops a node's agent (SIGTERM: a clean stop that leaves routes and rules in place) or the ToR's daemon. */
export async function labStop(dir: string, what: string): Promise<void> {
  const state = requireState(dir);
  const name = what === "tor" ? "tor" : `node:${what}`;
  if (what !== "tor" && !state.plan.nodes.some((n) => n.name === what))
    throw new UserError(
      `no node ${what} in the lab (nodes: ${state.plan.nodes.map((n) => n.name).join(", ")}; or tor)`,
    );
  const p = daemonPid(state, name);
  if (!p || !isAlive(p.pid, p.start)) return;
  killProcess(p, "SIGTERM");
  try {
    await waitFor(`${what} to stop`, () => !isAlive(p.pid, p.start), { timeoutMs: 10_000 });
  } catch {
    killProcess(p, "SIGKILL");
  }
}

export async function labStart(dir: string, what: string): Promise<void> {
  const state = requireState(dir);
  if (what === "tor") {
    if (!daemonRunning(state, "tor")) await startTor(state);
    return;
  }
  const n = state.plan.nodes.find((x) => x.name === what);
  if (!n)
    throw new UserError(
      `no node ${what} in the lab (nodes: ${state.plan.nodes.map((x) => x.name).join(", ")}; or tor)`,
    );
  if (!state.agent) throw new UserError("this lab was built with --no-agent: it has no node agents to start");
  if (!daemonRunning(state, `node:${n.name}`)) {
    startNodeAgent(state, n);
    await waitAgentsAlive(state);
  }
}

export function labDown(dir: string, prefix: string): TeardownReport & { hadState: boolean } {
  const state = readState(dir);
  const r = teardown(dir, state?.plan.prefix ?? prefix, state);
  try {
    rmdirSync(dir); // only when empty: the lab never removes a directory it did not make
  } catch {
    /* not empty, or not there */
  }
  return { ...r, hadState: state !== undefined };
}

/** For `--out`: the picture's format follows the file's extension. */
export function writePicture(file: string, svg: () => string, html: () => string): void {
  if (/\.svg$/i.test(file)) writeFileSync(file, svg());
  else if (/\.html?$/i.test(file)) writeFileSync(file, html());
  else throw new UserError(`--out ${file}: the file must end in .svg or .html`);
}
