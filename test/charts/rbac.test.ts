import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { parse } from "yaml";
import { KINDS, apiVersionOf, type KindName } from "../../datastore/kinds.js";
import { KubernetesBackend, loadKubeConfig } from "../../datastore/kubernetes.js";
import { Store } from "../../datastore/store.js";
import type { StoredObject } from "../../datastore/types.js";
import { TestApiServer } from "../kit/apiserver.js";
import { waitFor } from "../kit/wait.js";
import { scanDatastoreUses, type Op } from "./datastore-uses.js";
import { CHART, REPO } from "./generate.js";

/**
 * The ClusterRole against the code: (1) which operations on which kinds the shipped code performs, read
 * from its calls by the type checker (datastore-uses.ts); (2) which (group, resource, verb) each of those
 * costs on the wire, by running it through Store + KubernetesBackend, as the agent does, against the
 * recording test API server (a watch is a list, then a watch); (3) the chart's rules must grant exactly
 * that set.
 */

type Triple = `${string}/${string}:${string}`;
const triple = (group: string, resource: string, verb: string): Triple => `${group}/${resource}:${verb}`;

const scan = scanDatastoreUses(REPO);

t.test("every datastore call in the shipped code names its kinds", async (t) => {
  t.ok(scan.files > 50, `${scan.files} files scanned`);
  t.ok(scan.uses.length > 20, `${scan.uses.length} calls found`);
  t.same(scan.unresolved, [], "calls whose kind the types do not pin down (narrow the kind's type)");
});

async function requestsOf(server: TestApiServer, ds: Store, kind: KindName, op: Op): Promise<Triple[]> {
  const info = KINDS[kind];
  const namespace = info.namespaced ? "rbac" : undefined;
  const obj = (): StoredObject => ({
    apiVersion: apiVersionOf(info),
    kind: info.kind,
    metadata: { name: `rbac-${op}`, ...(namespace ? { namespace } : {}) },
    spec: {},
  });
  // Objects the operation needs are made before the recording starts.
  let existing: StoredObject | undefined;
  if (op === "get" || op === "update" || op === "delete")
    existing = await ds.create(kind, obj()).catch(() => undefined);
  server.requests.splice(0);
  // The request is what RBAC decides on; how the server answers it does not change what was asked.
  try {
    await perform(server, ds, kind, op, namespace, existing, obj);
  } catch (err) {
    failures.push(`${kind} ${op}: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
  }
  const seen = server.requests.map((r) => triple(r.group, r.resource, r.verb));
  if (op !== "delete") {
    server.requests.splice(0);
    for (const n of ["rbac-get", "rbac-update", "rbac-create"])
      await ds.delete(kind, n, namespace).catch(() => undefined);
  }
  return seen;
}

/** Operations that failed on the test server, reported apart (a failure is not an RBAC question). */
const failures: string[] = [];

async function perform(
  server: TestApiServer,
  ds: Store,
  kind: KindName,
  op: Op,
  namespace: string | undefined,
  existing: StoredObject | undefined,
  obj: () => StoredObject,
): Promise<void> {
  switch (op) {
    case "get":
      await ds.get(kind, `rbac-${op}`, namespace);
      break;
    case "list":
      await ds.list(kind, namespace ? { namespace } : {});
      break;
    case "watch": {
      const w = ds.watch(kind, namespace ? { namespace } : {});
      await waitFor("the watch to reach the server", () => server.requests.some((r) => r.verb === "watch"));
      w.close();
      break;
    }
    case "create":
      await ds.create(kind, obj());
      break;
    case "update":
      await ds.update(kind, existing ?? obj());
      break;
    case "delete":
      await ds.delete(kind, `rbac-${op}`, namespace);
      break;
  }
}

type Rules = {
  kind: string;
  rules: { apiGroups: string[]; resources: string[]; verbs: string[]; [k: string]: unknown }[];
};

/**
 * What the ClusterRole and the Role (the release namespace's Secrets, which the agent reads for BGP
 * passwords and nothing else) grant together. Secrets must come from the Role only: a ClusterRole
 * would grant every Secret in the cluster.
 */
function granted(): { triples: Triple[]; problems: string[] } {
  const read = (file: string) => parse(readFileSync(join(CHART, "templates", file), "utf8")) as Rules;
  const cluster = read("clusterrole.yaml");
  const ns = read("role.yaml");
  const problems: string[] = [];
  if (cluster.kind !== "ClusterRole") problems.push("clusterrole.yaml: not a ClusterRole");
  if (ns.kind !== "Role") problems.push("role.yaml: not a Role");
  const triples = new Set<Triple>();
  for (const [file, role] of [
    ["clusterrole.yaml", cluster],
    ["role.yaml", ns],
  ] as const)
    for (const [i, r] of role.rules.entries()) {
      for (const k of Object.keys(r))
        if (!["apiGroups", "resources", "verbs"].includes(k))
          problems.push(`${file}: rules[${i}].${k}: not expected`);
      const secrets = r.resources.includes("secrets");
      if (file === "clusterrole.yaml" && secrets) problems.push(`${file}: rules[${i}]: secrets cluster-wide`);
      if (file === "role.yaml" && (!secrets || r.resources.length !== 1 || r.apiGroups.join() !== ""))
        problems.push(`${file}: rules[${i}]: the Role is for core secrets only`);
      for (const g of r.apiGroups)
        for (const res of r.resources)
          for (const v of r.verbs) {
            if ([g, res, v].includes("*"))
              problems.push(`${file}: rules[${i}]: a wildcard grants more than the code uses`);
            triples.add(triple(g, res, v));
          }
    }
  return { triples: [...triples].sort(), problems };
}

/** A Store on the Kubernetes backend against a fresh recording test API server, closed with the test. */
async function kubernetesStore(t: Test): Promise<{ server: TestApiServer; ds: Store }> {
  const dir = mkdtempSync(join(tmpdir(), "tortie-rbac-"));
  const server = await TestApiServer.start({ bookmarkMs: 60_000 });
  // Validation is the datastore's own business and sends nothing; without it any object shape will do.
  const ds = new Store(new KubernetesBackend(loadKubeConfig(server.kubeconfig(dir))), []);
  t.teardown(async () => {
    await ds.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, ds };
}

t.test(
  "the ClusterRole and the Role grant exactly what the code does through the Kubernetes datastore",
  async (t) => {
    const { server, ds } = await kubernetesStore(t);
    const pairs = new Map<string, { kind: KindName; op: Op; at: string[] }>();
    for (const u of scan.uses) {
      const k = `${u.kind} ${u.op}`;
      const p = pairs.get(k) ?? { kind: u.kind, op: u.op, at: [] };
      p.at.push(u.at);
      pairs.set(k, p);
    }
    const want = new Map<Triple, string[]>();
    for (const { kind, op, at } of pairs.values()) {
      const seen = await requestsOf(server, ds, kind, op);
      t.ok(seen.length > 0, `${kind} ${op} reaches the API server`);
      if (op === "watch") t.same([...new Set(seen)].map((s) => s.split(":")[1]).sort(), ["list", "watch"]);
      for (const s of seen) want.set(s, [...(want.get(s) ?? []), `${kind} ${op} (${at[0] ?? ""})`]);
    }
    const { triples, problems } = granted();
    t.same(problems, [], "plain rules: apiGroups, resources, verbs, no wildcards");
    const needed = [...want.keys()].sort();
    const missing = needed
      .filter((n) => !triples.includes(n))
      .map((n) => `${n} for ${(want.get(n) ?? []).join(", ")}`);
    const extra = triples.filter((g) => !want.has(g));
    t.same(missing, [], "every request the code makes is granted");
    t.same(extra, [], "nothing is granted that the code does not use");
    if (failures.length > 0)
      t.comment(`operations the test API server refused (requests still counted):\n${failures.join("\n")}`);
  },
);

t.test(
  "tortie.io NetworkPolicy and NodeStatus survive a round trip through the Kubernetes datastore",

  async (t) => {
    const { ds } = await kubernetesStore(t);
    const spec = {
      order: 5,
      selector: "all()",
      types: ["Ingress"],
      ingress: [{ action: "Allow", protocol: "TCP" }],
    };
    const np = {
      apiVersion: "tortie.io/v1",
      kind: "NetworkPolicy",
      metadata: { name: "p", namespace: "a" },
      spec,
    };
    await ds.create("NetworkPolicy", np as never);
    t.same((await ds.list("NetworkPolicy")).items[0]?.spec, spec, "the NetworkPolicy's spec as written");
    const status = {
      apiVersion: "tortie.io/v1",
      kind: "NodeStatus",
      metadata: { name: "n" },
      spec: { node: "n" },
    };
    const made = await ds.create("NodeStatus", status);
    t.equal(made.kind, "NodeStatus", "a NodeStatus can be created and keeps its kind");
    t.same((await ds.get("NodeStatus", "n")).spec, { node: "n" }, "and reads back as written");
  },
);
