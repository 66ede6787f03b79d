import { canonicalCidr } from "./netlink/addr.js";
import { NETLINK_ROUTE, NetlinkSocket, type Request } from "./netlink/socket.js";
import {
  RTM,
  decodeLink,
  decodeRoute,
  deleteRoute,
  linkDumpRequest,
  replaceRoute,
  routeDumpRequest,
  type KernelRoute,
  type NextHop,
  type RouteType,
} from "./netlink/route.js";

export type { KernelRoute, NextHop, RouteType };

/** Our routes carry this protocol number unless configured otherwise, so `ip route show proto 201` finds them. */
export const DEFAULT_PROTOCOL = 201;
export const MAIN_TABLE = 254;

/** A route as callers describe it: devices by name, defaults for the rest. */
export interface RouteSpec {
  readonly dst: string;
  readonly type?: RouteType;
  readonly metric?: number;
  readonly nexthops?: ReadonlyArray<{
    readonly gateway?: string;
    readonly dev?: string;
    readonly weight?: number;
    readonly onlink?: boolean;
  }>;
}

export interface RouteFailure {
  readonly dst: string;
  readonly reason: string;
}

export interface SyncReport {
  readonly replaced: number;
  readonly removed: number;
  readonly unchanged: number;
  readonly failed: readonly RouteFailure[];
}

export { canonicalCidr };

function routeKey(r: { dst: string; metric: number }): string {
  // Most routes have metric 0 (IPv4) or 1024 (IPv6): avoid building a new string for each of them.
  const usual = r.dst.includes(":") ? 1024 : 0;
  return r.metric === usual ? r.dst : `${r.dst} ${r.metric}`;
}

/** A wanted next hop without a device is satisfied by whichever device the kernel chose for its gateway. */
function hopSatisfies(have: NextHop, want: NextHop): boolean {
  return (
    have.gateway === want.gateway &&
    (want.ifindex === undefined || have.ifindex === want.ifindex) &&
    (have.weight ?? 1) === (want.weight ?? 1) &&
    Boolean(have.onlink) === Boolean(want.onlink)
  );
}

/** Whether the kernel's route `have` already is the route we `want`. */
export function sameRoute(have: KernelRoute, want: KernelRoute): boolean {
  if (have.type !== want.type || have.dst !== want.dst || have.metric !== want.metric) return false;
  if (have.nexthops.length !== want.nexthops.length) return false;
  const unused = [...have.nexthops];
  return want.nexthops.every((w) => {
    const i = unused.findIndex((h) => hopSatisfies(h, w));
    if (i < 0) return false;
    unused.splice(i, 1);
    return true;
  });
}

/**
 * The pure half of reconciliation, one desired route at a time: what the kernel holds in our
 * table under our protocol against what we want there.
 */
export class RouteDiff {
  private readonly have = new Map<string, KernelRoute>();
  private readonly wanted = new Set<string>();
  unchanged = 0;

  constructor(private readonly actual: readonly KernelRoute[]) {
    for (const r of actual) this.have.set(routeKey(r), r);
  }

  /** Takes one desired route; true when the kernel must be given it. */
  want(r: KernelRoute): boolean {
    const k = routeKey(r);
    this.wanted.add(k);
    const cur = this.have.get(k);
    if (cur && sameRoute(cur, r)) {
      this.unchanged++;
      return false;
    }
    return true;
  }

  /** Ours in the kernel and not wanted: once every desired route was taken. */
  unwanted(): KernelRoute[] {
    return this.actual.filter((r) => !this.wanted.has(routeKey(r)));
  }
}

export function diffRoutes(
  actual: readonly KernelRoute[],
  desired: readonly KernelRoute[],
): { replace: KernelRoute[]; remove: KernelRoute[]; unchanged: number } {
  const d = new RouteDiff(actual);
  const replace = desired.filter((r) => d.want(r));
  return { replace, remove: d.unwanted(), unchanged: d.unchanged };
}

/** Routes per netlink batch of a sync: the kernel installs one batch while the next is encoded. */
const PIPELINE_ROUTES = 8192;

/**
 * tortie's routes in one table of one network namespace, programmed over
 * rtnetlink in batches. It only ever reads, replaces or deletes routes that
 * carry its protocol number in its table: everyone else's routes are left alone.
 */
export class KernelRoutes {
  private readonly sock: NetlinkSocket;
  readonly table: number;
  readonly protocol: number;

  constructor(opts: { netns?: string; table?: number; protocol?: number } = {}) {
    this.table = opts.table ?? MAIN_TABLE;
    this.protocol = opts.protocol ?? DEFAULT_PROTOCOL;
    this.sock = new NetlinkSocket(NETLINK_ROUTE, opts.netns);
  }

  close(): void {
    this.sock.close();
  }

  async links(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const m of await this.sock.dump(RTM.GETLINK, linkDumpRequest())) {
      const l = decodeLink(m);
      if (l) out.set(l.name, l.index);
    }
    return out;
  }

  /** Our routes as the kernel holds them now. */
  async list(): Promise<KernelRoute[]> {
    const out: KernelRoute[] = [];
    for (const family of ["ipv4", "ipv6"] as const) {
      for (const m of await this.sock.dump(RTM.GETROUTE, routeDumpRequest(family))) {
        const r = decodeRoute(m);
        if (r && r.table === this.table && r.protocol === this.protocol) out.push(r);
      }
    }
    return out;
  }

  /** Turns specs into kernel routes; specs naming a missing device become failures. */
  resolve(
    specs: readonly RouteSpec[],
    links: ReadonlyMap<string, number>,
  ): { routes: KernelRoute[]; failed: RouteFailure[] } {
    const routes: KernelRoute[] = [];
    const failed: RouteFailure[] = [];
    for (const s of specs) {
      let dst: string;
      try {
        dst = canonicalCidr(s.dst);
      } catch {
        failed.push({ dst: s.dst, reason: "not a CIDR" });
        continue;
      }
      const nexthops: NextHop[] = [];
      let missing: string | undefined;
      for (const h of s.nexthops ?? []) {
        const ifindex = h.dev === undefined ? undefined : links.get(h.dev);
        if (h.dev !== undefined && ifindex === undefined) missing = h.dev;
        const hop: { gateway?: string; ifindex?: number; weight: number; onlink?: boolean } = {
          weight: h.weight ?? 1,
        };
        if (h.gateway !== undefined) hop.gateway = h.gateway;
        if (ifindex !== undefined) hop.ifindex = ifindex;
        if (h.onlink) hop.onlink = true;
        nexthops.push(hop);
      }
      if (missing !== undefined) {
        failed.push({ dst, reason: `no device ${missing}` });
        continue;
      }
      // The kernel stores IPv6 routes given no metric with 1024 (IP6_RT_PRIO_USER): compare as it stores them.
      const metric = s.metric || (dst.includes(":") ? 1024 : 0);
      routes.push({
        dst,
        type: s.type ?? "unicast",
        table: this.table,
        protocol: this.protocol,
        metric,
        nexthops,
      });
    }
    return { routes, failed };
  }

  /**
   * Makes the kernel hold exactly `desired` among our routes: reads what is
   * there, replaces what differs, removes what is ours and no longer wanted.
   * Idempotent; a route the kernel refuses is reported and does not stop the rest.
   */
  async sync(desired: readonly RouteSpec[]): Promise<SyncReport> {
    const links = await this.links();
    const diff = new RouteDiff(await this.list());
    const failed: RouteFailure[] = [];
    const sent: Promise<RouteFailure[]>[] = [];
    let replaced = 0;
    const send = (routes: KernelRoute[], encode: (r: KernelRoute) => Request): Promise<RouteFailure[]> =>
      this.sock
        .batch(routes.map(encode))
        .then((refusals) =>
          refusals.map((r) => ({ dst: routes[r.index]?.dst ?? "?", reason: r.error.message })),
        );
    for (let i = 0; i < desired.length; i += PIPELINE_ROUTES) {
      const chunk = this.resolve(desired.slice(i, i + PIPELINE_ROUTES), links);
      failed.push(...chunk.failed);
      const replace = chunk.routes.filter((r) => diff.want(r));
      replaced += replace.length;
      if (replace.length > 0) sent.push(send(replace, replaceRoute));
      // Lets the batch reach the kernel (a thread-pool job) before this thread encodes the next.
      if (i + PIPELINE_ROUTES < desired.length) await new Promise((r) => setImmediate(r));
    }
    const remove = diff.unwanted();
    const removeFailed = remove.length > 0 ? await send(remove, deleteRoute) : [];
    const replaceFailed = (await Promise.all(sent)).flat();
    return {
      replaced: replaced - replaceFailed.length,
      removed: remove.length - removeFailed.length,
      unchanged: diff.unchanged,
      failed: [...failed, ...removeFailed, ...replaceFailed],
    };
  }

  /** Incremental change without reading the table first (the caller knows what changed). */
  async apply(change: {
    replace?: readonly RouteSpec[];
    remove?: readonly RouteSpec[];
  }): Promise<RouteFailure[]> {
    const links = await this.links();
    const rep = this.resolve(change.replace ?? [], links);
    const rem = this.resolve(
      (change.remove ?? []).map((r) => ({ ...r, nexthops: [] })),
      links,
    );
    const all = [...rem.routes, ...rep.routes];
    const refusals = await this.sock.batch([...rem.routes.map(deleteRoute), ...rep.routes.map(replaceRoute)]);
    return [
      ...rep.failed,
      ...rem.failed,
      // Removing what is already gone is success for a reconciler.
      ...refusals
        .filter((r) => !(r.index < rem.routes.length && r.error.code === "ESRCH"))
        .map((r) => ({ dst: all[r.index]?.dst ?? "?", reason: r.error.message })),
    ];
  }
}
