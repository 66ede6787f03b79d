import { mergeAs4 } from "./as4.js";
import { attributeByCode, attributeTable } from "./attributes/index.js";
import {
  AttrFlag,
  AttrType,
  IGNORE,
  type AttributeBuilder,
  type AttributeInput,
  type MpReach,
  type MpUnreach,
  type PathAttributes,
  type RawAttribute,
} from "./attributes/types.js";
import {
  Afi,
  afiSafiKey,
  ErrorCode,
  HEADER_LENGTH,
  MAX_EXTENDED_MESSAGE_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageType,
  Safi,
  UpdateSubcode,
  type AfiCode,
} from "./constants.js";
import type { WireContext } from "./context.js";
import { BgpError, ErrorAction } from "./errors.js";
import { frameMessage } from "./header.js";
import { decodePrefixes, NlriSyntaxError, Prefixes } from "./nlri.js";

/**
 * RFC 4271 §4.3. `withdrawn` and `nlri` are the IPv4 unicast fields; other families travel in
 * `mpReach` / `mpUnreach`. `attributes` may be shared with other UPDATEs: never mutate it.
 */
export interface UpdateMessage {
  readonly kind: "update";
  readonly withdrawn: Prefixes;
  readonly attributes: PathAttributes;
  readonly nlri: Prefixes;
  readonly mpReach?: MpReach;
  readonly mpUnreach?: MpUnreach;
  /**
   * RFC 7606 treat-as-withdraw: every prefix in `nlri` and `mpReach.nlri` must be handled as
   * withdrawn, not installed. `routeChanges()` applies this for you.
   */
  readonly treatAsWithdraw: boolean;
  /** Errors that did not reset the session (attribute-discard, treat-as-withdraw), for the log. */
  readonly errors: readonly BgpError[];
}

/** What to send: attributes plus the prefixes. */
export interface UpdateInput {
  readonly withdrawn?: Prefixes;
  readonly attributes?: AttributeInput;
  readonly nlri?: Prefixes;
}

function updateError(subcode: number, message: string, data?: Buffer, action?: ErrorAction): BgpError {
  return new BgpError(ErrorCode.UPDATE_MESSAGE, subcode, message, {
    ...(data ? { data } : {}),
    action: action ?? ErrorAction.SessionReset,
  });
}

/**
 * Interns attribute sets by their bytes, so the many UPDATEs of a large feed that carry the
 * same attributes decode them once and share one object (and the RIB holds one copy). Entries
 * are weak: a set no route uses any more can be collected. One cache per session (decoding
 * depends on the session's WireContext).
 */
export class AttributeCache {
  private readonly map = new Map<string, WeakRef<PathAttributes>>();
  private readonly registry = new FinalizationRegistry<string>((key) => {
    const ref = this.map.get(key);
    if (ref && ref.deref() === undefined) this.map.delete(key);
  });
  hits = 0;
  misses = 0;

  get(key: string): PathAttributes | undefined {
    const a = this.map.get(key)?.deref();
    if (a) this.hits++;
    else this.misses++;
    return a;
  }

  set(key: string, a: PathAttributes): void {
    this.map.set(key, new WeakRef(a));
    this.registry.register(a, key);
  }

  get size(): number {
    return this.map.size;
  }
}

const EMPTY_ATTRIBUTES: PathAttributes = Object.freeze({});

interface AttrScan {
  /** The bytes of every attribute except MP_REACH/MP_UNREACH, as a cache key. */
  key: string;
  mp: { start: number; end: number }[];
}

/** Header-only walk for the cache key; undefined when the list is not cleanly framed. */
function scanAttributes(body: Buffer, start: number, end: number): AttrScan | undefined {
  const mp: { start: number; end: number }[] = [];
  let off = start;
  while (off < end) {
    if (end - off < 3) return undefined;
    const flags = body[off] ?? 0;
    const code = body[off + 1] ?? 0;
    const ext = (flags & AttrFlag.EXTENDED_LENGTH) !== 0;
    if (ext && end - off < 4) return undefined;
    const len = ext ? body.readUInt16BE(off + 2) : (body[off + 2] ?? 0);
    const next = off + (ext ? 4 : 3) + len;
    if (next > end) return undefined;
    if (code === AttrType.MP_REACH_NLRI || code === AttrType.MP_UNREACH_NLRI)
      mp.push({ start: off, end: next });
    off = next;
  }
  if (mp.length === 0) return { key: body.toString("latin1", start, end), mp };
  let key = "";
  let from = start;
  for (const r of mp) {
    key += body.toString("latin1", from, r.start);
    from = r.end;
  }
  key += body.toString("latin1", from, end);
  return { key, mp };
}

class AttributeDecoder {
  readonly into: AttributeBuilder = {};
  readonly errors: BgpError[] = [];
  treatAsWithdraw = false;
  /** Attribute list framing broke: NLRI of MP attributes after the break cannot be found. */
  overrun = false;
  private readonly seen = new Uint8Array(256);

  constructor(private readonly ctx: WireContext) {}

  /** Records or throws, by action (RFC 7606 §2). */
  problem(
    subcode: number,
    message: string,
    action: ErrorAction,
    data?: Buffer,
    afi?: number,
    safi?: number,
  ): void {
    const err = new BgpError(ErrorCode.UPDATE_MESSAGE, subcode, message, {
      ...(data ? { data } : {}),
      action,
      ...(afi !== undefined ? { afi, safi: safi ?? 0 } : {}),
    });
    if (action >= ErrorAction.AfiSafiDisable) throw err;
    if (action === ErrorAction.TreatAsWithdraw) this.treatAsWithdraw = true;
    this.errors.push(err);
  }

  /** Decodes the attributes in body[start, end). */
  run(body: Buffer, start: number, end: number): void {
    let off = start;
    while (off < end) {
      // RFC 7606 §4: a broken attribute list is treat-as-withdraw; the Total Path Attribute
      // Length still locates the NLRI.
      const flags = body[off] ?? 0;
      const code = body[off + 1] ?? 0;
      const ext = (flags & AttrFlag.EXTENDED_LENGTH) !== 0;
      if (end - off < (ext ? 4 : 3)) {
        this.overrun = true;
        this.problem(
          UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
          "attribute header is cut short",
          ErrorAction.TreatAsWithdraw,
        );
        return;
      }
      const hdr = ext ? 4 : 3;
      const len = ext ? body.readUInt16BE(off + 2) : (body[off + 2] ?? 0);
      if (off + hdr + len > end) {
        this.overrun = true;
        // RFC 4271 §6.3 names this an Attribute Length Error; RFC 7606 §4 makes it treat-as-withdraw.
        this.problem(
          UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
          `attribute ${code} length ${len} overruns the attribute list`,
          ErrorAction.TreatAsWithdraw,
          body.subarray(off, end),
        );
        return;
      }
      this.one(body, off, hdr, len, flags, code);
      off += hdr + len;
    }
  }

  /** The checks every attribute shares, then its own decoder. */
  one(body: Buffer, off: number, hdr: number, len: number, flags: number, code: number): void {
    const raw = body.subarray(off, off + hdr + len);
    const value = body.subarray(off + hdr, off + hdr + len);
    if (this.seen[code]) {
      // RFC 7606 §3(g): repeated MP attributes reset the session; any other repeat is discarded.
      if (code === AttrType.MP_REACH_NLRI || code === AttrType.MP_UNREACH_NLRI) {
        this.problem(
          UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
          `attribute ${code} appears twice`,
          ErrorAction.SessionReset,
        );
      }
      this.problem(
        UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
        `attribute ${code} appears twice`,
        ErrorAction.AttributeDiscard,
        raw,
      );
      return;
    }
    this.seen[code] = 1;
    const d = attributeByCode[code];
    if (!d) {
      if ((flags & AttrFlag.OPTIONAL) === 0) {
        this.problem(
          UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
          `unrecognized well-known attribute ${code}`,
          ErrorAction.SessionReset,
          raw,
        );
      }
      if ((flags & AttrFlag.TRANSITIVE) !== 0) {
        (this.into.unknown ??= []).push({ flags: flags & 0xe0, code, value: Buffer.from(value) });
      }
      return;
    }
    if (d.ebgpDiscard && this.ctx.ebgp) return;
    const isMp = code === AttrType.MP_REACH_NLRI || code === AttrType.MP_UNREACH_NLRI;
    if ((flags & (AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)) !== d.flags) {
      // RFC 7606 §3(c): Optional/Transitive in conflict → malformed, treat-as-withdraw, whatever the
      // attribute's length rules say; MP attributes reset (§3(j), §5.3). The Partial bit is not
      // checked: §3(c) narrows RFC 4271's flags check to those two bits.
      this.problem(
        UpdateSubcode.ATTRIBUTE_FLAGS_ERROR,
        `${d.name} flags 0x${flags.toString(16)}`,
        isMp ? ErrorAction.SessionReset : ErrorAction.TreatAsWithdraw,
        raw,
      );
      return;
    }
    if (d.lengthOk && !d.lengthOk(len, this.ctx)) {
      this.problem(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `${d.name} length ${len}`, d.action, raw);
      return;
    }
    const res = d.decode(value, this.into, this.ctx);
    if (res === undefined || res === IGNORE) return;
    const action = res.action ?? d.action;
    // Only session-reset errors of RFC 4271 §6.3 carry the attribute; keep it on all for the log.
    this.problem(res.subcode, `${d.name}: ${res.reason}`, action, raw, res.afi, res.safi);
  }
}

/**
 * Decodes an UPDATE body (RFC 4271 §4.3) with the session's context. Throws BgpError for
 * errors whose RFC 7606 action is session-reset or AFI/SAFI-disable; weaker ones are on the
 * result (`errors`, `treatAsWithdraw`). Pass the session's AttributeCache to share attribute sets.
 */
export function decodeUpdate(body: Buffer, ctx: WireContext, cache?: AttributeCache): UpdateMessage {
  if (body.length < 4) {
    throw updateError(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `UPDATE body is ${body.length} bytes`);
  }
  const wLen = body.readUInt16BE(0);
  if (2 + wLen + 2 > body.length) {
    throw updateError(
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
      `withdrawn routes length ${wLen} overruns the UPDATE`,
    );
  }
  const aLen = body.readUInt16BE(2 + wLen);
  const aStart = 4 + wLen;
  const aEnd = aStart + aLen;
  if (aEnd > body.length) {
    throw updateError(
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
      `total path attribute length ${aLen} overruns the UPDATE`,
    );
  }
  const v4AddPath = ctx.addPathReceive.has(afiSafiKey(Afi.IPV4, Safi.UNICAST));
  const withdrawn = decodePrefixes(Afi.IPV4, body, 2, 2 + wLen, v4AddPath);
  if (withdrawn instanceof NlriSyntaxError) {
    throw updateError(UpdateSubcode.INVALID_NETWORK_FIELD, `withdrawn routes: ${withdrawn.reason}`);
  }
  const nlri = decodePrefixes(Afi.IPV4, body, aEnd, body.length, v4AddPath);
  if (nlri instanceof NlriSyntaxError) {
    throw updateError(UpdateSubcode.INVALID_NETWORK_FIELD, `NLRI: ${nlri.reason}`);
  }

  const dec = new AttributeDecoder(ctx);
  let attributes: PathAttributes | undefined;
  let scan: AttrScan | undefined;
  if (cache && aLen > 0) {
    scan = scanAttributes(body, aStart, aEnd);
    attributes = scan ? cache.get(scan.key) : undefined;
  }
  if (attributes && scan) {
    // The same bytes decoded cleanly before: only the per-message MP attributes are left to read.
    for (const r of scan.mp) dec.run(body, r.start, r.end);
  } else {
    dec.run(body, aStart, aEnd);
    attributes = finishAttributes(dec, ctx);
    if (scan && cache && dec.errors.length === 0 && !dec.overrun) cache.set(scan.key, attributes);
  }
  const { mpReach, mpUnreach } = dec.into;
  if (dec.overrun && nlri.count === 0 && !mpReach && !mpUnreach) {
    // RFC 7606 §5.2/§3(j): without an intact attribute list we may have lost an MP attribute whose
    // prefixes we then cannot withdraw; only a reset is safe.
    throw updateError(
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
      "attribute list overrun with no locatable NLRI",
    );
  }
  checkMandatory(dec, attributes, nlri.count > 0, mpReach !== undefined);
  return {
    kind: "update",
    withdrawn,
    attributes,
    nlri,
    ...(mpReach ? { mpReach } : {}),
    ...(mpUnreach ? { mpUnreach } : {}),
    treatAsWithdraw: dec.treatAsWithdraw,
    errors: dec.errors,
  };
}

function finishAttributes(dec: AttributeDecoder, ctx: WireContext): PathAttributes {
  const { as4Path, as4Aggregator, mpReach: _r, mpUnreach: _u, ...rest } = dec.into;
  if (Object.keys(rest).length === 0) return EMPTY_ATTRIBUTES;
  const a: AttributeBuilder = rest;
  if (!ctx.asn4) {
    const m = mergeAs4(a.asPath ?? [], as4Path, a.aggregator, as4Aggregator);
    if (a.asPath) a.asPath = m.asPath;
    if (m.aggregator) a.aggregator = m.aggregator;
  }
  if (ctx.enforceFirstAs !== undefined && a.asPath) {
    const first = a.asPath[0];
    if (!first || first.type !== 2 || first.asns[0] !== ctx.enforceFirstAs) {
      // RFC 4271 §6.3 Malformed AS_PATH, made treat-as-withdraw by RFC 7606 §7.2.
      dec.problem(
        UpdateSubcode.MALFORMED_AS_PATH,
        `leftmost AS is not the peer's AS ${ctx.enforceFirstAs}`,
        ErrorAction.TreatAsWithdraw,
      );
    }
  }
  return a;
}

/** RFC 7606 §3(d): a missing well-known mandatory attribute is treat-as-withdraw. */
function checkMandatory(dec: AttributeDecoder, a: PathAttributes, v4Nlri: boolean, mpReach: boolean): void {
  if (!v4Nlri && !mpReach) return;
  const missing = (code: number, name: string): void =>
    dec.problem(
      UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
      `missing ${name}`,
      ErrorAction.TreatAsWithdraw,
      Buffer.from([code]),
    );
  if (a.origin === undefined) missing(AttrType.ORIGIN, "ORIGIN");
  if (a.asPath === undefined) missing(AttrType.AS_PATH, "AS_PATH");
  // RFC 4760 §3: an UPDATE carrying only MP_REACH_NLRI needs no NEXT_HOP.
  if (v4Nlri && a.nextHop === undefined) missing(AttrType.NEXT_HOP, "NEXT_HOP");
}

/** The routes an UPDATE announces and withdraws, with treat-as-withdraw applied. */
export interface RouteChanges {
  readonly announce: readonly {
    readonly afi: AfiCode;
    readonly safi: number;
    readonly prefixes: Prefixes;
    readonly nextHop: readonly string[];
    readonly attributes: PathAttributes;
  }[];
  readonly withdraw: readonly { readonly afi: AfiCode; readonly safi: number; readonly prefixes: Prefixes }[];
}

export function routeChanges(u: UpdateMessage): RouteChanges {
  const announce: RouteChanges["announce"][number][] = [];
  const withdraw: RouteChanges["withdraw"][number][] = [];
  if (u.withdrawn.count > 0) withdraw.push({ afi: Afi.IPV4, safi: Safi.UNICAST, prefixes: u.withdrawn });
  if (u.mpUnreach && u.mpUnreach.withdrawn.count > 0) {
    withdraw.push({
      afi: u.mpUnreach.withdrawn.afi,
      safi: u.mpUnreach.safi,
      prefixes: u.mpUnreach.withdrawn,
    });
  }
  const reach: RouteChanges["announce"][number][] = [];
  if (u.nlri.count > 0) {
    reach.push({
      afi: Afi.IPV4,
      safi: Safi.UNICAST,
      prefixes: u.nlri,
      nextHop: u.attributes.nextHop ? [u.attributes.nextHop] : [],
      attributes: u.attributes,
    });
  }
  if (u.mpReach && u.mpReach.nlri.count > 0) {
    reach.push({
      afi: u.mpReach.nlri.afi,
      safi: u.mpReach.safi,
      prefixes: u.mpReach.nlri,
      nextHop: u.mpReach.nextHop,
      attributes: u.attributes,
    });
  }
  if (u.treatAsWithdraw)
    for (const r of reach) withdraw.push({ afi: r.afi, safi: r.safi, prefixes: r.prefixes });
  else announce.push(...reach);
  return { announce, withdraw };
}

/** RFC 4724 §2: the family an End-of-RIB marker closes, or undefined if `u` is not one. */
export function endOfRib(u: UpdateMessage): { afi: number; safi: number } | undefined {
  if (u.withdrawn.count > 0 || u.nlri.count > 0 || u.mpReach) return undefined;
  const attrCount = Object.keys(u.attributes).length;
  if (!u.mpUnreach) return attrCount === 0 ? { afi: Afi.IPV4, safi: Safi.UNICAST } : undefined;
  if (u.mpUnreach.withdrawn.count === 0 && attrCount === 0)
    return { afi: u.mpUnreach.afi, safi: u.mpUnreach.safi };
  return undefined;
}

/**
 * Encodes path attributes in type-code order, with the session's AS size; unknown ones get
 * Partial. Towards eBGP, LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST are left out.
 */
export function encodeAttributes(a: AttributeInput, ctx: WireContext): Buffer {
  const parts: Buffer[] = [];
  for (const d of attributeTable) {
    // What an eBGP receiver must discard (LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST) is not sent to one.
    if (d.ebgpDiscard && ctx.ebgp) continue;
    const v = d.encode(a, ctx);
    if (v) parts.push(attrHeader(d.flags, d.code, v.length), v);
  }
  for (const u of a.unknown ?? []) {
    parts.push(attrHeader((u.flags & 0xc0) | AttrFlag.PARTIAL, u.code, u.value.length), u.value);
  }
  return Buffer.concat(parts);
}

function attrHeader(flags: number, code: number, len: number): Buffer {
  if (len > 255) {
    const h = Buffer.allocUnsafe(4);
    h[0] = flags | AttrFlag.EXTENDED_LENGTH;
    h[1] = code;
    h.writeUInt16BE(len, 2);
    return h;
  }
  return Buffer.from([flags & ~AttrFlag.EXTENDED_LENGTH, code, len]);
}

export function maxMessageLength(ctx: WireContext): number {
  return ctx.extendedMessage ? MAX_EXTENDED_MESSAGE_LENGTH : MAX_MESSAGE_LENGTH;
}

/** Encodes one UPDATE; throws RangeError when it does not fit the session's maximum length. */
export function encodeUpdate(u: UpdateInput, ctx: WireContext): Buffer {
  const addPath = ctx.addPathSend.has(afiSafiKey(Afi.IPV4, Safi.UNICAST));
  const withdrawn = u.withdrawn ?? Prefixes.empty(Afi.IPV4);
  const nlri = u.nlri ?? Prefixes.empty(Afi.IPV4);
  const attrs = u.attributes ? encodeAttributes(u.attributes, ctx) : Buffer.alloc(0);
  const wLen = withdrawn.wireLength(addPath);
  const nLen = nlri.wireLength(addPath);
  const bodyLen = 4 + wLen + attrs.length + nLen;
  if (HEADER_LENGTH + bodyLen > maxMessageLength(ctx)) {
    throw new RangeError(`UPDATE of ${HEADER_LENGTH + bodyLen} bytes exceeds ${maxMessageLength(ctx)}`);
  }
  const body = Buffer.allocUnsafe(bodyLen);
  body.writeUInt16BE(wLen, 0);
  let off = withdrawn.write(body, 2, addPath);
  body.writeUInt16BE(attrs.length, off);
  off += 2;
  attrs.copy(body, off);
  nlri.write(body, off + attrs.length, addPath);
  return frameMessage(MessageType.UPDATE, body);
}

/** RFC 4724 §2: the End-of-RIB marker for a family. */
export function encodeEndOfRib(afi: number, safi: number, ctx: WireContext): Buffer {
  if (afi === Afi.IPV4 && safi === Safi.UNICAST) return encodeUpdate({}, ctx);
  const b = Buffer.alloc(3);
  b.writeUInt16BE(afi, 0);
  b[2] = safi;
  const attrs = Buffer.concat([attrHeader(AttrFlag.OPTIONAL, AttrType.MP_UNREACH_NLRI, 3), b]);
  const body = Buffer.alloc(4 + attrs.length);
  body.writeUInt16BE(attrs.length, 2);
  attrs.copy(body, 4);
  return frameMessage(MessageType.UPDATE, body);
}

/**
 * Packs announcements of one family with one attribute set into as few UPDATEs as fit the
 * session's maximum length (IPv4 unicast in the NLRI field, other families in MP_REACH_NLRI).
 */
export function encodeAnnouncements(
  attributes: PathAttributes,
  prefixes: Prefixes,
  ctx: WireContext,
  mp?: { safi: number; nextHop: readonly string[] },
): Buffer[] {
  const safi = mp?.safi ?? Safi.UNICAST;
  const v4Unicast = prefixes.afi === Afi.IPV4 && safi === Safi.UNICAST && !mp;
  const addPath = ctx.addPathSend.has(afiSafiKey(prefixes.afi, safi));
  const emptyReach = (): AttributeInput => ({
    ...attributes,
    mpReach: { afi: prefixes.afi, safi, nextHop: mp?.nextHop ?? [], nlri: Prefixes.empty(prefixes.afi) },
  });
  // Attribute bytes without prefixes; MP_REACH may need the extended-length header once it grows.
  const fixed = v4Unicast
    ? encodeAttributes(attributes, ctx).length
    : encodeAttributes(emptyReach(), ctx).length + 1;
  const room = maxMessageLength(ctx) - HEADER_LENGTH - 4 - fixed;
  return splitByRoom(prefixes, addPath, room).map((chunk) =>
    v4Unicast
      ? encodeUpdate({ attributes, nlri: chunk }, ctx)
      : encodeUpdate(
          {
            attributes: {
              ...attributes,
              mpReach: { afi: prefixes.afi, safi, nextHop: mp?.nextHop ?? [], nlri: chunk },
            },
          },
          ctx,
        ),
  );
}

/** Cuts prefixes into runs whose wire size fits `room` bytes. */
function splitByRoom(prefixes: Prefixes, addPath: boolean, room: number): Prefixes[] {
  const out: Prefixes[] = [];
  let from = 0;
  while (from < prefixes.count) {
    let size = 0;
    let to = from;
    while (to < prefixes.count && size + prefixes.entryLength(to, addPath) <= room) {
      size += prefixes.entryLength(to, addPath);
      to++;
    }
    if (to === from) throw new RangeError("attributes leave no room for a single prefix");
    out.push(from === 0 && to === prefixes.count ? prefixes : prefixes.slice(from, to));
    from = to;
  }
  return out;
}

/** Packs withdrawals of one family into as few UPDATEs as fit. */
export function encodeWithdrawals(
  prefixes: Prefixes,
  ctx: WireContext,
  safi: number = Safi.UNICAST,
): Buffer[] {
  const v4Unicast = prefixes.afi === Afi.IPV4 && safi === Safi.UNICAST;
  const addPath = ctx.addPathSend.has(afiSafiKey(prefixes.afi, safi));
  // 4 + MP_UNREACH header (up to 4) + AFI/SAFI (3)
  const room = maxMessageLength(ctx) - HEADER_LENGTH - 4 - (v4Unicast ? 0 : 7);
  return splitByRoom(prefixes, addPath, room).map((chunk) =>
    v4Unicast
      ? encodeUpdate({ withdrawn: chunk }, ctx)
      : encodeUpdate({ attributes: { mpUnreach: { afi: prefixes.afi, safi, withdrawn: chunk } } }, ctx),
  );
}

export type { RawAttribute };
