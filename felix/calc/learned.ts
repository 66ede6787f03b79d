/**
 * What BGP learned, plus what is kept as stale over a restart (graceful restart from the forwarding
 * side): routes found in the kernel when the agent starts, and learned routes that vanished, are
 * kept until their next hop's session has been Established for `graceMs` (time to announce them
 * again) or `maxRestartMs` passed. Pure: time and peer states come in as arguments.
 */
import type { RouteSpec } from "../../core/kernel-routes.js";
import { learnedRoutes } from "./desired.js";

/** Seconds Established; "down" for a configured peer whose session is not up; undefined: not a peer. */
export type PeerUptime = (address: string) => number | "down" | undefined;

interface Stale {
  readonly hops: readonly string[];
  readonly since: number;
}

export class LearnedRoutes {
  private readonly learned = new Map<string, readonly string[]>();
  private readonly stale = new Map<string, Stale>();

  constructor(
    private readonly graceMs = 5_000,
    private readonly maxRestartMs = 120_000,
  ) {}

  /** Routes a previous run left: kept until BGP had time to confirm them. */
  adopt(routes: readonly { dst: string; hops: readonly string[] }[], now: number): void {
    for (const r of routes) if (r.hops.length > 0) this.stale.set(r.dst, { hops: r.hops, since: now });
  }

  learn(prefix: string, hops: readonly string[] | undefined, now: number): void {
    if (hops && hops.length > 0) {
      this.learned.set(prefix, hops);
      this.stale.delete(prefix);
      return;
    }
    const old = this.learned.get(prefix);
    this.learned.delete(prefix);
    // The session may still look Established while it is being torn down: expire() decides.
    if (old) this.stale.set(prefix, { hops: old, since: now });
  }

  /** Drops stale routes whose peers are back and had time to re-announce, or that waited too long. */
  expire(now: number, peerUptime: PeerUptime): number {
    let n = 0;
    for (const [prefix, s] of this.stale) {
      const back = s.hops.every((h) => {
        const up = peerUptime(h);
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

  /** The routes to program for these local ones: learned, then stale, never over a local route. */
  routes(local: readonly RouteSpec[]): RouteSpec[] {
    const all = new Map(this.learned);
    for (const [p, s] of this.stale) if (!all.has(p)) all.set(p, s.hops);
    return learnedRoutes(all, { routes: local });
  }

  counts(): { learned: number; stale: number } {
    return { learned: this.learned.size, stale: this.stale.size };
  }
}
