/**
 * Routes: the node's local routes (desired, from the calculation) plus what BGP learned, reconciled
 * into the kernel through core/kernel-routes.ts (protocol 201; other routes are never touched).
 *
 * Graceful restart from the forwarding side: routes found in the kernel at start, and learned routes
 * withdrawn because their peer's session went down, are kept as stale until the peer has been back
 * for `graceMs` without announcing them again, or `maxRestartMs` passed — so an agent restart on
 * either end does not cut pod traffic.
 */
import { KernelRoutes, type RouteSpec, type SyncReport } from "../../core/kernel-routes.js";
import { learnedRoutes } from "../calc/desired.js";

interface Stale {
  readonly hops: readonly string[];
  readonly since: number;
}

export interface RouteReconcilerOptions {
  readonly graceMs?: number;
  readonly maxRestartMs?: number;
  /**
   * Seconds the BGP session with this address has been Established; "down" for a configured peer
   * whose session is not; undefined for an address that is no peer of ours.
   */
  readonly peerUptime: (address: string) => number | "down" | undefined;
  readonly now?: () => number;
}

export class RouteReconciler {
  private readonly kr = new KernelRoutes();
  private local: readonly RouteSpec[] = [];
  private readonly learned = new Map<string, readonly string[]>();
  private readonly stale = new Map<string, Stale>();
  private readonly graceMs: number;
  private readonly maxRestartMs: number;
  private readonly now: () => number;
  lastReport: SyncReport | undefined;

  constructor(private readonly opts: RouteReconcilerOptions) {
    this.graceMs = opts.graceMs ?? 5_000;
    this.maxRestartMs = opts.maxRestartMs ?? 120_000;
    this.now = opts.now ?? Date.now;
  }

  close(): void {
    this.kr.close();
  }

  /** Adopts what a previous run left: gateway routes stay (stale) until BGP has had time to confirm them. */
  async adopt(): Promise<number> {
    const since = this.now();
    let n = 0;
    for (const r of await this.kr.list()) {
      const hops = r.nexthops.map((h) => h.gateway).filter((g): g is string => g !== undefined);
      if (r.type !== "unicast" || hops.length === 0) continue;
      this.stale.set(r.dst, { hops, since });
      n++;
    }
    return n;
  }

  setLocal(routes: readonly RouteSpec[]): void {
    this.local = routes;
  }

  learn(prefix: string, hops: readonly string[] | undefined): void {
    if (hops && hops.length > 0) {
      this.learned.set(prefix, hops);
      this.stale.delete(prefix);
      return;
    }
    const old = this.learned.get(prefix);
    this.learned.delete(prefix);
    // The session may still look Established while it is being torn down: decide at the next sync.
    if (old) this.stale.set(prefix, { hops: old, since: this.now() });
  }

  /** Drops stale routes whose peers are back and had time to re-announce, or that waited too long. */
  expireStale(): number {
    const now = this.now();
    let n = 0;
    for (const [prefix, s] of this.stale) {
      const back = s.hops.every((h) => {
        const up = this.opts.peerUptime(h);
        // Not a peer of ours: nobody will announce it again, so nothing to wait for.
        return up === undefined || (up !== "down" && up * 1000 >= this.graceMs);
      });
      if (back || now - s.since >= this.maxRestartMs) {
        this.stale.delete(prefix);
        n++;
      }
    }
    return n;
  }

  desired(): RouteSpec[] {
    const learned = new Map(this.learned);
    for (const [p, s] of this.stale) if (!learned.has(p)) learned.set(p, s.hops);
    return [...this.local, ...learnedRoutes(learned, { routes: this.local })];
  }

  counts(): { local: number; learned: number; stale: number } {
    return { local: this.local.length, learned: this.learned.size, stale: this.stale.size };
  }

  /** Makes the kernel hold exactly the desired routes among ours; repairs any drift. */
  async sync(): Promise<SyncReport> {
    this.expireStale();
    this.lastReport = await this.kr.sync(this.desired());
    return this.lastReport;
  }
}
