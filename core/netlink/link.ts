import { addrBytes } from "./addr.js";
import { AttrWriter, NlFlags, attributes, cString, type NlMessage } from "./message.js";
import type { Request } from "./socket.js";

/**
 * rtnetlink links, addresses and proxy neighbours (linux/rtnetlink.h,
 * if_link.h, if_addr.h, neighbour.h, veth.h): what the CNI plugin needs to
 * wire a pod without running `ip`. Messages only; NetlinkSocket sends them.
 */
export const RTM_LINK = { NEWLINK: 16, DELLINK: 17, GETLINK: 18, NEWADDR: 20, NEWNEIGH: 28 } as const;

const IFLA = { ADDRESS: 1, IFNAME: 3, MTU: 4, OPERSTATE: 16, LINKINFO: 18, NET_NS_FD: 28 } as const;
const IFLA_INFO = { KIND: 1, DATA: 2 } as const;
const VETH_INFO_PEER = 1;
const IFA = { ADDRESS: 1, LOCAL: 2 } as const;
const IFA_F_NODAD = 0x02;
const NDA_DST = 1;
const NTF_PROXY = 0x08;
const NUD_PERMANENT = 0x80;
export const IFF_UP = 0x1;
const AF_UNSPEC = 0;
const AF_INET = 2;
const AF_INET6 = 10;
const RT_SCOPE_UNIVERSE = 0;

export function ifinfomsg(index: number, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(AF_UNSPEC, 0);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

export function macBytes(mac: string): Buffer {
  const parts = mac.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p)))
    throw new Error(`${mac} is not a MAC address`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

export interface VethEnd {
  readonly name: string;
  readonly mac?: string;
  readonly mtu?: number;
}

function endAttrs(w: AttrWriter, end: VethEnd): AttrWriter {
  w.str(IFLA.IFNAME, end.name);
  if (end.mac) w.raw(IFLA.ADDRESS, macBytes(end.mac));
  if (end.mtu) w.u32(IFLA.MTU, end.mtu);
  return w;
}

/**
 * A veth pair: `local` in the socket's namespace, `peer` created straight in
 * the namespace `peerNetnsFd` refers to (an open fd of a /proc/.../ns/net or
 * bind-mounted netns file), so it never appears anywhere else.
 */
export function createVeth(local: VethEnd, peer: VethEnd & { readonly netnsFd: number }): Request {
  const peerAttrs = endAttrs(new AttrWriter(), peer).u32(IFLA.NET_NS_FD, peer.netnsFd).build();
  const info = new AttrWriter()
    .str(IFLA_INFO.KIND, "veth")
    .raw(
      IFLA_INFO.DATA,
      new AttrWriter().raw(VETH_INFO_PEER, Buffer.concat([ifinfomsg(0), peerAttrs])).build(),
    )
    .build();
  const attrs = endAttrs(new AttrWriter(), local).raw(IFLA.LINKINFO, info).build();
  return {
    type: RTM_LINK.NEWLINK,
    flags: NlFlags.CREATE | NlFlags.EXCL,
    payload: Buffer.concat([ifinfomsg(0), attrs]),
  };
}

/** Sets a link up by name. */
export function setLinkUp(name: string): Request {
  return {
    type: RTM_LINK.NEWLINK,
    flags: 0,
    payload: Buffer.concat([ifinfomsg(0, IFF_UP, IFF_UP), new AttrWriter().str(IFLA.IFNAME, name).build()]),
  };
}

/** Deletes a link by name (a veth takes its peer with it); ENODEV when there is none. */
export function deleteLink(name: string): Request {
  return {
    type: RTM_LINK.DELLINK,
    flags: 0,
    payload: Buffer.concat([ifinfomsg(0), new AttrWriter().str(IFLA.IFNAME, name).build()]),
  };
}

/** Asks for one link by name: the answer is one RTM_NEWLINK (decodeLinkInfo), or ENODEV. */
export function getLink(name: string): Request {
  return {
    type: RTM_LINK.GETLINK,
    flags: 0,
    payload: Buffer.concat([ifinfomsg(0), new AttrWriter().str(IFLA.IFNAME, name).build()]),
  };
}

export interface LinkInfo {
  readonly index: number;
  readonly name: string;
  readonly flags: number;
  readonly up: boolean;
  readonly mtu?: number;
  readonly mac?: string;
}

export function decodeLinkInfo(m: NlMessage): LinkInfo | undefined {
  if (m.type !== RTM_LINK.NEWLINK || m.payload.length < 16) return undefined;
  const index = m.payload.readInt32LE(4);
  const flags = m.payload.readUInt32LE(8);
  let name: string | undefined;
  let mtu: number | undefined;
  let mac: string | undefined;
  for (const a of attributes(m.payload.subarray(16))) {
    if (a.type === IFLA.IFNAME) name = cString(a.value);
    else if (a.type === IFLA.MTU && a.value.length >= 4) mtu = a.value.readUInt32LE(0);
    else if (a.type === IFLA.ADDRESS && a.value.length === 6)
      mac = [...a.value].map((b) => b.toString(16).padStart(2, "0")).join(":");
  }
  if (name === undefined) return undefined;
  return {
    index,
    name,
    flags,
    up: (flags & IFF_UP) !== 0,
    ...(mtu !== undefined ? { mtu } : {}),
    ...(mac !== undefined ? { mac } : {}),
  };
}

/** RTM_NEWADDR: a host address (`/32`, `/128`) on a link; IPv6 without duplicate address detection. */
export function addAddress(ifindex: number, address: string, prefixLen: number): Request {
  const bytes = addrBytes(address);
  const v6 = bytes.length === 16;
  const head = Buffer.alloc(8);
  head.writeUInt8(v6 ? AF_INET6 : AF_INET, 0);
  head.writeUInt8(prefixLen, 1);
  head.writeUInt8(v6 ? IFA_F_NODAD : 0, 2);
  head.writeUInt8(RT_SCOPE_UNIVERSE, 3);
  head.writeUInt32LE(ifindex, 4);
  const attrs = new AttrWriter().raw(IFA.LOCAL, bytes).raw(IFA.ADDRESS, bytes).build();
  return {
    type: RTM_LINK.NEWADDR,
    flags: NlFlags.CREATE | NlFlags.REPLACE,
    payload: Buffer.concat([head, attrs]),
  };
}

/** RTM_NEWNEIGH with NTF_PROXY: `ip neigh add proxy ADDR dev IF` (answers NDP for ADDR on that link). */
export function addProxyNeighbour(ifindex: number, address: string): Request {
  const bytes = addrBytes(address);
  const head = Buffer.alloc(12);
  head.writeUInt8(bytes.length === 16 ? AF_INET6 : AF_INET, 0);
  head.writeInt32LE(ifindex, 4);
  head.writeUInt16LE(NUD_PERMANENT, 8);
  head.writeUInt8(NTF_PROXY, 10);
  return {
    type: RTM_LINK.NEWNEIGH,
    flags: NlFlags.CREATE | NlFlags.REPLACE,
    payload: Buffer.concat([head, new AttrWriter().raw(NDA_DST, bytes).build()]),
  };
}
