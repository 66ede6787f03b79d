import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { run } from "../../core/exec.js";
import { AlreadyExistsError, NotFoundError, ReadOnlyError } from "../../datastore/errors.js";
import { FileBackend } from "../../datastore/file.js";
import { Informer } from "../../datastore/informer.js";
import { withLock } from "../../datastore/lock.js";
import { openDatastore } from "../../datastore/open.js";
import { Store } from "../../datastore/store.js";
import type { WatchEvent } from "../../datastore/types.js";
import { waitFor } from "../kit/wait.js";
import { contract, countOf, handle, pod, pool, take } from "./contract.js";

const dir = mkdtempSync(join(tmpdir(), "tortie-ds-"));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const backends: FileBackend[] = [];

contract(t, {
  open: async () => {
    const b = new FileBackend(dir, { pollMs: 200 });
    backends.push(b);
    return new Store(b);
  },
  compact: async () => {
    await new FileBackend(dir).compact(0);
  },
});

t.test("file store: separate processes never both win a CAS", async (t) => {
  const url = `file:${dir}`;
  const ds = await openDatastore(url);
  await ds.create("IPAMHandle", handle("counter", 0));
  const worker = fileURLToPath(new URL("./cas-worker.js", import.meta.url));
  const P = 4;
  const M = 15;
  const outs = await Promise.all(
    Array.from({ length: P }, () => run(process.execPath, [worker, url, String(M)], { timeoutMs: 120_000 })),
  );
  t.equal(countOf(await ds.get("IPAMHandle", "counter")), P * M, `${P} processes × ${M} increments`);
  t.comment(`conflicts retried per process: ${outs.map((o) => o.trim()).join(" ")}`);
  await ds.delete("IPAMHandle", "counter");
});

t.test("file store: a lock left by a dead process is broken; a live owner's is not", async (t) => {
  const d = mkdtempSync(join(tmpdir(), "tortie-lock-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  const lock = join(d, "lock");
  // pid 2^22+1 is above Linux's pid_max: never alive.
  writeFileSync(lock, "4194305 1");
  t.equal(await withLock(lock, async () => "won"), "won", "a dead owner's lock is recovered");
  t.notOk(existsSync(lock), "released");
  writeFileSync(lock, `${process.ppid} ?`);
  const err = await withLock(lock, async () => "stolen", 300).catch((e: unknown) => e);
  t.match(String(err), /timed out .*held by pid/, "a live owner keeps it");
  rmSync(lock);
});

t.test("file store: a crash after the journal commit is redone; a torn journal line is cut", async (t) => {
  const d = mkdtempSync(join(tmpdir(), "tortie-crash-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  const ds = await openDatastore(`file:${d}`);
  const a = await ds.create("IPPool", pool("crash-a"));
  const journal = join(d, ".tortie", "journal.ndjson");
  // Simulate: the journal got the update (committed) but the object file did not.
  const committed = {
    rev: Number(a.metadata.resourceVersion) + 1,
    type: "MODIFIED",
    kind: "IPPool",
    ns: "",
    name: "crash-a",
    object: {
      ...a,
      metadata: { ...a.metadata, resourceVersion: String(Number(a.metadata.resourceVersion) + 1) },
      spec: { cidr: "10.44.0.0/16" },
    },
  };
  appendFileSync(journal, `${JSON.stringify(committed)}\n`);
  // …and then a second writer died halfway through its line.
  appendFileSync(journal, `{"rev":${committed.rev + 1},"type":"ADDED","kind":"IPP`);
  const ds2 = await openDatastore(`file:${d}`);
  const b = await ds2.create("IPPool", pool("crash-b"));
  t.equal(
    b.metadata.resourceVersion,
    String(committed.rev + 1),
    "the torn entry's revision is reused: it never committed",
  );
  t.same(
    (await ds2.get("IPPool", "crash-a")).spec,
    { cidr: "10.44.0.0/16" },
    "the committed entry was redone",
  );
  const lines = readFileSync(journal, "utf8").trimEnd().split("\n");
  t.ok(
    lines.every((l) => JSON.parse(l) !== undefined),
    "every journal line parses",
  );
  const w = ds2.watch("IPPool", { resourceVersion: a.metadata.resourceVersion });
  const evs = await take(w, 2);
  w.close();
  t.same(
    evs.map((e) => e.resourceVersion),
    [String(committed.rev), String(committed.rev + 1)],
  );
});

t.test("file store: hand-written manifests are loaded, watched and read-only", async (t) => {
  const d = mkdtempSync(join(tmpdir(), "tortie-manifests-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  writeFileSync(
    join(d, "pools.yaml"),
    "apiVersion: tortie.io/v1\nkind: IPPool\nmetadata: {name: m-one}\nspec: {cidr: 10.10.0.0/16}\n---\n" +
      "apiVersion: tortie.io/v1\nkind: IPPool\nmetadata: {name: m-two}\nspec: {cidr: 10.20.0.0/16}\n",
  );
  const ds = await openDatastore(`file:${d}`);
  const list = await ds.list("IPPool");
  t.same(
    list.items.map((p) => p.metadata.name),
    ["m-one", "m-two"],
  );
  const one = await ds.get("IPPool", "m-one");
  await t.rejects(
    ds.update("IPPool", { ...one, spec: { cidr: "10.11.0.0/16" } }),
    ReadOnlyError,
    "manifests are the user's",
  );
  await t.rejects(ds.delete("IPPool", "m-one"), ReadOnlyError);
  await t.rejects(ds.create("IPPool", pool("m-one")), AlreadyExistsError);

  const w = ds.watch("IPPool", { resourceVersion: list.resourceVersion });
  t.teardown(() => w.close());
  writeFileSync(
    join(d, "pools.yaml"),
    "apiVersion: tortie.io/v1\nkind: IPPool\nmetadata: {name: m-one}\nspec: {cidr: 10.12.0.0/16}\n",
  );
  mkdirSync(join(d, "more"));
  writeFileSync(join(d, "more", "pod.json"), JSON.stringify(pod("default", "web")));
  const evs = await take(w, 2);
  t.same(
    evs.map((e) => (e.type === "BOOKMARK" ? "" : `${e.type} ${e.object.metadata.name}`)),
    ["MODIFIED m-one", "DELETED m-two"],
  );
  await waitFor("the pod manifest", () => ds.get("Pod", "web", "default").then(() => true));

  writeFileSync(join(d, "pools.yaml"), "apiVersion: tortie.io/v1\nkind: IPPool\nmetadata: {name: m-one\n");
  writeFileSync(
    join(d, "broken.yaml"),
    "apiVersion: tortie.io/v1\nkind: IPPool\nmetadata: {name: Bad_Name}\n",
  );
  const b = new FileBackend(d);
  const errors = await b.manifestErrors();
  t.match(errors.get("pools.yaml"), /pools\.yaml/, "a YAML error is reported for its file");
  t.match(
    errors.get("broken.yaml"),
    /IPPool Bad_Name: metadata.name/,
    "a bad object is named with its field",
  );
  t.same((await ds.get("IPPool", "m-one")).spec, { cidr: "10.12.0.0/16" }, "a broken file keeps its objects");
  rmSync(join(d, "pools.yaml"));
  await b.syncManifests();
  await t.rejects(ds.get("IPPool", "m-one"), NotFoundError, "removing the file removes its objects");
  await b.close();
});

t.test(
  "informer: a periodic resync relists, and a change is delivered once whether the watch or the relist sees it",
  async (t) => {
    const d = mkdtempSync(join(tmpdir(), "tortie-resync-"));
    t.teardown(() => rmSync(d, { recursive: true, force: true }));
    const ds = await openDatastore(`file:${d}`);
    await ds.create("IPPool", pool("resync-a"));
    const seen: string[] = [];
    const inf = new Informer(
      ds,
      "IPPool",
      (ev) => seen.push(`${ev.type} ${ev.object.metadata.name} ${ev.relisted}`),
      {
        resyncMs: 100,
      },
    ).start();
    t.teardown(() => inf.stop());
    await inf.synced;
    await waitFor("two more relists", () => inf.relists >= 3);
    t.same(seen, ["ADDED resync-a true"], "a relist that finds nothing new emits nothing");
    await ds.create("IPPool", pool("resync-b"));
    await waitFor("b to arrive", () => seen.length === 2);
    const after = inf.relists;
    await waitFor("two more relists", () => inf.relists >= after + 2);
    t.equal(seen.length, 2, "no duplicate from the relists that follow");
    t.match(seen[1], /^ADDED resync-b (true|false)$/);
  },
);

t.test(
  "file store: watches of one client share the journal tail; one from further back catches up",
  async (t) => {
    const d = mkdtempSync(join(tmpdir(), "tortie-ds-tail-"));
    t.teardown(() => rmSync(d, { recursive: true, force: true }));
    const writer = new Store(new FileBackend(d, { pollMs: 200 }));
    const reader = new Store(new FileBackend(d, { pollMs: 200 }));
    t.teardown(async () => {
      await writer.close();
      await reader.close();
    });
    const start = (await reader.list("IPPool")).resourceVersion;
    const pools = reader.watch("IPPool", { resourceVersion: start });
    const pods = reader.watch("Pod", { resourceVersion: start });
    t.teardown(() => {
      pools.close();
      pods.close();
    });
    for (let i = 0; i < 3; i++) {
      await writer.create("IPPool", pool(`p${i}`, `10.${i}.0.0/16`));
      await writer.create("Pod", pod("default", `pod${i}`));
    }
    const names = (evs: readonly WatchEvent[]) =>
      evs.map((e) => (e.type === "BOOKMARK" ? "" : e.object.metadata.name));
    t.same(names(await take(pools, 3)), ["p0", "p1", "p2"]);
    t.same(names(await take(pods, 3)), ["pod0", "pod1", "pod2"]);
    // The shared tail is now past `start`: a new watch from there reads on its own, then joins.
    const late = reader.watch("Pod", { resourceVersion: start });
    t.teardown(() => late.close());
    t.same(names(await take(late, 3)), ["pod0", "pod1", "pod2"]);
    await writer.create("Pod", pod("default", "pod3"));
    t.same(names(await take(late, 1)), ["pod3"], "after joining: the next change, once");
    t.same(names(await take(pods, 1)), ["pod3"]);
    await writer.create("IPPool", pool("p3", "10.3.0.0/16"));
    t.same(names(await take(pools, 1)), ["p3"], "no duplicate and no gap for the other kinds");
  },
);

t.test("file store: a manifest loads as one batch; a crash before its flush is redone whole", async (t) => {
  const d = mkdtempSync(join(tmpdir(), "tortie-batch-"));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  const docs = [0, 1, 2, 3].map(
    (i) =>
      `apiVersion: tortie.io/v1\nkind: IPPool\nmetadata:\n  name: m${i}\nspec:\n  cidr: 10.${i}.0.0/16\n`,
  );
  writeFileSync(join(d, "pools.yaml"), docs.join("---\n"));
  const ds = await openDatastore(`file:${d}`);
  t.same(
    (await ds.list("IPPool")).items.map((p) => p.metadata.name),
    ["m0", "m1", "m2", "m3"],
  );
  await ds.close();
  const journal = join(d, ".tortie", "journal.ndjson");
  const entries = readFileSync(journal, "utf8")
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as { rev?: number; batch?: number; name?: string })
    .filter((e) => e.rev !== undefined);
  t.same(
    entries.map((e) => [e.name, e.batch]),
    ["m0", "m1", "m2", "m3"].map((n) => [n, entries[0]?.rev]),
    "one batch, in the journal",
  );
  // A crash after the journal's fsync but before the object files were flushed: two are lost.
  for (const n of ["m0", "m2"]) rmSync(join(d, ".tortie", "objects", "IPPool", "_", `${n}.json`));
  const ds2 = await openDatastore(`file:${d}`);
  t.teardown(() => ds2.close());
  await ds2.create("IPPool", pool("after", "10.9.0.0/16"));
  t.same(
    (await ds2.list("IPPool")).items.map((p) => p.metadata.name),
    ["after", "m0", "m1", "m2", "m3"],
    "every entry of the last batch was checked and redone",
  );
  t.equal((await ds2.get("IPPool", "m2")).metadata.resourceVersion, String(entries[2]?.rev));
});
