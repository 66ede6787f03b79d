import {
  cidrContains,
  cidrSize,
  formatAddr,
  formatCidr,
  parseAddr,
  parseCidr,
  type Cidr,
  type Family,
} from "./addr.js";
import { AddressInUseError, IpamError } from "./errors.js";

/** Who an address was handed to. `handle` is the CNI container id (or another stable owner id). */
export interface AllocationAttrs {
  readonly handle: string;
  readonly node: string;
  readonly namespace?: string;
  readonly pod?: string;
  /** Milliseconds since the epoch; the garbage collector's grace period counts from here. */
  readonly time?: number;
}

/**
 * An allocation block as pure, JSON-storable data (Calico's model): one slot per
 * ordinal (64 for a /26 or a /122) holding the owner or null, and the free
 * ordinals in the order they are handed out. Released ordinals go to the back
 * of the list so that an address just freed is the last to be reused (stale ARP
 * and conntrack entries of the old pod have time to expire).
 */
export interface BlockData {
  readonly cidr: string;
  /** `host:<node>` for the node that claimed the block, null when it is not affine to any node. */
  readonly affinity: string | null;
  readonly allocations: readonly (AllocationAttrs | null)[];
  readonly unallocated: readonly number[];
}

export const MAX_BLOCK_ORDINALS = 4096;

export function affinityFor(node: string): string {
  return `host:${node}`;
}

export function affineNode(b: BlockData): string | undefined {
  return b.affinity?.startsWith("host:") ? b.affinity.slice(5) : undefined;
}

export function newBlock(cidr: Cidr, node: string | null): BlockData {
  const size = Number(cidrSize(cidr));
  if (size > MAX_BLOCK_ORDINALS)
    throw new IpamError("InvalidRequest", `block ${formatCidr(cidr)} is too large`);
  return {
    cidr: formatCidr(cidr),
    affinity: node === null ? null : affinityFor(node),
    allocations: new Array<AllocationAttrs | null>(size).fill(null),
    unallocated: Array.from({ length: size }, (_, i) => i),
  };
}

export function blockCidrOf(b: BlockData): Cidr {
  return parseCidr(b.cidr);
}

/** The ordinal of an address inside the block, or undefined when the block does not hold it. */
export function ordinalOf(b: BlockData, family: Family, value: bigint): number | undefined {
  const c = blockCidrOf(b);
  return cidrContains(c, family, value) ? Number(value - c.base) : undefined;
}

export function addressAt(b: BlockData, ordinal: number, c: Cidr = blockCidrOf(b)): string {
  return formatAddr(c.family, c.base + BigInt(ordinal));
}

export function usedCount(b: BlockData): number {
  return b.allocations.length - b.unallocated.length;
}

export function isEmpty(b: BlockData): boolean {
  return b.unallocated.length === b.allocations.length;
}

/** Ordinals a reservation or the caller says must never be handed out. */
export type ReservedOrdinal = (ordinal: number) => boolean;
const NONE_RESERVED: ReservedOrdinal = () => false;

export function freeCount(b: BlockData, reserved: ReservedOrdinal = NONE_RESERVED): number {
  return b.unallocated.filter((o) => !reserved(o)).length;
}

/**
 * Allocates up to `n` addresses in order of the free list, skipping reserved
 * ordinals. Returns the new block and the addresses (possibly fewer than n).
 */
export function allocate(
  b: BlockData,
  n: number,
  attrs: AllocationAttrs,
  reserved: ReservedOrdinal = NONE_RESERVED,
): { block: BlockData; addresses: string[] } {
  const taken: number[] = [];
  for (const o of b.unallocated) {
    if (taken.length >= n) break;
    if (!reserved(o)) taken.push(o);
  }
  if (taken.length === 0) return { block: b, addresses: [] };
  const takenSet = new Set(taken);
  const c = blockCidrOf(b);
  const allocations = b.allocations.slice();
  for (const o of taken) allocations[o] = attrs;
  return {
    block: { ...b, allocations, unallocated: b.unallocated.filter((o) => !takenSet.has(o)) },
    addresses: taken.map((o) => addressAt(b, o, c)),
  };
}

/** Assigns one particular address (a fixed address by annotation). */
export function assign(
  b: BlockData,
  address: string,
  attrs: AllocationAttrs,
  reserved: ReservedOrdinal = NONE_RESERVED,
): BlockData {
  const { family, value } = parseAddr(address);
  const o = ordinalOf(b, family, value);
  if (o === undefined)
    throw new IpamError("AddressNotInPool", `address ${address} is not in block ${b.cidr}`);
  const owner = b.allocations[o];
  if (owner) throw new AddressInUseError(address, owner.handle);
  if (reserved(o)) throw new IpamError("AddressReserved", `address ${address} is reserved (IPReservation)`);
  const allocations = b.allocations.slice();
  allocations[o] = attrs;
  return { ...b, allocations, unallocated: b.unallocated.filter((x) => x !== o) };
}

function releaseOrdinals(b: BlockData, ordinals: readonly number[]): BlockData {
  if (ordinals.length === 0) return b;
  const allocations = b.allocations.slice();
  for (const o of ordinals) allocations[o] = null;
  return { ...b, allocations, unallocated: [...b.unallocated, ...ordinals] };
}

/** Releases the given addresses; those not allocated (or not in this block) are reported, not an error. */
export function release(
  b: BlockData,
  addresses: readonly string[],
): { block: BlockData; released: string[]; notAllocated: string[] } {
  const ords: number[] = [];
  const released: string[] = [];
  const notAllocated: string[] = [];
  for (const a of addresses) {
    const { family, value } = parseAddr(a);
    const o = ordinalOf(b, family, value);
    if (o !== undefined && b.allocations[o] && !ords.includes(o)) {
      ords.push(o);
      released.push(a);
    } else notAllocated.push(a);
  }
  return { block: releaseOrdinals(b, ords), released, notAllocated };
}

export function releaseByHandle(b: BlockData, handle: string): { block: BlockData; released: string[] } {
  const ords: number[] = [];
  b.allocations.forEach((a, o) => {
    if (a?.handle === handle) ords.push(o);
  });
  const c = blockCidrOf(b);
  return { block: releaseOrdinals(b, ords), released: ords.map((o) => addressAt(b, o, c)) };
}

export function addressesOfHandle(b: BlockData, handle: string): string[] {
  const out: string[] = [];
  const c = blockCidrOf(b);
  b.allocations.forEach((a, o) => {
    if (a?.handle === handle) out.push(addressAt(b, o, c));
  });
  return out;
}

export function allocatedEntries(b: BlockData): { address: string; attrs: AllocationAttrs }[] {
  const out: { address: string; attrs: AllocationAttrs }[] = [];
  const c = blockCidrOf(b);
  b.allocations.forEach((a, o) => {
    if (a) out.push({ address: addressAt(b, o, c), attrs: a });
  });
  return out;
}

/** Problems inside one block's data (a record written by another version, or edited by hand). */
export function blockDataProblems(b: BlockData): string[] {
  const problems: string[] = [];
  let size: number;
  try {
    size = Number(cidrSize(blockCidrOf(b)));
  } catch (e) {
    return [`bad cidr: ${(e as Error).message}`];
  }
  if (b.allocations.length !== size) problems.push(`has ${b.allocations.length} slots for ${size} addresses`);
  const seen = new Set<number>();
  const c = blockCidrOf(b);
  for (const o of b.unallocated) {
    if (seen.has(o)) problems.push(`ordinal ${o} is free twice`);
    seen.add(o);
    if (b.allocations[o]) problems.push(`ordinal ${o} (${addressAt(b, o, c)}) is both free and allocated`);
  }
  b.allocations.forEach((a, o) => {
    if (!a && !seen.has(o))
      problems.push(`ordinal ${o} (${addressAt(b, o, c)}) is neither free nor allocated`);
  });
  return problems;
}
