import { fileURLToPath } from "node:url";
import t from "tap";
import { run } from "../../core/exec.js";
import { EtcdBackend } from "../../datastore/etcd.js";
import { Informer } from "../../datastore/informer.js";
import { openDatastore } from "../../datastore/open.js";
import { Store } from "../../datastore/store.js";
import { startEtcd } from "../kit/daemons.js";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { contract, countOf, handle, pool } from "./contract.js";

const kit = Kit.create(t);
let etcd = await startEtcd(kit, null);
const prefix = `/tortie-test-${process.pid}`;
const url = `etcd:${etcd.url}${prefix}`;

contract(t, {
  open: async () => new Store(new EtcdBackend(etcd.url, prefix)),
  compact: () => new EtcdBackend(etcd.url, prefix).compact(),
});

t.test("etcd: separate processes never both win a CAS", async (t) => {
  const ds = await openDatastore(url);
  t.teardown(() => ds.close());
  await ds.create("IPAMHandle", handle("counter", 0));
  const worker = fileURLToPath(new URL("./cas-worker.js", import.meta.url));
  const P = 3;
  const M = 10;
  await Promise.all(
    Array.from({ length: P }, () => run(process.execPath, [worker, url, String(M)], { timeoutMs: 120_000 })),
  );
  t.equal(countOf(await ds.get("IPAMHandle", "counter")), P * M, `${P} processes × ${M} increments`);
  await ds.delete("IPAMHandle", "counter");
});

t.test("etcd: a watch resumes without loss across an etcd restart on the same data", async (t) => {
  const ds = await openDatastore(url);
  t.teardown(() => ds.close());
  await ds.create("IPPool", pool("restart-a"));
  const seen: string[] = [];
  const inf = new Informer(ds, "IPPool", (ev) => seen.push(`${ev.type} ${ev.object.metadata.name}`), {
    backoffMs: 50,
  }).start();
  t.teardown(() => inf.stop());
  await inf.synced;
  const relists = inf.relists;
  const watches = inf.watches;

  const port = Number(new URL(etcd.url).port);
  await etcd.daemon.stop();
  etcd = await startEtcd(kit, null, { name: "etcd", dataDir: etcd.dataDir, clientPort: port });
  await ds.create("IPPool", pool("restart-b"));
  await ds.delete("IPPool", "restart-a");
  await waitFor(
    "the informer to see the writes after the restart",
    () => inf.items().length === 1 && inf.get("restart-b"),
    {
      timeoutMs: 20_000,
    },
  );
  t.same(seen, ["ADDED restart-a", "ADDED restart-b", "DELETED restart-a"], "every change once, in order");
  t.equal(inf.relists, relists, "resumed from its revision: no relist was needed");
  t.ok(inf.watches > watches, "its watch did break and reconnect");
  await ds.delete("IPPool", "restart-b");
});
