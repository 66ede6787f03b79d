/**
 * Routes: the node's local routes (from the calculation) plus what BGP learned (felix/calc/learned.ts,
 * stale ones included), reconciled into the kernel through core/kernel-routes.ts: protocol 201, other
 * routes never touched. sync() reads the table and repairs any drift; it is idempotent.
 */
import { KernelRoutes, type RouteSpec, type SyncReport } from "../../core/kernel-routes.js";
import { LearnedRoutes, type PeerUptime } from "../calc/learned.js";

export class RouteReconciler {
  private readonly kr = new KernelRoutes();
  private readonly learned = new LearnedRoutes();
  private local: readonly RouteSpec[] = [];
  lastReport: SyncReport | undefined;
  /** Something changed since the last sync (or it left routes unprogrammed): the next pass syncs. */
  dirty = true;

  constructor(private readonly peerUptime: PeerUptime) {}

  close(): void {
    this.kr.close();
  }

  /** Adopts the gateway routes a previous run left in the kernel (as stale); returns how many. */
  async adopt(): Promise<number> {
    const routes = (await this.kr.list())
      .filter((r) => r.type === "unicast")
      .map((r) => ({
        dst: r.dst,
        hops: r.nexthops.flatMap((h) => (h.gateway === undefined ? [] : [h.gateway])),
      }))
      .filter((r) => r.hops.length > 0);
    this.learned.adopt(routes, Date.now());
    return routes.length;
  }

  setLocal(routes: readonly RouteSpec[]): void {
    this.local = routes;
    this.dirty = true;
  }

  learn(prefix: string, hops: readonly string[] | undefined): void {
    this.learned.learn(prefix, hops, Date.now());
    this.dirty = true;
  }

  expireStale(): number {
    const n = this.learned.expire(Date.now(), this.peerUptime);
    if (n > 0) this.dirty = true;
    return n;
  }

  counts(): { local: number; learned: number; stale: number } {
    return { local: this.local.length, ...this.learned.counts() };
  }

  async sync(): Promise<SyncReport> {
    this.expireStale();
    this.dirty = false;
    try {
      this.lastReport = await this.kr.sync([...this.local, ...this.learned.routes(this.local)]);
    } catch (err) {
      this.dirty = true;
      throw err;
    }
    // A route the kernel refused (its veth not there yet) is tried again at the next pass.
    if (this.lastReport.failed.length > 0) this.dirty = true;
    return this.lastReport;
  }
}
