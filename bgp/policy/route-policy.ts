import type { PrefixKey } from "../rib/prefix.js";
import type { PathAttributes } from "../wire/index.js";
import {
  applyMods,
  cidrContains,
  evaluate,
  prefixCidr,
  type CompiledFilter,
  type PeerType,
  type RouteMods,
} from "./filter.js";

/**
 * Which routes go where, as pure functions: RFC 4271 §9.2 (no iBGP-learned route to an iBGP
 * peer), RFC 4456 §6 (reflection between clients and non-clients), the cluster-protecting
 * defaults, and the user's filters on top.
 */

export interface Pool {
  readonly prefix: ReturnType<typeof prefixCidr>;
}

/** The peer a route comes from, or our own routes. */
export interface RouteOrigin {
  readonly local: boolean;
  readonly ebgp: boolean;
  readonly rrClient: boolean;
  /** Canonical address ("" for our own). */
  readonly address: string;
  /** The peer's BGP Identifier, dotted ("" for our own). */
  readonly routerId: string;
}

export interface ExportPeer {
  readonly address: string;
  readonly asn: number;
  readonly ebgp: boolean;
  readonly rrClient: boolean;
  readonly nextHopMode: "Auto" | "Self" | "Keep";
  readonly filters: readonly CompiledFilter[];
}

export interface SelfFacts {
  readonly localAs: number;
  readonly routerId: string;
  /** Set on a route reflector. */
  readonly clusterId?: string | undefined;
}

export interface ExportResult {
  readonly attributes: PathAttributes;
  /** Send the route's own next hop instead of ours. */
  readonly keepNextHop: boolean;
  /** "default" or the rule that decided ("filter NAME exportV4[0]"). */
  readonly by: string;
}

const peerType = (ebgp: boolean): PeerType => (ebgp ? "eBGP" : "iBGP");

function asPathHas(a: PathAttributes, asn: number): boolean {
  return (a.asPath ?? []).some((s) => s.asns.includes(asn));
}

/** RFC-mandated eligibility, before any policy; `reflect` when the route is reflected (RFC 4456). */
export function eligible(
  from: RouteOrigin,
  to: ExportPeer,
  a: PathAttributes,
  self: SelfFacts,
): { ok: false } | { ok: true; reflect: boolean } {
  if (from.local) return { ok: true, reflect: false };
  if (from.address === to.address) return { ok: false };
  // Sender-side loop check: the eBGP peer would drop it anyway.
  if (to.ebgp && asPathHas(a, to.asn)) return { ok: false };
  if (!from.ebgp && !to.ebgp) {
    // §9.2: iBGP-learned routes do not go to iBGP peers, unless we reflect (RFC 4456 §6).
    if (self.clusterId === undefined) return { ok: false };
    if (!from.rrClient && !to.rrClient) return { ok: false };
    return { ok: true, reflect: true };
  }
  return { ok: true, reflect: false };
}

/**
 * What we send a peer for one route, or undefined. Defaults protect a cluster: our own routes
 * (blocks, service ranges) go everywhere; learned routes only where we reflect them; anything
 * else only when a filter accepts it. A filter rule that matches overrides the default.
 */
export function exportRoute(
  prefix: PrefixKey,
  a: PathAttributes,
  from: RouteOrigin,
  to: ExportPeer,
  self: SelfFacts,
): ExportResult | undefined {
  const e = eligible(from, to, a, self);
  if (!e.ok) return undefined;
  const verdict =
    to.filters.length === 0
      ? undefined
      : evaluate(to.filters, "export", {
          prefix: prefixCidr(prefix),
          attributes: a,
          local: from.local,
          peerType: peerType(to.ebgp),
        });
  const accept = verdict ? verdict.action === "Accept" : from.local || (e.reflect && !to.ebgp);
  if (!accept) return undefined;
  let out = a;
  if (e.reflect) {
    // RFC 4456 §8: ORIGINATOR_ID once, by the first reflector; our CLUSTER_ID in front.
    out = {
      ...out,
      originatorId: a.originatorId ?? from.routerId,
      clusterList: [self.clusterId ?? self.routerId, ...(a.clusterList ?? [])],
    };
  }
  if (to.ebgp) {
    // Attributes that do not leave the AS (RFC 4271 §5.1.4/§5.1.5, RFC 4456 §8).
    const { originatorId: _o, clusterList: _c, localPref: _l, med: _m, ...rest } = out;
    out = rest;
  }
  if (verdict) out = applyMods(out, verdict.mods, self.localAs, to.ebgp);
  // Auto (Calico's default): ours toward eBGP, the route's own toward iBGP (RFC 4271 §5.1.3).
  const keepNextHop = !from.local && (to.nextHopMode === "Keep" || (to.nextHopMode === "Auto" && !to.ebgp));
  return { attributes: out, keepNextHop, by: verdict?.where ?? "default" };
}

export interface ImportPeer {
  readonly ebgp: boolean;
  readonly filters: readonly CompiledFilter[];
}

export interface ImportResult {
  readonly attributes: PathAttributes;
  readonly by: string;
}

/**
 * Whether a received route enters the Adj-RIB-In, with the filter's changes. With `pools`
 * (a cluster node): from iBGP only prefixes inside a pool, from eBGP only what a filter accepts.
 * Without pools (a plain speaker): everything, unless a filter says otherwise.
 */
export function importRoute(
  prefix: PrefixKey,
  a: PathAttributes,
  from: ImportPeer,
  pools: readonly Pool[] | undefined,
  localAs: number,
): ImportResult | undefined {
  // A plain speaker with no filters takes a full feed: no per-route work at all.
  if (from.filters.length === 0 && pools === undefined) return { attributes: a, by: "default" };
  const p = prefixCidr(prefix);
  const verdict = evaluate(from.filters, "import", {
    prefix: p,
    attributes: a,
    local: false,
    peerType: peerType(from.ebgp),
  });
  if (verdict) {
    if (verdict.action === "Reject") return undefined;
    return { attributes: applyMods(a, verdict.mods, localAs, false), by: verdict.where };
  }
  if (pools === undefined) return { attributes: a, by: "default" };
  if (from.ebgp) return undefined;
  return pools.some((pool) => cidrContains(pool.prefix, p)) ? { attributes: a, by: "default" } : undefined;
}

/** A stable text for a set of mods (interning key for changed attribute sets). */
export function modsKey(m: RouteMods): string {
  return JSON.stringify(m);
}
