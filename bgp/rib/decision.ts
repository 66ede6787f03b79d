import ipaddr from "ipaddr.js";
import { AsSegmentType, type PathAttributes } from "../wire/index.js";
import type { SourceId } from "./rib.js";

/**
 * The decision process of RFC 4271 §9.1.2.2 (with RFC 4456 §9 for reflected
 * routes), as a table of steps applied in order. It is written the way the RFC
 * writes it, as elimination over the set of candidates rather than a pairwise
 * comparator: MED is only compared among paths from the same neighbour AS, which
 * is not transitive pairwise (RFC 3345), while elimination over the whole set
 * gives the same winner whatever order the paths arrive in.
 */

/** What the decision needs to know about where a path came from (per source, not per route). */
export interface PathSource {
  /** Originated by this speaker. */
  readonly local: boolean;
  readonly ebgp: boolean;
  /** The peer's canonical address; "" for our own routes. */
  readonly peerAddress: string;
  /** The peer's BGP Identifier (RFC 4271 §4.2) as an unsigned 32-bit number; 0 for our own routes. */
  readonly routerId: number;
}

export interface Path {
  readonly source: SourceId;
  readonly from: PathSource;
  readonly attributes: PathAttributes;
  readonly asPathLength: number;
  /** The interior cost to the next hop, where the speaker knows one. */
  readonly igpCost?: number;
}

export interface DecisionOptions {
  /** Compare MED between paths from different neighbour ASes too (`bgp always-compare-med`). */
  readonly alwaysCompareMed?: boolean;
  /** The LOCAL_PREF of a path that carries none (eBGP-learned routes). */
  readonly defaultLocalPref?: number;
}

/** Why a path won: the step that removed the last competitor. */
export type Reason =
  | "only-path"
  | "local-origin"
  | "local-pref"
  | "as-path-length"
  | "origin"
  | "med"
  | "ebgp-over-ibgp"
  | "igp-cost"
  | "router-id"
  | "cluster-list-length"
  | "peer-address"
  | "source";

interface Step {
  readonly reason: Reason;
  /** Negative when `a` is preferred. */
  compare(a: Path, b: Path, o: DecisionOptions): number;
  /** Paths are only compared with others in the same group (MED: the same neighbour AS). */
  group?(p: Path, o: DecisionOptions): string;
}

/** RFC 4271 §9.1.2.2 a–f plus RFC 4456 §9; one row per step, in the order they apply. */
export const DECISION_STEPS: readonly Step[] = [
  // Not in the RFC's list: our own prefixes (a node's blocks) are never replaced by a path
  // someone else sends back to us, whatever its attributes (BIRD does the same by preference).
  { reason: "local-origin", compare: (a, b) => Number(b.from.local) - Number(a.from.local) },
  { reason: "local-pref", compare: (a, b, o) => localPref(b, o) - localPref(a, o) },
  { reason: "as-path-length", compare: (a, b) => a.asPathLength - b.asPathLength },
  { reason: "origin", compare: (a, b) => (a.attributes.origin ?? 2) - (b.attributes.origin ?? 2) },
  {
    reason: "med",
    // §9.1.2.2 c: a missing MED counts as the lowest value.
    compare: (a, b) => (a.attributes.med ?? 0) - (b.attributes.med ?? 0),
    group: (p, o) => (o.alwaysCompareMed ? "" : neighbourAs(p)),
  },
  { reason: "ebgp-over-ibgp", compare: (a, b) => Number(b.from.ebgp) - Number(a.from.ebgp) },
  {
    reason: "igp-cost",
    compare: (a, b) => (a.igpCost ?? 0) - (b.igpCost ?? 0),
  },
  { reason: "router-id", compare: (a, b) => originatorOrRouterId(a) - originatorOrRouterId(b) },
  {
    reason: "cluster-list-length",
    compare: (a, b) => (a.attributes.clusterList?.length ?? 0) - (b.attributes.clusterList?.length ?? 0),
  },
  {
    reason: "peer-address",
    compare: (a, b) => compareAddress(a.from.peerAddress, b.from.peerAddress),
  },
  // Two sessions to one address cannot both be up; this keeps the order total regardless.
  { reason: "source", compare: (a, b) => a.source - b.source },
];

/** Paths tied up to here may share the forwarding (ECMP): the tie-breakers after it are arbitrary. */
const MULTIPATH_LAST_STEP: Reason = "igp-cost";

function localPref(p: Path, o: DecisionOptions): number {
  return p.attributes.localPref ?? o.defaultLocalPref ?? 100;
}

/** The AS a path entered our AS from: the first AS of the AS_PATH; "" for paths from inside. */
export function neighbourAs(p: Path): string {
  const first = p.attributes.asPath?.[0];
  if (!first || first.asns.length === 0) return "";
  if (first.type === AsSegmentType.AS_CONFED_SEQUENCE || first.type === AsSegmentType.AS_CONFED_SET)
    return "";
  return String(first.asns[0]);
}

export function ipv4ToNumber(a: string): number {
  const parts = a.split(".");
  if (parts.length !== 4) return 0;
  return parts.reduce((n, x) => n * 256 + (Number(x) & 255), 0);
}

function originatorOrRouterId(p: Path): number {
  const o = p.attributes.originatorId;
  return o === undefined ? p.from.routerId : ipv4ToNumber(o);
}

const addressBytes = new Map<string, readonly number[]>();
function bytesOf(a: string): readonly number[] {
  let b = addressBytes.get(a);
  if (!b) {
    try {
      const parsed = ipaddr.parse(a);
      // IPv4 sorts before IPv6: family length first.
      b = [parsed.kind() === "ipv4" ? 4 : 16, ...parsed.toByteArray()];
    } catch {
      b = [0];
    }
    if (addressBytes.size > 10_000) addressBytes.clear();
    addressBytes.set(a, b);
  }
  return b;
}

export function compareAddress(a: string, b: string): number {
  if (a === b) return 0;
  const x = bytesOf(a);
  const y = bytesOf(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? -1) - (y[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

export interface Selection {
  readonly best: Path;
  readonly reason: Reason;
  /** The paths equal to the best up to the multipath cut (best first); just [best] when only one. */
  readonly multipath: readonly Path[];
}

/** Keeps the paths no other path in their group beats at this step. */
function eliminate(paths: readonly Path[], step: Step, o: DecisionOptions): Path[] {
  const groups = new Map<string, Path>();
  for (const p of paths) {
    const g = step.group?.(p, o) ?? "";
    const cur = groups.get(g);
    if (!cur || step.compare(p, cur, o) < 0) groups.set(g, p);
  }
  return paths.filter((p) => {
    const g = step.group?.(p, o) ?? "";
    const bestOfGroup = groups.get(g);
    return bestOfGroup !== undefined && step.compare(p, bestOfGroup, o) === 0;
  });
}

/** RFC 4271 §9.1.2: the best of a set of paths to one prefix, why it won, and its ECMP siblings. */
export function selectBest(paths: readonly Path[], o: DecisionOptions = {}): Selection | undefined {
  const first = paths[0];
  if (!first) return undefined;
  if (paths.length === 1) return { best: first, reason: "only-path", multipath: [first] };
  let left: readonly Path[] = paths;
  let reason: Reason = "source";
  let multipath: readonly Path[] | undefined;
  for (const step of DECISION_STEPS) {
    if (left.length > 1) {
      const next = eliminate(left, step, o);
      if (next.length === 1 && left.length > 1) reason = step.reason;
      left = next;
    }
    if (step.reason === MULTIPATH_LAST_STEP) multipath = left;
  }
  const best = left[0];
  if (!best) throw new Error("decision process eliminated every path");
  // Our own route is never shared with a learned one.
  const siblings = best.from.local ? [best] : [best, ...(multipath ?? []).filter((p) => p !== best)];
  return { best, reason, multipath: siblings };
}

/** Pairwise form for two paths: negative when `a` wins. */
export function comparePaths(a: Path, b: Path, o: DecisionOptions = {}): number {
  const s = selectBest([a, b], o);
  return s?.best === a ? -1 : 1;
}

/** The step at which `a` and `b` part (for explanations and tests). */
export function decidingStep(a: Path, b: Path, o: DecisionOptions = {}): Reason {
  return selectBest([a, b], o)?.reason ?? "only-path";
}
