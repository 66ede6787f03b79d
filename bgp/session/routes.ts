import ipaddr from "ipaddr.js";
import { ipv4KeyParts, type PrefixKey } from "../rib/prefix.js";
import {
  Afi,
  AsSegmentType,
  Origin,
  Prefixes,
  Safi,
  afiSafiKey,
  decodeUpdate,
  encodeAnnouncements,
  encodeEndOfRib as wireEndOfRib,
  encodeWithdrawals,
  endOfRib,
  formatAttributes,
  routeChanges,
  afiSafiName,
  type AttributeCache,
  type BgpError,
  type Capability,
  type PathAttributes,
  type WireContext,
} from "../wire/index.js";

/**
 * The bridge between bgp/wire's messages and the RIB's compact routes: what
 * an UPDATE changes, as prefix keys plus one shared RouteAttrs, and back.
 */

/**
 * A route's attributes as the RIB holds them: one object per distinct
 * (attribute set, next hop) pair, shared by every route that carries it.
 */
export interface RouteAttrs {
  readonly attributes: PathAttributes;
  /** IPv4 NEXT_HOP, or the MP_REACH next hops (IPv6 global [+ link-local]); empty for our own routes. */
  readonly nextHop: readonly string[];
  readonly asPathLength: number;
}

/** What we originate: ORIGIN IGP, empty AS_PATH; AS and next hop are added per session on export. */
export const LOCAL_ROUTE: RouteAttrs = {
  attributes: { origin: Origin.IGP, asPath: [] },
  nextHop: [],
  asPathLength: 0,
};

/** RFC 4271 §9.1.2.2 a: an AS_SET counts as one, confederation segments not at all. */
function asPathLength(a: PathAttributes): number {
  let n = 0;
  for (const s of a.asPath ?? []) {
    if (s.type === AsSegmentType.AS_SEQUENCE) n += s.asns.length;
    else if (s.type === AsSegmentType.AS_SET) n += 1;
  }
  return n;
}

/** Interns RouteAttrs per attribute object (already shared by the codec's AttributeCache) and next hop. */
export class RouteAttrsTable {
  private readonly byAttrs = new WeakMap<PathAttributes, Map<string, RouteAttrs>>();

  get(attributes: PathAttributes, nextHop: readonly string[]): RouteAttrs {
    let m = this.byAttrs.get(attributes);
    if (!m) {
      m = new Map();
      this.byAttrs.set(attributes, m);
    }
    const k = nextHop.join(" ");
    let r = m.get(k);
    if (!r) {
      r = { attributes, nextHop, asPathLength: asPathLength(attributes) };
      m.set(k, r);
    }
    return r;
  }
}

export function attributesView(a: RouteAttrs): Readonly<Record<string, unknown>> {
  // Attribute names as the RFCs spell them; an MP_REACH next hop shows as NEXT_HOP too.
  const view: Record<string, string> = formatAttributes(a.attributes);
  if (view["NEXT_HOP"] === undefined && a.nextHop.length > 0) view["NEXT_HOP"] = a.nextHop.join(" ");
  return view;
}

/** Our RFC 4724 stance: the restart time we ask peers to wait, and whether this run follows a restart. */
export interface GracefulRestartSettings {
  readonly restartTime: number;
  /** R bit, and F bit per family: we restarted and kept forwarding (kernel routes) meanwhile. */
  readonly restarting: boolean;
}

export function localCapabilities(gr?: GracefulRestartSettings): Capability[] {
  const caps: Capability[] = [
    { kind: "multiprotocol", afi: Afi.IPV4, safi: Safi.UNICAST },
    { kind: "multiprotocol", afi: Afi.IPV6, safi: Safi.UNICAST },
    { kind: "route-refresh" },
  ];
  if (gr)
    caps.push({
      kind: "graceful-restart",
      restartState: gr.restarting,
      notification: false,
      restartTime: gr.restartTime,
      families: [Afi.IPV4, Afi.IPV6].map((afi) => ({
        afi,
        safi: Safi.UNICAST,
        forwardingState: gr.restarting,
      })),
    });
  return caps;
}

/** Routes sharing one attribute set (an UPDATE's IPv4 NLRI and MP_REACH differ only in next hop). */
export interface Group {
  readonly attrs: RouteAttrs;
  readonly keys: readonly PrefixKey[];
}

export interface DecodedRoutes {
  readonly announced: readonly Group[];
  readonly withdrawn: readonly PrefixKey[];
  /** The family an End-of-RIB marker closes. */
  readonly endOfRib?: string;
  /** RFC 7606 errors handled without a reset (attribute discard, treat-as-withdraw). */
  readonly errors: readonly BgpError[];
  readonly treatAsWithdraw: boolean;
}

function pushKeys(out: PrefixKey[], p: Prefixes): void {
  if (p.afi === Afi.IPV4) {
    for (let i = 0; i < p.count; i++) out.push(p.key(i));
  } else {
    // bgp/wire prints RFC 5952 text, the same canonical form the RIB's IPv6 keys use.
    for (let i = 0; i < p.count; i++) out.push(p.prefix(i));
  }
}

/**
 * Decodes an UPDATE into RIB changes. Throws BgpError only for errors whose
 * RFC 7606 action resets the session (the caller sends the NOTIFICATION);
 * treat-as-withdraw has already turned announcements into withdrawals.
 * Unicast only: no other SAFI is negotiated.
 */
export function decodeRoutes(
  body: Buffer,
  ctx: WireContext,
  cache: AttributeCache,
  table: RouteAttrsTable,
): DecodedRoutes {
  const u = decodeUpdate(body, ctx, cache);
  const changes = routeChanges(u);
  const withdrawn: PrefixKey[] = [];
  for (const w of changes.withdraw) if (w.safi === Safi.UNICAST) pushKeys(withdrawn, w.prefixes);
  const announced: Group[] = [];
  for (const a of changes.announce) {
    if (a.safi !== Safi.UNICAST) continue;
    const keys: PrefixKey[] = [];
    pushKeys(keys, a.prefixes);
    announced.push({ attrs: table.get(a.attributes, a.nextHop), keys });
  }
  const eor = endOfRib(u);
  return {
    announced,
    withdrawn,
    ...(eor ? { endOfRib: afiSafiName(eor.afi, eor.safi) } : {}),
    errors: u.errors,
    treatAsWithdraw: u.treatAsWithdraw,
  };
}

/** How we present routes to one peer. */
export interface ExportSession {
  readonly context: WireContext;
  readonly families: ReadonlySet<number>;
  readonly localAs: number;
  readonly ebgp: boolean;
  /** Our address on this session: the next hop of what we originate, when families match. */
  readonly localAddress: string;
}

function toPrefixes(afi: "ipv4" | "ipv6", keys: readonly PrefixKey[]): Prefixes {
  if (afi === "ipv4") {
    const lengths = new Uint8Array(keys.length);
    const words = new Uint32Array(keys.length);
    keys.forEach((k, i) => {
      const { addr, len } = ipv4KeyParts(k as number);
      lengths[i] = len;
      words[i] = addr;
    });
    return Prefixes.fromArrays(Afi.IPV4, lengths, words, null);
  }
  return Prefixes.from(Afi.IPV6, keys as string[]);
}

/** The session's local address in the family, if the transport is that family. */
function localNextHop(s: ExportSession, afi: "ipv4" | "ipv6"): string | undefined {
  try {
    const a = ipaddr.process(s.localAddress);
    return a.kind() === afi ? a.toString() : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Our attributes as this peer sees them (RFC 4271 §5.1): our AS prepended and
 * next hop self toward eBGP, LOCAL_PREF toward iBGP.
 */
function exportAttributes(
  r: RouteAttrs,
  s: ExportSession,
  nextHop: string,
  afi: "ipv4" | "ipv6",
): PathAttributes {
  const a = r.attributes;
  const asPath = s.ebgp
    ? [{ type: AsSegmentType.AS_SEQUENCE, asns: [s.localAs] }, ...(a.asPath ?? [])]
    : (a.asPath ?? []);
  const { localPref: _lp, nextHop: _nh, med, ...rest } = a;
  return {
    ...rest,
    asPath,
    ...(afi === "ipv4" ? { nextHop } : {}),
    ...(s.ebgp ? {} : { localPref: a.localPref ?? 100, ...(med !== undefined ? { med } : {}) }),
  };
}

/**
 * The last UPDATEs encoded per exported route: a reflector sends the same routes with the same
 * attributes to every client, so most encodes repeat the one before for another peer.
 */
const lastEncoded = new WeakMap<
  RouteAttrs,
  { key: string; keys: readonly PrefixKey[]; messages: Buffer[] }
>();

/** What besides the attributes and prefixes decides the bytes of an UPDATE on a session. */
function encodingKey(s: ExportSession): string {
  const c = s.context;
  return `${c.asn4}|${c.extendedMessage}|${[...c.addPathSend].join(",")}|${s.ebgp}|${s.localAs}`;
}

function sameKeys(a: readonly PrefixKey[], b: readonly PrefixKey[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * UPDATEs for a batch of changes to one peer. A family the peer did not
 * negotiate, or one we have no next hop for (IPv6 routes over an IPv4-only
 * session), is skipped: those prefixes are reported back as not sent.
 */
export function encodeRoutes(
  s: ExportSession,
  announce: readonly (readonly [PrefixKey, RouteAttrs])[],
  withdraw: readonly PrefixKey[],
): { messages: Buffer[]; unsent: PrefixKey[] } {
  const messages: Buffer[] = [];
  const unsent: PrefixKey[] = [];
  const ek = encodingKey(s);
  for (const afi of ["ipv4", "ipv6"] as const) {
    const self = localNextHop(s, afi);
    const can =
      s.families.has(afiSafiKey(afi === "ipv4" ? Afi.IPV4 : Afi.IPV6, Safi.UNICAST)) && self !== undefined;
    const w = withdraw.filter((k) => (typeof k === "number") === (afi === "ipv4"));
    if (w.length > 0 && can) messages.push(...encodeWithdrawals(toPrefixes(afi, w), s.context));
    const groups = new Map<RouteAttrs, PrefixKey[]>();
    for (const [k, r] of announce) {
      if ((typeof k === "number") !== (afi === "ipv4")) continue;
      if (!can) {
        unsent.push(k);
        continue;
      }
      const g = groups.get(r);
      if (g) g.push(k);
      else groups.set(r, [k]);
    }
    if (self === undefined) continue;
    for (const [r, keys] of groups) {
      // A route exported with its own next hop carries it in nextHop; ours otherwise.
      const own = r.nextHop[0];
      const nh = own !== undefined && own.includes(":") === (afi === "ipv6") ? own : self;
      const memoKey = `${ek}|${nh}`;
      const last = lastEncoded.get(r);
      if (last && last.key === memoKey && sameKeys(last.keys, keys)) {
        messages.push(...last.messages);
        continue;
      }
      const attrs = exportAttributes(r, s, nh, afi);
      const prefixes = toPrefixes(afi, keys);
      const encoded =
        afi === "ipv4"
          ? encodeAnnouncements(attrs, prefixes, s.context)
          : encodeAnnouncements(attrs, prefixes, s.context, { safi: Safi.UNICAST, nextHop: [nh] });
      lastEncoded.set(r, { key: memoKey, keys, messages: encoded });
      messages.push(...encoded);
    }
  }
  return { messages, unsent };
}

/** End-of-RIB for every unicast family of the session. */
export function encodeEndOfRib(s: ExportSession): Buffer[] {
  const out: Buffer[] = [];
  for (const afi of [Afi.IPV4, Afi.IPV6]) {
    if (s.families.has(afiSafiKey(afi, Safi.UNICAST))) out.push(wireEndOfRib(afi, Safi.UNICAST, s.context));
  }
  return out;
}
