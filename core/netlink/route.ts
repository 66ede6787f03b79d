import { addrBytes, addrString, parseCidr } from "./addr.js";
import { attrMap, attributes, cString, NlFlags, type NlMessage } from "./message.js";
import type { Request } from "./socket.js";

/** rtnetlink (linux/rtnetlink.h): routes and links. */
export const RTM = { NEWLINK: 16, GETLINK: 18, NEWROUTE: 24, DELROUTE: 25, GETROUTE: 26 } as const;
const RTA = { DST: 1, OIF: 4, GATEWAY: 5, PRIORITY: 6, MULTIPATH: 9, TABLE: 15 } as const;
const IFLA_IFNAME = 3;
const AF_INET = 2;
const AF_INET6 = 10;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RT_TABLE_COMPAT = 252;
const RTNH_F_ONLINK = 4;

export type RouteType = "unicast" | "blackhole" | "unreachable" | "prohibit";
const TYPE_CODE: Readonly<Record<RouteType, number>> = {
  unicast: 1,
  blackhole: 6,
  unreachable: 7,
  prohibit: 8,
};
const CODE_TYPE = new Map(Object.entries(TYPE_CODE).map(([k, v]) => [v, k as RouteType]));

export interface NextHop {
  /** Address of the next router; absent for a route straight onto a link. */
  readonly gateway?: string;
  readonly ifindex?: number;
  /** ECMP weight, 1..256. */
  readonly weight?: number;
  /** The gateway is on this link even if no address of ours covers it (VXLAN, /32 peers). */
  readonly onlink?: boolean;
}

/** A kernel route as tortie programs it: one destination in one table, owned by one protocol number. */
export interface KernelRoute {
  /** Canonical CIDR (host bits clear). */
  readonly dst: string;
  readonly type: RouteType;
  readonly table: number;
  readonly protocol: number;
  readonly metric: number;
  readonly nexthops: readonly NextHop[];
}

/**
 * Route messages are built in one scratch buffer and copied out once: at 100k
 * routes a sync, per-attribute Buffers cost more in garbage collection than
 * the kernel spends installing the routes.
 */
const scratch = Buffer.alloc(64 * 1024);

class Out {
  off = 0;
  u8(v: number): void {
    scratch.writeUInt8(v, this.off++);
  }
  u16(v: number): void {
    scratch.writeUInt16LE(v, this.off);
    this.off += 2;
  }
  u32(v: number): void {
    scratch.writeUInt32LE(v >>> 0, this.off);
    this.off += 4;
  }
  i32(v: number): void {
    scratch.writeInt32LE(v, this.off);
    this.off += 4;
  }
  zero(n: number): void {
    scratch.fill(0, this.off, this.off + n);
    this.off += n;
  }
  bytes(b: Buffer): void {
    b.copy(scratch, this.off);
    this.off += b.length;
  }
  /** An attribute whose value `fill` writes; returns nothing, pads to 4. */
  attr(type: number, fill: () => void): void {
    const start = this.off;
    this.off += 4;
    fill();
    scratch.writeUInt16LE(this.off - start, start);
    scratch.writeUInt16LE(type, start + 2);
    const pad = (4 - ((this.off - start) & 3)) & 3;
    this.zero(pad);
  }
  done(): Buffer {
    const b = Buffer.allocUnsafe(this.off);
    scratch.copy(b, 0, 0, this.off);
    return b;
  }
}

/** Few distinct gateways carry many routes: their bytes once each (bounded: cleared when large). */
const gatewayBytes = new Map<string, Buffer>();
function gatewayOf(gw: string): Buffer {
  let b = gatewayBytes.get(gw);
  if (!b) {
    if (gatewayBytes.size >= 4096) gatewayBytes.clear();
    b = addrBytes(gw);
    gatewayBytes.set(gw, b);
  }
  return b;
}

function header(
  o: Out,
  r: KernelRoute,
  family: number,
  len: number,
  scope: number,
  type: number,
  flags: number,
): void {
  o.u8(family);
  o.u8(len);
  o.u8(0); // src_len
  o.u8(0); // tos
  o.u8(r.table < 256 ? r.table : RT_TABLE_COMPAT);
  o.u8(r.protocol);
  o.u8(scope);
  o.u8(type);
  o.u32(flags);
}

function keyAttrs(o: Out, r: KernelRoute, dst: Buffer): void {
  o.attr(RTA.DST, () => o.bytes(dst));
  o.attr(RTA.TABLE, () => o.u32(r.table));
  o.attr(RTA.PRIORITY, () => o.u32(r.metric));
}

/** RTM_NEWROUTE with NLM_F_REPLACE: creates or overwrites the route with this key (dst, table, metric). */
export function replaceRoute(r: KernelRoute): Request {
  const d = parseCidr(r.dst);
  const family = d.v6 ? AF_INET6 : AF_INET;
  const o = new Out();
  const direct = r.type === "unicast" && r.nexthops.every((n) => n.gateway === undefined);
  const single = r.type === "unicast" && r.nexthops.length === 1 ? r.nexthops[0] : undefined;
  header(
    o,
    r,
    family,
    d.len,
    direct ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
    TYPE_CODE[r.type],
    single?.onlink ? RTNH_F_ONLINK : 0,
  );
  keyAttrs(o, r, d.bytes);
  if (single) {
    const gw = single.gateway;
    if (gw !== undefined) o.attr(RTA.GATEWAY, () => o.bytes(gatewayOf(gw)));
    const ifindex = single.ifindex;
    if (ifindex) o.attr(RTA.OIF, () => o.u32(ifindex));
  } else if (r.type === "unicast" && r.nexthops.length > 1) {
    o.attr(RTA.MULTIPATH, () => {
      for (const n of r.nexthops) {
        const start = o.off;
        o.u16(0); // rtnh_len, filled in below
        o.u8(n.onlink ? RTNH_F_ONLINK : 0);
        o.u8(Math.max(0, (n.weight ?? 1) - 1));
        o.i32(n.ifindex ?? 0);
        const gw = n.gateway;
        if (gw !== undefined) o.attr(RTA.GATEWAY, () => o.bytes(gatewayOf(gw)));
        scratch.writeUInt16LE(o.off - start, start);
      }
    });
  }
  return { type: RTM.NEWROUTE, flags: NlFlags.CREATE | NlFlags.REPLACE, payload: o.done() };
}

export function deleteRoute(r: KernelRoute): Request {
  const d = parseCidr(r.dst);
  const o = new Out();
  // As iproute2 does for a delete: any scope, any type; the protocol stays so only our route can match.
  header(o, r, d.v6 ? AF_INET6 : AF_INET, d.len, 255, 0, 0);
  keyAttrs(o, r, d.bytes);
  return { type: RTM.DELROUTE, flags: 0, payload: o.done() };
}

/** The payload of a route dump request for one family. */
export function routeDumpRequest(family: "ipv4" | "ipv6"): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(family === "ipv4" ? AF_INET : AF_INET6, 0);
  return b;
}

/** Decodes an RTM_NEWROUTE message of a dump; undefined for kinds tortie never programs (e.g. cloned). */
export function decodeRoute(m: NlMessage): KernelRoute | undefined {
  if (m.type !== RTM.NEWROUTE || m.payload.length < 12) return undefined;
  const p = m.payload;
  const family = p.readUInt8(0);
  const len = p.readUInt8(1);
  const type = CODE_TYPE.get(p.readUInt8(7));
  if (!type || (family !== AF_INET && family !== AF_INET6)) return undefined;
  let table = p.readUInt8(4);
  let dstBytes: Buffer | undefined;
  let gw: Buffer | undefined;
  let oif: number | undefined;
  let metric = 0;
  let mp: Buffer | undefined;
  for (let off = 12; off + 4 <= p.length;) {
    const alen = p.readUInt16LE(off);
    if (alen < 4 || off + alen > p.length) break;
    const at = p.readUInt16LE(off + 2) & 0x3fff;
    const v = off + 4;
    if (at === RTA.TABLE) table = p.readUInt32LE(v);
    else if (at === RTA.DST) dstBytes = p.subarray(v, off + alen);
    else if (at === RTA.GATEWAY) gw = p.subarray(v, off + alen);
    else if (at === RTA.OIF) oif = p.readUInt32LE(v);
    else if (at === RTA.PRIORITY) metric = p.readUInt32LE(v);
    else if (at === RTA.MULTIPATH) mp = p.subarray(v, off + alen);
    off += (alen + 3) & ~3;
  }
  const dst = `${addrString(dstBytes ?? Buffer.alloc(family === AF_INET ? 4 : 16))}/${len}`;
  const flags = p.readUInt32LE(8);
  const nexthops: NextHop[] = [];
  if (mp) {
    let off = 0;
    while (off + 8 <= mp.length) {
      const nlen = mp.readUInt16LE(off);
      if (nlen < 8) break;
      const nattrs = attrMap(mp.subarray(off + 8, off + nlen));
      const ngw = nattrs.get(RTA.GATEWAY);
      nexthops.push(
        hop(
          ngw ? addrString(ngw) : undefined,
          mp.readInt32LE(off + 4),
          mp.readUInt8(off + 3) + 1,
          (mp.readUInt8(off + 2) & RTNH_F_ONLINK) !== 0,
        ),
      );
      off += (nlen + 3) & ~3;
    }
  } else if (type === "unicast") {
    nexthops.push(hop(gw ? addrString(gw) : undefined, oif, 1, (flags & RTNH_F_ONLINK) !== 0));
  }
  return { dst, type, table, protocol: p.readUInt8(5), metric, nexthops };
}

// Plain assignments, not conditional spreads: this runs once per route of a 100k-route dump.
function hop(
  gateway: string | undefined,
  ifindex: number | undefined,
  weight: number,
  onlink: boolean,
): NextHop {
  const h: { gateway?: string; ifindex?: number; weight: number; onlink?: boolean } = { weight };
  if (gateway !== undefined) h.gateway = gateway;
  if (ifindex) h.ifindex = ifindex;
  if (onlink) h.onlink = true;
  return h;
}

export function linkDumpRequest(): Buffer {
  return Buffer.alloc(16); // ifinfomsg, all zero: every family
}

/** ifindex and name of an RTM_NEWLINK message. */
export function decodeLink(m: NlMessage): { index: number; name: string } | undefined {
  if (m.type !== RTM.NEWLINK || m.payload.length < 16) return undefined;
  const index = m.payload.readInt32LE(4);
  for (const a of attributes(m.payload.subarray(16)))
    if (a.type === IFLA_IFNAME) return { index, name: cString(a.value) };
  return undefined;
}
