import ipaddr from "ipaddr.js";
import type { FieldProblem } from "../../core/errors.js";
import { formatPrefix, type PrefixKey } from "../rib/prefix.js";
import { AsSegmentType, type LargeCommunity, type PathAttributes } from "../wire/index.js";

/**
 * Import and export filters in the shape of Calico's BGPFilter (v3): rules matched in order,
 * the first match decides. Calico's fields (action, matchOperator, cidr, prefixLength, source)
 * keep their names and meaning; the rest are ours: community and AS path matches, the peer
 * type, and actions that change the route (add communities, prepend, set LOCAL_PREF).
 */

export type FilterAction = "Accept" | "Reject";
export type MatchOperator = "Equal" | "NotEqual" | "In" | "NotIn";
export type PeerType = "eBGP" | "iBGP";

export interface FilterRule {
  readonly action: FilterAction;
  readonly matchOperator?: MatchOperator;
  readonly cidr?: string;
  /** With In/NotIn: the prefix length must lie within [min, max] (default: cidr length to the full length). */
  readonly prefixLength?: { readonly min?: number; readonly max?: number };
  /** Export only: "RemotePeers" matches routes learned from peers, not our own. */
  readonly source?: "RemotePeers";
  /** Every one of these communities ("65000:100") must be on the route. */
  readonly communities?: readonly string[];
  /** Every one of these large communities ("65000:1:2") must be on the route. */
  readonly largeCommunities?: readonly string[];
  /** A regular expression over the AS_PATH written as space-separated ASNs ("65002 65010"). */
  readonly asPathRegex?: string;
  /** The peer the route comes from (import) or goes to (export). */
  readonly peerType?: PeerType;
  readonly addCommunities?: readonly string[];
  readonly addLargeCommunities?: readonly string[];
  /** Export to eBGP: our AS this many extra times. */
  readonly prepend?: number;
  readonly localPref?: number;
}

export interface BgpFilter {
  readonly name: string;
  readonly exportV4?: readonly FilterRule[];
  readonly importV4?: readonly FilterRule[];
  readonly exportV6?: readonly FilterRule[];
  readonly importV6?: readonly FilterRule[];
}

/** What a rule does to a route it accepts. */
export interface RouteMods {
  readonly addCommunities?: readonly number[];
  readonly addLargeCommunities?: readonly LargeCommunity[];
  readonly prepend?: number;
  readonly localPref?: number;
}

interface Cidr {
  readonly bytes: readonly number[];
  readonly len: number;
  readonly v4: boolean;
}

export interface CompiledRule {
  readonly action: FilterAction;
  readonly op: MatchOperator;
  readonly cidr?: Cidr;
  readonly minLen?: number;
  readonly maxLen?: number;
  readonly remoteOnly: boolean;
  readonly communities: readonly number[];
  readonly largeCommunities: readonly LargeCommunity[];
  readonly asPath?: RegExp;
  readonly peerType?: PeerType;
  readonly mods: RouteMods;
  /** "filter NAME importV4[2]": shown when a rule decides. */
  readonly where: string;
}

export interface CompiledFilter {
  readonly name: string;
  readonly importV4: readonly CompiledRule[];
  readonly importV6: readonly CompiledRule[];
  readonly exportV4: readonly CompiledRule[];
  readonly exportV6: readonly CompiledRule[];
}

export function parseCommunity(s: string): number | undefined {
  const m = /^(\d+):(\d+)$/.exec(s);
  if (!m) return undefined;
  const hi = Number(m[1]);
  const lo = Number(m[2]);
  return hi <= 0xffff && lo <= 0xffff ? hi * 0x10000 + lo : undefined;
}

export function parseLargeCommunity(s: string): LargeCommunity | undefined {
  const m = /^(\d+):(\d+):(\d+)$/.exec(s);
  if (!m) return undefined;
  const [g, a, b] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return g <= 0xffffffff && a <= 0xffffffff && b <= 0xffffffff
    ? { globalAdmin: g, localData1: a, localData2: b }
    : undefined;
}

export function parseCidr(s: string): Cidr | undefined {
  try {
    const [addr, len] = ipaddr.parseCIDR(s);
    return { bytes: addr.toByteArray(), len, v4: addr.kind() === "ipv4" };
  } catch {
    return undefined;
  }
}

/** The route's prefix as a Cidr (keys are canonical already). */
export function prefixCidr(k: PrefixKey): Cidr {
  const c = parseCidr(formatPrefix(k));
  if (!c) throw new Error(`bad prefix key ${String(k)}`);
  return c;
}

/** Whether `inner` lies within `outer` (same family, at least as long, same leading bits). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.v4 !== inner.v4 || inner.len < outer.len) return false;
  for (let bit = 0; bit < outer.len; bit++) {
    const mask = 1 << (7 - (bit & 7));
    if (((outer.bytes[bit >> 3] ?? 0) & mask) !== ((inner.bytes[bit >> 3] ?? 0) & mask)) return false;
  }
  return true;
}

const LISTS = ["importV4", "importV6", "exportV4", "exportV6"] as const;

/** Checks and compiles filters; problems name the filter and the field. */
export function compileFilters(
  filters: readonly BgpFilter[],
  object: string,
): { filters: Map<string, CompiledFilter>; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const out = new Map<string, CompiledFilter>();
  filters.forEach((f, fi) => {
    const base = `filters[${fi}]`;
    if (out.has(f.name))
      problems.push({ object, path: `${base}.name`, message: `${f.name} is defined twice` });
    const lists = {} as Record<(typeof LISTS)[number], CompiledRule[]>;
    for (const list of LISTS) {
      const v6 = list.endsWith("V6");
      lists[list] = (f[list] ?? []).map((r, ri) => {
        const path = `${base}.${list}[${ri}]`;
        const bad = (field: string, message: string): void => {
          problems.push({ object, path: `${path}.${field}`, message });
        };
        let cidr: Cidr | undefined;
        if (r.cidr !== undefined) {
          cidr = parseCidr(r.cidr);
          if (!cidr) bad("cidr", `${JSON.stringify(r.cidr)} is not a CIDR`);
          else if (cidr.v4 === v6) bad("cidr", `${r.cidr} is not an ${v6 ? "IPv6" : "IPv4"} CIDR`);
        }
        const op = r.matchOperator ?? (cidr ? "In" : "In");
        if (r.matchOperator !== undefined && cidr === undefined && r.cidr === undefined)
          bad("matchOperator", "needs a cidr");
        const full = v6 ? 128 : 32;
        const minLen = r.prefixLength?.min;
        const maxLen = r.prefixLength?.max;
        if (r.prefixLength !== undefined && (op === "Equal" || op === "NotEqual"))
          bad("prefixLength", "applies to In and NotIn only (as in Calico)");
        if ((minLen ?? 0) > full || (maxLen ?? 0) > full) bad("prefixLength", `must be at most ${full}`);
        if (minLen !== undefined && maxLen !== undefined && minLen > maxLen)
          bad("prefixLength", "min is larger than max");
        if (r.source !== undefined && list.startsWith("import"))
          bad("source", "applies to export rules only");
        const communities = (r.communities ?? []).map((c, i) => {
          const v = parseCommunity(c);
          if (v === undefined)
            bad(`communities[${i}]`, `${JSON.stringify(c)} is not a community (want A:B, each 0-65535)`);
          return v ?? 0;
        });
        const addCommunities = (r.addCommunities ?? []).map((c, i) => {
          const v = parseCommunity(c);
          if (v === undefined)
            bad(`addCommunities[${i}]`, `${JSON.stringify(c)} is not a community (want A:B)`);
          return v ?? 0;
        });
        const large = (field: "largeCommunities" | "addLargeCommunities"): LargeCommunity[] =>
          (r[field] ?? []).map((c, i) => {
            const v = parseLargeCommunity(c);
            if (!v) bad(`${field}[${i}]`, `${JSON.stringify(c)} is not a large community (want A:B:C)`);
            return v ?? { globalAdmin: 0, localData1: 0, localData2: 0 };
          });
        let asPath: RegExp | undefined;
        if (r.asPathRegex !== undefined) {
          try {
            asPath = new RegExp(r.asPathRegex);
          } catch (err) {
            bad("asPathRegex", `is not a regular expression: ${(err as Error).message}`);
          }
        }
        if (r.action === "Reject" && (r.addCommunities || r.addLargeCommunities || r.prepend || r.localPref))
          bad("action", "a Reject rule cannot change the route");
        const addLarge = large("addLargeCommunities");
        const mods: RouteMods = {
          ...(addCommunities.length > 0 ? { addCommunities } : {}),
          ...(addLarge.length > 0 ? { addLargeCommunities: addLarge } : {}),
          ...(r.prepend !== undefined ? { prepend: r.prepend } : {}),
          ...(r.localPref !== undefined ? { localPref: r.localPref } : {}),
        };
        return {
          action: r.action,
          op,
          ...(cidr ? { cidr } : {}),
          ...(minLen !== undefined ? { minLen } : {}),
          ...(maxLen !== undefined ? { maxLen } : {}),
          remoteOnly: r.source === "RemotePeers",
          communities,
          largeCommunities: large("largeCommunities"),
          ...(asPath ? { asPath } : {}),
          ...(r.peerType ? { peerType: r.peerType } : {}),
          mods,
          where: `filter ${f.name} ${list}[${ri}]`,
        };
      });
    }
    out.set(f.name, { name: f.name, ...lists });
  });
  return { filters: out, problems };
}

/** The facts a rule looks at. */
export interface RouteFacts {
  readonly prefix: Cidr;
  readonly attributes: PathAttributes;
  /** Originated by this speaker. */
  readonly local: boolean;
  /** The peer the route comes from (import) or goes to (export). */
  readonly peerType: PeerType;
}

export function asPathText(a: PathAttributes): string {
  return (a.asPath ?? [])
    .map((s) => (s.type === AsSegmentType.AS_SET ? `{${s.asns.join(",")}}` : s.asns.join(" ")))
    .join(" ");
}

function prefixMatches(r: CompiledRule, p: Cidr): boolean {
  const c = r.cidr;
  const full = p.v4 ? 32 : 128;
  const lengthOk = p.len >= (r.minLen ?? c?.len ?? 0) && p.len <= (r.maxLen ?? full);
  if (!c) return lengthOk;
  if (c.v4 !== p.v4) return false;
  switch (r.op) {
    case "Equal":
      return c.len === p.len && cidrContains(c, p);
    case "NotEqual":
      return !(c.len === p.len && cidrContains(c, p));
    case "In":
      return cidrContains(c, p) && lengthOk;
    case "NotIn":
      return !(cidrContains(c, p) && lengthOk);
  }
}

export function ruleMatches(r: CompiledRule, f: RouteFacts): boolean {
  if (!prefixMatches(r, f.prefix)) return false;
  if (r.remoteOnly && f.local) return false;
  if (r.peerType !== undefined && r.peerType !== f.peerType) return false;
  const have = f.attributes.communities ?? [];
  if (!r.communities.every((c) => have.includes(c))) return false;
  const haveLarge = f.attributes.largeCommunities ?? [];
  if (
    !r.largeCommunities.every((c) =>
      haveLarge.some(
        (h) =>
          h.globalAdmin === c.globalAdmin && h.localData1 === c.localData1 && h.localData2 === c.localData2,
      ),
    )
  )
    return false;
  if (r.asPath && !r.asPath.test(asPathText(f.attributes))) return false;
  return true;
}

export interface Verdict {
  readonly action: FilterAction;
  readonly mods: RouteMods;
  readonly where: string;
}

/** The first rule of the filters, in order, that matches the route; undefined when none does. */
export function evaluate(
  filters: readonly CompiledFilter[],
  direction: "import" | "export",
  f: RouteFacts,
): Verdict | undefined {
  const list = `${direction}${f.prefix.v4 ? "V4" : "V6"}` as const;
  for (const filter of filters) {
    for (const r of filter[list])
      if (ruleMatches(r, f)) return { action: r.action, mods: r.mods, where: r.where };
  }
  return undefined;
}

/** The route's attributes after a rule's changes (prepend is applied on export to eBGP only). */
export function applyMods(a: PathAttributes, m: RouteMods, localAs: number, ebgp: boolean): PathAttributes {
  let out = a;
  if (m.addCommunities) {
    const have = a.communities ?? [];
    out = { ...out, communities: [...have, ...m.addCommunities.filter((c) => !have.includes(c))] };
  }
  if (m.addLargeCommunities) {
    const have = a.largeCommunities ?? [];
    const key = (c: LargeCommunity): string => `${c.globalAdmin}:${c.localData1}:${c.localData2}`;
    const seen = new Set(have.map(key));
    out = { ...out, largeCommunities: [...have, ...m.addLargeCommunities.filter((c) => !seen.has(key(c)))] };
  }
  if (m.localPref !== undefined && !ebgp) out = { ...out, localPref: m.localPref };
  if (m.prepend && ebgp) {
    out = {
      ...out,
      asPath: [
        { type: AsSegmentType.AS_SEQUENCE, asns: Array<number>(m.prepend).fill(localAs) },
        ...(out.asPath ?? []),
      ],
    };
  }
  return out;
}
