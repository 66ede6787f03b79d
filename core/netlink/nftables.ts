import { addrBytes, parseCidr } from "./addr.js";
import { NETLINK_NETFILTER, NetlinkSocket, type Refusal, type Request } from "./socket.js";
import type { NlMessage } from "./message.js";
import { batchBegin, batchEnd, setElements, type NftFamily, type SetElement } from "./nft-wire.js";

/**
 * nf_tables set elements over nfnetlink, in one atomic transaction per
 * change. The nft CLI re-reads the kernel's whole ruleset for every command
 * (about 220 ms with a large ruleset loaded, see MEASURED.md); a pod's label
 * or address change only adds or removes set elements, and this path does
 * that in well under a millisecond of kernel time.
 */

export type { NftFamily, SetElement } from "./nft-wire.js";

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

/** The messages of one set's additions or removals. */
export function setElementMessages(
  kind: "add" | "remove",
  c: SetChange,
  elements: readonly SetElement[],
): Request[] {
  return setElements(kind, c.family, c.table, c.set, elements);
}

/** BATCH_BEGIN, the changes (removals first, so a moved element never collides), BATCH_END. */
export function setTransaction(changes: readonly SetChange[]): Request[] {
  const msgs: Request[] = [];
  for (const c of changes) if (c.remove?.length) msgs.push(...setElementMessages("remove", c, c.remove));
  for (const c of changes) if (c.add?.length) msgs.push(...setElementMessages("add", c, c.add));
  if (msgs.length === 0) return [];
  return [batchBegin(), ...msgs, batchEnd()];
}

export class NftSetError extends Error {
  constructor(readonly refusals: readonly Refusal[]) {
    super(`nf_tables refused the transaction: ${refusals.map((r) => r.error.message).join("; ")}`);
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
    await this.send(setTransaction(changes));
  }

  /** Any nf_tables transaction (BATCH_BEGIN ... BATCH_END, see nft-wire.ts): all of it or nothing. */
  async send(reqs: readonly Request[]): Promise<void> {
    if (reqs.length === 0) return;
    const refusals = await this.sock.batch(reqs, { transaction: true });
    if (refusals.length) throw new NftSetError(refusals);
  }

  /** A dump (GETRULE, GETSET, GETCHAIN ...) of one table: the kernel's messages, for inspection. */
  dump(type: number, payload: Buffer): Promise<NlMessage[]> {
    return this.sock.dump(type, payload);
  }

  close(): void {
    this.sock.close();
  }
}
