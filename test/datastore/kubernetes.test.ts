import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { Informer } from "../../datastore/informer.js";
import { KubernetesBackend, loadKubeConfig } from "../../datastore/kubernetes.js";
import { openDatastore } from "../../datastore/open.js";
import { Store } from "../../datastore/store.js";
import { TestApiServer } from "../kit/apiserver.js";
import { waitFor } from "../kit/wait.js";
import { contract, pod, pool } from "./contract.js";

const dir = mkdtempSync(join(tmpdir(), "tortie-k8s-"));
const server = await TestApiServer.start({ bookmarkMs: 200 });
t.teardown(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
const kubeconfig = server.kubeconfig(dir);

contract(t, {
  open: async () => new Store(new KubernetesBackend(loadKubeConfig(kubeconfig))),
  compact: async () => server.compact(),
});

t.test("kubernetes: an informer resumes after the server drops its watch, without a relist", async (t) => {
  const ds = await openDatastore(`kubernetes:${kubeconfig}`);
  t.teardown(() => ds.close());
  const seen: string[] = [];
  const inf = new Informer(ds, "Pod", (ev) => seen.push(`${ev.type} ${ev.object.metadata.name}`), {
    namespace: "web",
    backoffMs: 20,
  }).start();
  t.teardown(() => inf.stop());
  await inf.synced;
  await ds.create("Pod", pod("web", "a"));
  await waitFor("ADDED a", () => seen.length === 1);
  server.disconnectWatches();
  await ds.create("Pod", pod("web", "b"));
  await ds.create("Pod", pod("other", "not-mine"));
  await ds.delete("Pod", "a", "web");
  await waitFor("the informer to catch up", () => seen.length === 3, { timeoutMs: 5_000 });
  t.same(seen, ["ADDED a", "ADDED b", "DELETED a"]);
  t.equal(inf.relists, 1, "only the initial list");
  await ds.delete("Pod", "b", "web");
  await ds.delete("Pod", "not-mine", "other");
});

t.test(
  "kubernetes: an optional kind whose CRD is not installed syncs empty, and is picked up once it is",
  async (t) => {
    const ds = await openDatastore(`kubernetes:${kubeconfig}`);
    t.teardown(() => ds.close());
    server.uninstalled.add("adminnetworkpolicies");
    const seen: string[] = [];
    const inf = new Informer(
      ds,
      "AdminNetworkPolicy",
      (ev) => seen.push(`${ev.type} ${ev.object.metadata.name}`),
      {
        backoffMs: 20,
      },
    ).start();
    t.teardown(() => inf.stop());
    await inf.synced;
    t.ok(inf.notServed, "synced with none, the kind not served");
    t.same(inf.items(), []);
    server.uninstalled.delete("adminnetworkpolicies");
    await ds.create("AdminNetworkPolicy", {
      apiVersion: "policy.networking.k8s.io/v1alpha1",
      kind: "AdminNetworkPolicy",
      metadata: { name: "late" },
      spec: { priority: 1, subject: { namespaces: {} } },
    });
    await waitFor("the informer to list the kind once served", () => seen.length === 1, { timeoutMs: 5_000 });
    t.same(seen, ["ADDED late"]);
    t.notOk(inf.notServed);
    const stopping = performance.now();
    server.uninstalled.add("adminnetworkpolicies");
    await ds.delete("AdminNetworkPolicy", "late").catch(() => undefined);
    await inf.stop();
    t.ok(performance.now() - stopping < 5_000, "stop() does not wait out a pause");
    server.uninstalled.delete("adminnetworkpolicies");
    await ds.delete("AdminNetworkPolicy", "late").catch(() => undefined);
    await t.rejects(
      (async () => {
        server.uninstalled.add("adminnetworkpolicies");
        try {
          await ds.list("AdminNetworkPolicy");
        } finally {
          server.uninstalled.delete("adminnetworkpolicies");
        }
      })(),
      /not served: CRD not installed/,
      "a direct list names what is missing",
    );
  },
);

t.test("kubernetes: bookmarks advance an idle watch", async (t) => {
  const ds = await openDatastore(`kubernetes:${kubeconfig}`);
  t.teardown(() => ds.close());
  const { resourceVersion } = await ds.list("BGPPeer");
  await ds.create("IPPool", pool("bookmark-other-kind"));
  const w = ds.watch("BGPPeer", { resourceVersion });
  t.teardown(() => w.close());
  for await (const ev of w) {
    t.equal(ev.type, "BOOKMARK");
    t.ok(Number(ev.resourceVersion) > Number(resourceVersion), "the bookmark is past the other kind's write");
    break;
  }
  await ds.delete("IPPool", "bookmark-other-kind");
});

t.test("the test API server speaks the wire protocol: URLs, Status objects, watch streams", async (t) => {
  const get = async (path: string, init?: RequestInit) => {
    const r = await fetch(`${server.url}${path}`, init);
    return { code: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const json = (method: string, body: unknown): RequestInit => ({
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const disc = await get("/apis/tortie.io/v1");
  t.match(disc.body, { kind: "APIResourceList", groupVersion: "tortie.io/v1" });
  t.match(
    (disc.body.resources as unknown[]).find((r) => (r as { name: string }).name === "ippools"),
    { kind: "IPPool", namespaced: false },
  );

  const nf = await get("/api/v1/namespaces/x/pods/nope");
  t.match(nf, {
    code: 404,
    body: {
      kind: "Status",
      status: "Failure",
      reason: "NotFound",
      code: 404,
      details: { name: "nope", kind: "pods" },
    },
  });
  const created = await get("/api/v1/namespaces/x/pods", json("POST", pod("x", "p")));
  t.equal(created.code, 201);
  const again = await get("/api/v1/namespaces/x/pods", json("POST", pod("x", "p")));
  t.match(again, { code: 409, body: { kind: "Status", reason: "AlreadyExists" } });
  const stale = { ...pod("x", "p"), metadata: { name: "p", namespace: "x", resourceVersion: "1" } };
  t.match(await get("/api/v1/namespaces/x/pods/p", json("PUT", stale)), {
    code: 409,
    body: { reason: "Conflict" },
  });
  t.match(
    await get("/api/v1/namespaces/x/pods/p", json("DELETE", { preconditions: { resourceVersion: "1" } })),
    {
      code: 409,
      body: { reason: "Conflict" },
    },
  );
  t.match(
    await get("/apis/tortie.io/v1/namespaces/x/ippools"),
    { code: 404 },
    "a cluster-scoped kind has no namespaced URL",
  );
  const list = await get("/api/v1/pods");
  t.match(list.body, { kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: /^\d+$/ } });

  server.compact();
  const r = await fetch(`${server.url}/api/v1/pods?watch=true&resourceVersion=1`);
  t.equal(r.status, 200, "a too-old watch is a 200 stream…");
  const lines = (await r.text())
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { type: string; object: Record<string, unknown> });
  t.match(
    lines,
    [{ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } }],
    "…with one ERROR event: 410 Expired",
  );
  t.ok(
    server.requests.some((q) => q.verb === "watch" && q.resource === "pods"),
    "requests are logged for RBAC checks",
  );
  await get("/api/v1/namespaces/x/pods/p", { method: "DELETE" });
});
