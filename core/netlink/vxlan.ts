import { addrBytes, addrString } from "./addr.js";
import { RTM_LINK, decodeLinkInfo, ifinfomsg, macBytes, type LinkInfo } from "./link.js";
import { AttrWriter, NlFlags, attrMap, attributes, cString, type NlMessage } from "./message.js";
import type { Request } from "./socket.js";

/**
 * rtnetlink for a VXLAN overlay (linux/if_link.h IFLA_VXLAN_*, neighbour.h NDA_*, if_addr.h): the
 * VXLAN link itself, its addresses, ARP neighbours and bridge FDB entries. Messages only.
 */
const IFLA = { ADDRESS: 1, MTU: 4, LINKINFO: 18 } as const;
const IFLA_INFO = { KIND: 1, DATA: 2 } as const;
/** The IFLA_VXLAN_* attributes tortie sets and reads back: one descriptor each. */
const VXLAN_ATTR = {
  vni: { type: 1, size: 4 },
  local: { type: 4, size: 4 },
  learning: { type: 7, size: 1 },
  port: { type: 15, size: 2 },
} as const;
const RTM_ADDR = { NEWADDR: 20, DELADDR: 21, GETADDR: 22 } as const;
export const RTM_NEIGH = { NEWNEIGH: 28, DELNEIGH: 29, GETNEIGH: 30 } as const;
const IFA_LOCAL = 2;
const IFA_ADDRESS = 1;
const NDA = { DST: 1, LLADDR: 2 } as const;
const NTF_SELF = 0x02;
export const NUD_PERMANENT = 0x80;
const AF_INET = 2;
const AF_BRIDGE = 7;

export interface VxlanSpec {
  readonly name: string;
  readonly vni: number;
  /** UDP destination port (host order here, network order on the wire). */
  readonly port: number;
  /** Outer source address (IPv4). */
  readonly local: string;
  readonly mac: string;
  readonly mtu?: number;
}

export interface VxlanLink extends LinkInfo {
  readonly kind: string | undefined;
  readonly vni?: number;
  readonly port?: number;
  readonly local?: string;
  readonly learning?: boolean;
}

/** RTM_NEWLINK creating a VXLAN device: `ip link add NAME type vxlan id VNI dstport PORT local ADDR nolearning`. */
export function createVxlan(s: VxlanSpec): Request {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(s.port);
  const data = new AttrWriter()
    .u32(VXLAN_ATTR.vni.type, s.vni)
    .raw(VXLAN_ATTR.local.type, addrBytes(s.local))
    .raw(VXLAN_ATTR.learning.type, Buffer.of(0))
    .raw(VXLAN_ATTR.port.type, port)
    .build();
  const info = new AttrWriter().str(IFLA_INFO.KIND, "vxlan").raw(IFLA_INFO.DATA, data).build();
  const attrs = new AttrWriter().str(3, s.name).raw(IFLA.ADDRESS, macBytes(s.mac));
  if (s.mtu) attrs.u32(IFLA.MTU, s.mtu);
  attrs.raw(IFLA.LINKINFO, info);
  return {
    type: RTM_LINK.NEWLINK,
    flags: NlFlags.CREATE | NlFlags.EXCL,
    payload: Buffer.concat([ifinfomsg(0), attrs.build()]),
  };
}

/** Changes what may change on a live link (MTU, MAC, up) by index. */
export function setLink(index: number, change: { mtu?: number; mac?: string; up?: boolean }): Request {
  const attrs = new AttrWriter();
  if (change.mac) attrs.raw(IFLA.ADDRESS, macBytes(change.mac));
  if (change.mtu) attrs.u32(IFLA.MTU, change.mtu);
  const up = change.up === undefined ? 0 : 1;
  return {
    type: RTM_LINK.NEWLINK,
    flags: 0,
    payload: Buffer.concat([ifinfomsg(index, change.up ? 1 : 0, up), attrs.build()]),
  };
}

/** A link as decodeLinkInfo reads it, plus its kind and, for VXLAN, the attributes tortie sets. */
export function decodeVxlanLink(m: NlMessage): VxlanLink | undefined {
  const base = decodeLinkInfo(m);
  if (!base) return undefined;
  let kind: string | undefined;
  let data: Map<number, Buffer> | undefined;
  for (const a of attributes(m.payload.subarray(16)))
    if (a.type === IFLA.LINKINFO) {
      const info = attrMap(a.value);
      const k = info.get(IFLA_INFO.KIND);
      kind = k ? cString(k) : undefined;
      const d = info.get(IFLA_INFO.DATA);
      if (d) data = attrMap(d);
    }
  if (kind !== "vxlan" || !data) return { ...base, kind };
  const get = (d: { type: number; size: number }) => {
    const v = data?.get(d.type);
    return v && v.length >= d.size ? v : undefined;
  };
  const vni = get(VXLAN_ATTR.vni)?.readUInt32LE(0);
  const port = get(VXLAN_ATTR.port)?.readUInt16BE(0);
  const local = get(VXLAN_ATTR.local);
  const learning = get(VXLAN_ATTR.learning);
  return {
    ...base,
    kind,
    ...(vni !== undefined ? { vni } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(local ? { local: addrString(local.subarray(0, 4)) } : {}),
    ...(learning ? { learning: learning[0] !== 0 } : {}),
  };
}

function ifaddrmsg(ifindex: number, prefixLen: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(AF_INET, 0);
  b.writeUInt8(prefixLen, 1);
  b.writeUInt32LE(ifindex, 4);
  return b;
}

/** RTM_DELADDR of an IPv4 address on a link. */
export function deleteAddress(ifindex: number, address: string, prefixLen: number): Request {
  const bytes = addrBytes(address);
  return {
    type: RTM_ADDR.DELADDR,
    flags: 0,
    payload: Buffer.concat([
      ifaddrmsg(ifindex, prefixLen),
      new AttrWriter().raw(IFA_LOCAL, bytes).raw(IFA_ADDRESS, bytes).build(),
    ]),
  };
}

export const addrDumpRequest = (): Buffer => ifaddrmsg(0, 0);
export const GETADDR = RTM_ADDR.GETADDR;

export interface LinkAddress {
  readonly ifindex: number;
  readonly address: string;
  readonly prefixLen: number;
}

export function decodeAddress(m: NlMessage): LinkAddress | undefined {
  if (m.type !== RTM_ADDR.NEWADDR || m.payload.length < 8 || m.payload.readUInt8(0) !== AF_INET)
    return undefined;
  const attrs = attrMap(m.payload.subarray(8));
  const a = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS);
  if (!a || a.length !== 4) return undefined;
  return { ifindex: m.payload.readUInt32LE(4), address: addrString(a), prefixLen: m.payload.readUInt8(1) };
}

/**
 * A neighbour (ARP) entry, `ip neigh replace IP lladdr MAC dev IF nud permanent`, or a bridge FDB
 * entry of a VXLAN device, `bridge fdb replace MAC dev IF dst IP self permanent`.
 */
export interface NeighbourEntry {
  readonly kind: "neigh" | "fdb";
  readonly ifindex: number;
  readonly mac: string;
  /** neigh: the IP the MAC answers for; fdb: the remote VTEP's underlay address. */
  readonly ip: string;
  readonly state: number;
}

function ndmsg(kind: "neigh" | "fdb", ifindex: number, state: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(kind === "fdb" ? AF_BRIDGE : AF_INET, 0);
  b.writeInt32LE(ifindex, 4);
  b.writeUInt16LE(state, 8);
  b.writeUInt8(kind === "fdb" ? NTF_SELF : 0, 10);
  return b;
}

function neighAttrs(e: Pick<NeighbourEntry, "mac" | "ip">): Buffer {
  return new AttrWriter().raw(NDA.DST, addrBytes(e.ip)).raw(NDA.LLADDR, macBytes(e.mac)).build();
}

export function replaceNeighbour(e: Omit<NeighbourEntry, "state">): Request {
  return {
    type: RTM_NEIGH.NEWNEIGH,
    flags: NlFlags.CREATE | NlFlags.REPLACE,
    payload: Buffer.concat([ndmsg(e.kind, e.ifindex, NUD_PERMANENT), neighAttrs(e)]),
  };
}

export function deleteNeighbour(e: Omit<NeighbourEntry, "state">): Request {
  // An ARP entry is keyed by its IP; an FDB entry by its MAC (and, with several, its dst).
  const attrs = e.kind === "neigh" ? new AttrWriter().raw(NDA.DST, addrBytes(e.ip)).build() : neighAttrs(e);
  return {
    type: RTM_NEIGH.DELNEIGH,
    flags: 0,
    payload: Buffer.concat([ndmsg(e.kind, e.ifindex, 0), attrs]),
  };
}

export const neighDumpRequest = (kind: "neigh" | "fdb"): Buffer => ndmsg(kind, 0, 0).fill(0, 8);

export function decodeNeighbour(m: NlMessage): NeighbourEntry | undefined {
  if (m.type !== RTM_NEIGH.NEWNEIGH || m.payload.length < 12) return undefined;
  const family = m.payload.readUInt8(0);
  if (family !== AF_INET && family !== AF_BRIDGE) return undefined;
  const attrs = attrMap(m.payload.subarray(12));
  const dst = attrs.get(NDA.DST);
  const ll = attrs.get(NDA.LLADDR);
  if (!dst || dst.length !== 4 || !ll || ll.length !== 6) return undefined;
  return {
    kind: family === AF_BRIDGE ? "fdb" : "neigh",
    ifindex: m.payload.readInt32LE(4),
    mac: [...ll].map((b) => b.toString(16).padStart(2, "0")).join(":"),
    ip: addrString(dst),
    state: m.payload.readUInt16LE(8),
  };
}
