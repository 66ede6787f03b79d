import type { Test } from "tap";
import { ValidationError } from "../../core/errors.js";
import { AlreadyExistsError, ConflictError, ExpiredError, NotFoundError } from "../../datastore/errors.js";
import { Informer, type InformerEvent } from "../../datastore/informer.js";
import type { Datastore, ObjectOf, StoredObject, Watch, WatchEvent } from "../../datastore/types.js";
import { waitFor } from "../kit/wait.js";

/**
 * The contract every backend keeps. A backend's test file supplies a harness
 * and calls `contract(t, harness)`; the same cases run against the file
 * store, etcd and the Kubernetes API.
 */
export interface Harness {
  /** A new client of the same store (its own connections). */
  open(): Promise<Datastore>;
  /** Make the store forget its history so that old versions cannot be resumed. */
  compact(): Promise<void>;
}

export function pool(name: string, cidr = "10.0.0.0/16"): ObjectOf<"IPPool"> {
  return {
    apiVersion: "tortie.io/v1",
    kind: "IPPool",
    metadata: { name },
    spec: { cidr, blockSize: 26 },
  };
}

export function pod(namespace: string, name: string, labels: Record<string, string> = {}): ObjectOf<"Pod"> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels },
    spec: { containers: [{ name: "c", image: "busybox" }], nodeName: "node1" },
  };
}

export function handle(name: string, count: number): ObjectOf<"IPAMHandle"> {
  return {
    apiVersion: "tortie.io/v1",
    kind: "IPAMHandle",
    metadata: { name },
    // `time` doubles as the counter the concurrent-writer cases increment.
    spec: { handleID: name, blocks: ["10.0.0.0/26"], node: "node1", time: count },
  };
}

function countOf(h: StoredObject): number {
  return (h.spec as { time?: number }).time ?? -1;
}

/** Pulls `n` events (bookmarks skipped) or fails after the deadline. */
export async function take<T extends StoredObject>(
  w: Watch<T>,
  n: number,
  timeoutMs = 10_000,
): Promise<WatchEvent<T>[]> {
  const out: WatchEvent<T>[] = [];
  const it = w[Symbol.asyncIterator]();
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    const left = deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      it.next(),
      new Promise<"timeout">((res) => (timer = setTimeout(() => res("timeout"), Math.max(left, 0)))),
    ]);
    clearTimeout(timer);
    if (r === "timeout")
      throw new Error(`timed out waiting for event ${out.length + 1} of ${n}: got ${summary(out)}`);
    if (r.done) throw new Error(`watch ended after ${out.length} of ${n} events: ${summary(out)}`);
    if (r.value.type !== "BOOKMARK") out.push(r.value);
  }
  return out;
}

export function summary(evs: readonly WatchEvent[]): string {
  return evs
    .map((e) => (e.type === "BOOKMARK" ? "BOOKMARK" : `${e.type} ${e.object.metadata.name}`))
    .join(", ");
}

/** Runs the first step of the watch and reports the error it ends with, if any. */
async function firstError(w: Watch): Promise<unknown> {
  try {
    for await (const _ev of w) {
      /* a stale resume must fail before delivering anything */
      return undefined;
    }
  } catch (err) {
    return err;
  }
  return undefined;
}

async function increment(ds: Datastore, name: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const h = await ds.get("IPAMHandle", name);
    const next = {
      ...h,
      spec: { handleID: name, blocks: ["10.0.0.0/26"], node: "node1", time: countOf(h) + 1 },
    };
    try {
      await ds.update("IPAMHandle", next);
      return attempt;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt > 1000) throw err;
    }
  }
}

export function contract(t: Test, h: Harness): void {
  t.test("CRUD with typed errors", async (t) => {
    const ds = await h.open();
    t.teardown(() => ds.close());
    const created = await ds.create("IPPool", pool("crud-a"));
    t.type(created.metadata.resourceVersion, "string", "create returns the new resourceVersion");
    t.ok(created.metadata.uid, "create sets a uid");
    const got = await ds.get("IPPool", "crud-a");
    t.same(got.spec, { cidr: "10.0.0.0/16", blockSize: 26 });
    t.equal(got.metadata.resourceVersion, created.metadata.resourceVersion);
    await t.rejects(ds.create("IPPool", pool("crud-a")), AlreadyExistsError, "create of an existing name");

    const updated = await ds.update("IPPool", { ...got, spec: { cidr: "10.1.0.0/16", blockSize: 26 } });
    t.not(updated.metadata.resourceVersion, got.metadata.resourceVersion, "update changes the version");
    t.equal(updated.metadata.uid, created.metadata.uid, "update keeps the uid");
    t.same((await ds.get("IPPool", "crud-a")).spec, { cidr: "10.1.0.0/16", blockSize: 26 });
    await t.rejects(
      ds.update("IPPool", { ...got, spec: { cidr: "10.2.0.0/16" } }),
      ConflictError,
      "stale update",
    );
    await t.rejects(
      ds.delete("IPPool", "crud-a", undefined, { resourceVersion: got.metadata.resourceVersion }),
      ConflictError,
      "stale delete",
    );
    const { metadata: _m, ...rest } = got;
    const unconditional = await ds.update("IPPool", {
      ...rest,
      metadata: { name: "crud-a" },
      spec: { cidr: "10.3.0.0/16" },
    });
    t.same(unconditional.spec, { cidr: "10.3.0.0/16" }, "update without a version is unconditional");

    await ds.delete("IPPool", "crud-a", undefined, {
      resourceVersion: unconditional.metadata.resourceVersion,
    });
    await t.rejects(ds.get("IPPool", "crud-a"), NotFoundError, "get after delete");
    await t.rejects(ds.delete("IPPool", "crud-a"), NotFoundError, "delete twice");
    await t.rejects(ds.update("IPPool", pool("crud-missing")), NotFoundError, "update of a missing object");

    await ds.create("Pod", pod("ns-a", "web-0"));
    await ds.create("Pod", pod("ns-b", "web-0"));
    await ds.create("Pod", pod("ns-b", "web-1"));
    const all = await ds.list("Pod");
    t.same(all.items.map((p) => `${p.metadata.namespace}/${p.metadata.name}`).sort(), [
      "ns-a/web-0",
      "ns-b/web-0",
      "ns-b/web-1",
    ]);
    const b = await ds.list("Pod", { namespace: "ns-b" });
    t.same(b.items.map((p) => p.metadata.name).sort(), ["web-0", "web-1"], "list by namespace");
    t.equal((await ds.get("Pod", "web-0", "ns-a")).metadata.namespace, "ns-a");
    await t.rejects(ds.get("Pod", "web-0", "ns-c"), NotFoundError);
    for (const [ns, n] of [
      ["ns-a", "web-0"],
      ["ns-b", "web-0"],
      ["ns-b", "web-1"],
    ] as const)
      await ds.delete("Pod", n, ns);
  });

  t.test("validation errors name the object and the field", async (t) => {
    const ds = await h.open();
    t.teardown(() => ds.close());
    const bad = { ...pool("Bad_Name") };
    const err = await ds.create("IPPool", bad).catch((e: unknown) => e);
    t.type(err, ValidationError);
    t.match((err as ValidationError).problems, [{ object: "IPPool Bad_Name", path: "metadata.name" }]);
    const nsErr = await ds
      .create("IPPool", { ...pool("ok"), metadata: { name: "ok", namespace: "x" } })
      .catch((e: unknown) => e);
    t.match((nsErr as ValidationError).problems, [{ object: "IPPool x/ok", path: "metadata.namespace" }]);
    const podErr = await ds
      .create("Pod", { ...pod("", "p"), metadata: { name: "p" } })
      .catch((e: unknown) => e);
    t.match((podErr as ValidationError).problems, [{ object: "Pod p", path: "metadata.namespace" }]);
    await t.rejects(ds.get("IPPool", "ok"), NotFoundError, "nothing was stored");
  });

  t.test("watch delivers every change in order with its version", async (t) => {
    const ds = await h.open();
    t.teardown(() => ds.close());
    const { resourceVersion } = await ds.list("IPPool");
    const w = ds.watch("IPPool", { resourceVersion });
    t.teardown(() => w.close());
    const a = await ds.create("IPPool", pool("order-a"));
    const b = await ds.create("IPPool", pool("order-b", "10.9.0.0/16"));
    await ds.create("Pod", pod("ns-a", "other-kind"));
    const a2 = await ds.update("IPPool", { ...a, spec: { cidr: "10.5.0.0/16" } });
    await ds.delete("IPPool", "order-b", undefined, { resourceVersion: b.metadata.resourceVersion });
    const evs = await take(w, 4);
    t.same(
      evs.map((e) => (e.type === "BOOKMARK" ? "" : `${e.type} ${e.object.metadata.name}`)),
      ["ADDED order-a", "ADDED order-b", "MODIFIED order-a", "DELETED order-b"],
    );
    const [e0, e1, e2, e3] = evs;
    t.equal(e0?.resourceVersion, a.metadata.resourceVersion, "event version is the write's version");
    t.equal(e1?.resourceVersion, b.metadata.resourceVersion);
    t.equal(e2?.resourceVersion, a2.metadata.resourceVersion);
    t.ok(e2 && e2.type !== "BOOKMARK" && e2.object.metadata.resourceVersion === a2.metadata.resourceVersion);
    t.ok(e3 && e3.type === "DELETED" && e3.object.metadata.name === "order-b", "DELETED carries the object");
    w.close();
    await ds.delete("IPPool", "order-a");
    await ds.delete("Pod", "other-kind", "ns-a");
  });

  t.test("a watch resumes from the last version after a disconnect", async (t) => {
    const ds = await h.open();
    t.teardown(() => ds.close());
    const { resourceVersion } = await ds.list("IPPool");
    const w1 = ds.watch("IPPool", { resourceVersion });
    await ds.create("IPPool", pool("resume-1"));
    const [first] = await take(w1, 1);
    w1.close();
    for (let i = 2; i <= 4; i++) await ds.create("IPPool", pool(`resume-${i}`));
    const w2 = ds.watch("IPPool", { resourceVersion: first?.resourceVersion });
    t.teardown(() => w2.close());
    const evs = await take(w2, 3);
    t.same(
      evs.map((e) => (e.type === "BOOKMARK" ? "" : e.object.metadata.name)),
      ["resume-2", "resume-3", "resume-4"],
    );
    w2.close();
    for (let i = 1; i <= 4; i++) await ds.delete("IPPool", `resume-${i}`);
  });

  t.test(
    "a resume from a compacted version is Expired, and the informer relists the difference",
    async (t) => {
      const ds = await h.open();
      t.teardown(() => ds.close());
      await ds.create("IPPool", pool("relist-keep"));
      await ds.create("IPPool", pool("relist-gone"));
      const events: InformerEvent<ObjectOf<"IPPool">>[] = [];
      const inf = new Informer(ds, "IPPool", (ev) => events.push(ev)).start();
      await inf.synced;
      await waitFor("the informer to see both pools", () => inf.items().length >= 2);
      await inf.stop();
      const stale = inf.version;
      t.ok(stale, "the informer has a version to resume from");

      await ds.delete("IPPool", "relist-gone");
      await ds.create("IPPool", pool("relist-new"));
      const keep = await ds.get("IPPool", "relist-keep");
      await ds.update("IPPool", { ...keep, spec: { cidr: "10.7.0.0/16" } });
      await h.compact();

      const err = await firstError(ds.watch("IPPool", { resourceVersion: stale }));
      t.type(err, ExpiredError, "resuming from before the compaction is Expired, not silence");

      events.length = 0;
      const relistsBefore = inf.relists;
      inf.start();
      await waitFor("the informer to relist", () => inf.relists > relistsBefore && events.length >= 3);
      await inf.stop();
      const seen = events.map((e) => `${e.type} ${e.object.metadata.name} ${e.relisted}`).sort();
      t.same(seen, ["ADDED relist-new true", "DELETED relist-gone true", "MODIFIED relist-keep true"]);
      t.same(
        inf
          .items()
          .map((p) => p.metadata.name)
          .sort(),
        ["relist-keep", "relist-new"],
      );
      await ds.delete("IPPool", "relist-keep");
      await ds.delete("IPPool", "relist-new");
    },
  );

  t.test("concurrent writers through CAS retries lose no increment", async (t) => {
    const N = 4;
    const M = 10;
    const clients = await Promise.all(Array.from({ length: N }, () => h.open()));
    t.teardown(() => Promise.all(clients.map((c) => c.close())));
    const [first] = clients;
    if (!first) throw new Error("no client");
    await first.create("IPAMHandle", handle("counter", 0));
    let retries = 0;
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < M; i++) retries += (await increment(c, "counter")) - 1;
      }),
    );
    t.equal(countOf(await first.get("IPAMHandle", "counter")), N * M, `${N} writers × ${M} increments`);
    t.comment(`${retries} conflicts retried`);
    await first.delete("IPAMHandle", "counter");
  });
}

export { increment, countOf };
