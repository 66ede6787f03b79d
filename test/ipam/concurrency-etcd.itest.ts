import { mkdtempSync } from "node:fs";
import t from "tap";
import { startEtcd } from "../kit/daemons.js";
import { Kit } from "../kit/kit.js";
import { concurrencyCase } from "./concurrency-case.js";

t.test("50 nodes x 110 pods allocate at once through etcd, some allocators SIGKILLed", async (t) => {
  const kit = Kit.create(t);
  // etcd's WAL on tmpfs: the same transactions and revisions, without a disk fsync per write.
  const dataDir = mkdtempSync("/dev/shm/tortie-etcd-");
  kit.registry.record({ kind: "dir", path: dataDir });
  const etcd = await startEtcd(kit, null, { dataDir });
  await concurrencyCase(t, kit, `etcd:${etcd.url}`, 2);
});
