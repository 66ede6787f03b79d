import { addrBytes, parseCidr } from "./addr.js";
import { NETLINK_NETFILTER, NetlinkSocket, type Refusal, type Request } from "./socket.js";
import { NlFlags } from "./message.js";

/**
 * nf_tables set elements over nfnetlink, in one atomic transaction per
 * change. The nft CLI re-reads the kernel's whole ruleset for every command
 * (about 220 ms with a large ruleset loaded, see MEASURED.md); a pod's label
 * or address change only adds or removes set elements, and this path does
 * that in well under a millisecond of kernel time.
 */

const NFNL_SUBSYS_NFTABLES = 10;
const NFNL_MSG_BATCH_BEGIN = 16;
const NFNL_MSG_BATCH_END = 17;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NLA_F_NESTED = 0x8000;

const LIST = { TABLE: 1, SET: 2, ELEMENTS: 3 } as const;
const NFTA_LIST_ELEM = 1;
const ELEM = { KEY: 1, FLAGS: 3, KEY_END: 10 } as const;
const NFTA_DATA_VALUE = 1;
const NFT_SET_ELEM_INTERVAL_END = 1;

export type NftFamily = "inet" | "ip" | "ip6" | "bridge" | "netdev" | "arp";
const FAMILY: Readonly<Record<NftFamily, number>> = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 };

/** One element as the kernel stores it: the key bytes, and for ranges the end. */
export interface SetElement {
  readonly key: Buffer;
  /** Inclusive end of a range in a concatenated interval set (pipapo). */
  readonly keyEnd?: Buffer;
  /** Marks the exclusive end of an interval in a plain interval set (rbtree). */
  readonly intervalEnd?: boolean;
}

export interface SetChange {
  readonly family: NftFamily;
  readonly table: string;
  readonly set: string;
  readonly add?: readonly SetElement[];
  readonly remove?: readonly SetElement[];
}

/** Key of an `ipv4_addr` or `ipv6_addr` element. */
export function addrKey(addr: string): Buffer {
  return addrBytes(addr);
}

/** Key of an `inet_proto` field (one byte, padded to a 32-bit register). */
export function protoField(proto: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(proto, 0);
  return b;
}

/** Key of an `inet_service` field (a port in network order, padded to a register). */
export function portField(port: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(port, 0);
  return b;
}

/** A concatenation (`a . b . c`): each field rounded up to 32-bit registers, as the kernel lays them out. */
export function concatKey(fields: readonly Buffer[]): Buffer {
  return Buffer.concat(
    fields.map((f) => (f.length % 4 === 0 ? f : Buffer.concat([f, Buffer.alloc(4 - (f.length % 4))]))),
  );
}

/**
 * The two elements an interval set (`flags interval`, not concatenated) holds
 * for a CIDR: its first address, and the address after its last marked as the
 * interval's end — omitted when the range runs to the top of the address space.
 */
export function cidrElements(cidr: string): SetElement[] {
  const { bytes, len } = parseCidr(cidr);
  const bits = bytes.length * 8;
  const start = BigInt(`0x${bytes.toString("hex")}`);
  const next = start + (1n << BigInt(bits - len));
  if (next >> BigInt(bits) !== 0n) return [{ key: bytes }];
  const end = Buffer.from(next.toString(16).padStart(bytes.length * 2, "0"), "hex");
  return [{ key: bytes }, { key: end, intervalEnd: true }];
}

function attr(type: number, value: Buffer): Buffer {
  const len = 4 + value.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  value.copy(b, 4);
  return b;
}

const nested = (type: number, parts: readonly Buffer[]) => attr(type | NLA_F_NESTED, Buffer.concat(parts));
const str = (type: number, s: string) => attr(type, Buffer.from(`${s}\0`));
function be32(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return attr(type, b);
}

function nfgenmsg(family: number, resId = 0): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(family, 0);
  b.writeUInt8(0, 1); // NFNETLINK_V0
  b.writeUInt16BE(resId, 2);
  return b;
}

function elementAttr(e: SetElement): Buffer {
  const parts = [nested(ELEM.KEY, [attr(NFTA_DATA_VALUE, e.key)])];
  if (e.keyEnd) parts.push(nested(ELEM.KEY_END, [attr(NFTA_DATA_VALUE, e.keyEnd)]));
  if (e.intervalEnd) parts.push(be32(ELEM.FLAGS, NFT_SET_ELEM_INTERVAL_END));
  return nested(NFTA_LIST_ELEM, parts);
}

/** The message of one set's additions or removals. */
export function setElementMessage(
  kind: "add" | "remove",
  c: SetChange,
  elements: readonly SetElement[],
): Request {
  const payload = Buffer.concat([
    nfgenmsg(FAMILY[c.family]),
    str(LIST.TABLE, c.table),
    str(LIST.SET, c.set),
    nested(LIST.ELEMENTS, elements.map(elementAttr)),
  ]);
  return {
    type: (NFNL_SUBSYS_NFTABLES << 8) | (kind === "add" ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM),
    flags: kind === "add" ? NlFlags.CREATE : 0,
    payload,
  };
}

/** BATCH_BEGIN, the changes (removals first, so a moved element never collides), BATCH_END. */
export function setTransaction(changes: readonly SetChange[]): Request[] {
  const msgs: Request[] = [];
  for (const c of changes) if (c.remove?.length) msgs.push(setElementMessage("remove", c, c.remove));
  for (const c of changes) if (c.add?.length) msgs.push(setElementMessage("add", c, c.add));
  if (msgs.length === 0) return [];
  const begin = { type: NFNL_MSG_BATCH_BEGIN, flags: 0, payload: nfgenmsg(0, NFNL_SUBSYS_NFTABLES) };
  const end = { type: NFNL_MSG_BATCH_END, flags: 0, payload: nfgenmsg(0, NFNL_SUBSYS_NFTABLES) };
  return [begin, ...msgs, end];
}

export class NftSetError extends Error {
  constructor(readonly refusals: readonly Refusal[]) {
    super(`nf_tables refused the set transaction: ${refusals.map((r) => r.error.message).join("; ")}`);
    this.name = "NftSetError";
  }
}

/** Set element changes in one network namespace, each call one atomic nf_tables transaction. */
export class NftSets {
  private readonly sock: NetlinkSocket;

  constructor(netns?: string) {
    this.sock = new NetlinkSocket(NETLINK_NETFILTER, netns, 4 * 1024 * 1024);
  }

  /** Applies every change or none (the kernel aborts the whole transaction on any error). */
  async apply(changes: readonly SetChange[]): Promise<void> {
    const reqs = setTransaction(changes);
    if (reqs.length === 0) return;
    const refusals = await this.sock.batch(reqs, { transaction: true });
    if (refusals.length) throw new NftSetError(refusals);
  }

  close(): void {
    this.sock.close();
  }
}
