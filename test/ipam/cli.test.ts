import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { Allocator } from "../../ipam/allocator.js";
import { openIpamDatastore } from "../../ipam/open.js";
import { ipamObject } from "../../ipam/store.js";

const CLI = fileURLToPath(new URL("../../cli/main.js", import.meta.url));

function tortie(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test("tortie ipam show|check|release --json, exactly as the issue names them", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "tortie-ipam-cli-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const url = `file:${dir}`;
  const ds = await openIpamDatastore(url);
  t.teardown(() => ds.close());
  await ds.create("IPPool", ipamObject("IPPool", "pool4", { cidr: "10.1.0.0/24" }));
  const alloc = new Allocator(ds);
  const [a] = await alloc.assign({
    handle: "k8s.c1",
    node: "n1",
    namespace: "default",
    pod: "alive",
    num4: 1,
    num6: 0,
  });
  const [b] = await alloc.assign({
    handle: "k8s.c2",
    node: "n1",
    namespace: "default",
    pod: "gone",
    num4: 1,
    num6: 0,
  });
  await ds.create("Pod", {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "alive", namespace: "default" },
    spec: { nodeName: "n1", containers: [{ name: "c", image: "x" }] },
  });

  const show = tortie("ipam", "show", "--datastore", url, "--json");
  t.equal(show.code, 0, show.stderr);
  const s = JSON.parse(show.stdout) as {
    pools: { pool: string; used: number; blocks: number }[];
    blocks: { cidr: string; node?: string; used: number; size: number }[];
    allocations: { address: string; handle: string; pod?: string; namespace?: string; node: string }[];
  };
  t.match(s.pools, [{ pool: "pool4", used: 2, blocks: 1 }]);
  t.match(s.blocks, [{ cidr: /^10\.1\.0\.\d+\/26$/, pool: "pool4", node: "n1", used: 2, size: 64 }]);
  t.same(
    s.allocations.map((r) => [r.address, r.handle, r.namespace, r.pod, r.node]).sort(),
    [
      [a?.address, "k8s.c1", "default", "alive", "n1"],
      [b?.address, "k8s.c2", "default", "gone", "n1"],
    ].sort(),
    "every allocated address with its handle and pod",
  );
  const text = tortie("ipam", "show", "--datastore", url);
  t.match(
    text.stdout,
    /POOL\s+CIDR[^]*pool4\s+10\.1\.0\.0\/24\s+\/26\s+1\/4\s+2\s+256\s+no[^]*10\.1\.0\.\d+\/26\s+pool4\s+n1\s+2\/64/,
  );

  const check = tortie("ipam", "check", "--datastore", url, "--grace-period", "0s", "--json");
  t.equal(check.code, 1, "a problem found: exit 1");
  const c = JSON.parse(check.stdout) as { problems: { kind: string; object: string }[] };
  t.same(
    c.problems.map((p) => p.kind),
    ["handle-without-pod"],
    "the handle of the pod that is gone, and nothing else",
  );
  t.match(c.problems[0]?.object, /k8s\.c2/);

  const rel = tortie("ipam", "release", "--datastore", url, "--json", b?.address ?? "");
  t.equal(rel.code, 0, rel.stderr);
  t.same(JSON.parse(rel.stdout), { released: [b?.address] });
  const relHandle = tortie("ipam", "release", "--datastore", url, "--json", "k8s.c1");
  t.same(JSON.parse(relHandle.stdout), { released: [a?.address] });
  const again = tortie("ipam", "release", "--datastore", url, "k8s.c1");
  t.equal(again.code, 2, "nothing to release is a user error");
  t.match(again.stderr, /handle k8s\.c1: nothing allocated/);
  const clean = tortie("ipam", "check", "--datastore", url, "--grace-period", "0s", "--json");
  t.equal(clean.code, 0, clean.stdout);
  t.same((JSON.parse(clean.stdout) as { problems: unknown[] }).problems, []);
});
