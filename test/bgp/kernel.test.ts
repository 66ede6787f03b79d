import { pino } from "pino";
import t from "tap";
import type { RouteSpec } from "../../core/kernel-routes.js";
import { KernelInstaller, type RouteTable } from "../../bgp/kernel.js";

/** A table that records what it is asked: KernelRoutes itself is tested against the kernel in core/. */
class FakeTable implements RouteTable {
  readonly routes = new Map<string, string[]>([["10.99.0.0/26", ["10.0.0.9"]]]);
  readonly calls: string[] = [];
  sync(desired: readonly RouteSpec[]): Promise<{ replaced: number; removed: number; failed: unknown[] }> {
    this.calls.push("sync");
    const removed = this.routes.size;
    this.routes.clear();
    for (const r of desired)
      this.routes.set(
        r.dst,
        (r.nexthops ?? []).map((h) => h.gateway ?? ""),
      );
    return Promise.resolve({ replaced: desired.length, removed, failed: [] });
  }
  apply(change: { replace?: readonly RouteSpec[]; remove?: readonly RouteSpec[] }): Promise<unknown[]> {
    this.calls.push("apply");
    for (const r of change.remove ?? []) this.routes.delete(r.dst);
    for (const r of change.replace ?? [])
      this.routes.set(
        r.dst,
        (r.nexthops ?? []).map((h) => h.gateway ?? ""),
      );
    return Promise.resolve([]);
  }
}

type Listener = (prefix: string, hops: readonly string[] | undefined) => void;
class FakeSpeaker {
  listener: Listener | undefined;
  onBestChange(l: Listener): () => void {
    this.listener = l;
    return () => (this.listener = undefined);
  }
}

const log = pino({ level: "silent" });

t.test("installs, replaces with multipath, removes on withdraw; stale routes go at start", async (t) => {
  const table = new FakeTable();
  const k = new KernelInstaller(table, log);
  const sp = new FakeSpeaker();
  await k.start(sp, false);
  t.same([...table.routes], [], "a previous run's route is removed at start");
  sp.listener?.("10.1.0.0/26", ["10.0.0.2"]);
  sp.listener?.("10.2.0.0/26", ["10.0.0.2", "10.0.0.3"]);
  await new Promise((r) => setImmediate(r));
  await k.idle();
  t.same(table.routes.get("10.2.0.0/26"), ["10.0.0.2", "10.0.0.3"]);
  sp.listener?.("10.1.0.0/26", undefined);
  await new Promise((r) => setImmediate(r));
  await k.idle();
  t.same([...table.routes.keys()], ["10.2.0.0/26"]);
  await k.stop(true);
  t.same([...table.routes], [], "a non-graceful stop takes our routes out");
  t.equal(sp.listener, undefined, "unsubscribed");
});

t.test("graceful restart: stale routes stay until purgeStale, then only wanted ones remain", async (t) => {
  const table = new FakeTable();
  const k = new KernelInstaller(table, log);
  const sp = new FakeSpeaker();
  await k.start(sp, true);
  t.ok(table.routes.has("10.99.0.0/26"), "kept across the restart");
  t.ok(k.staleKept);
  sp.listener?.("10.1.0.0/26", ["10.0.0.2"]);
  await new Promise((r) => setImmediate(r));
  await k.purgeStale();
  t.same([...table.routes.keys()], ["10.1.0.0/26"]);
  await k.stop(false);
  t.same([...table.routes.keys()], ["10.1.0.0/26"], "a graceful stop leaves routes in place");
});
