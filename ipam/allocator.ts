import { enclosing, formatCidr, parseAddr, parseCidr, type Cidr, type Family } from "./addr.js";
import {
  addressesOfHandle,
  affineNode,
  affinityFor,
  allocate,
  assign,
  blockCidrOf,
  freeCount,
  isEmpty,
  newBlock,
  release,
  releaseByHandle,
  type AllocationAttrs,
  type BlockData,
} from "./block.js";
import { ClaimConflictError, IpamError, NoFreeBlocksError, PoolExhaustedError } from "./errors.js";
import { parsePool, type IPPool } from "./pool.js";
import { eligiblePools, parseReservations, poolOf, reservedOrdinals, unclaimedBlocks } from "./select.js";
import { poolsToTopUp, type AffineBlockState } from "./spare.js";
import {
  affinityName,
  blockName,
  handleName,
  ipamObject,
  ignoreNotFound,
  isAlreadyExists,
  isConflict,
  isNotFound,
  specOf,
  type AffinityObject,
  type AffinityState,
  type BlockAffinitySpec,
  type BlockObject,
  type HandleObject,
  type IPAMHandleSpec,
  type IPReservationSpec,
  type IpamDatastore,
} from "./store.js";

export interface AllocatorOptions {
  /** Never borrow from another node's block (Calico's IPAMConfig strictAffinity). */
  readonly strictAffinity?: boolean;
  /** CAS attempts per record before giving up with ClaimConflictError. */
  readonly maxRetries?: number;
  /** A pending claim older than this is the debris of a dead allocator and may be repaired. */
  readonly claimTimeoutMs?: number;
  readonly now?: () => number;
  /**
   * How long pools and reservations read from the datastore are reused. 0 (the
   * default, right for the one-shot CNI plugin) reads them on every request; a
   * long-lived allocator serving many requests sets a few seconds.
   */
  readonly configCacheMs?: number;
  /** Told of every block this allocator claims, and whether an assignment waited for it. */
  readonly onClaim?: (cidr: string, mode: ClaimMode, node: string) => void;
}

/**
 * `inline`: an assignment found no free address in the node's blocks and
 * claimed one while its caller waited; `background`: topUp() claimed it ahead
 * of need.
 */
export type ClaimMode = "inline" | "background";

export interface AssignRequest {
  /** The owner: the CNI container id. Assigning again with the same handle returns what it already has. */
  readonly handle: string;
  readonly node: string;
  readonly namespace?: string;
  readonly pod?: string;
  readonly num4: number;
  readonly num6: number;
  /** Pool names or CIDRs per family (from annotations); default: every pool selecting the node. */
  readonly pools4?: readonly string[];
  readonly pools6?: readonly string[];
  /** Fixed addresses (from the ipAddrs annotation); replaces automatic assignment for their family. */
  readonly fixed?: readonly string[];
}

export interface AssignedAddress {
  readonly address: string;
  readonly family: Family;
  readonly pool: string;
}

/**
 * Allocates addresses through the datastore's compare-and-swap. The write
 * orders are chosen so that a process killed between any two writes leaves
 * nothing that can hand one address to two owners or one block to two nodes:
 *
 * - claim a block: BlockAffinity(pending) → IPAMBlock create (atomic: exactly
 *   one node wins a CIDR) → BlockAffinity(confirmed). The block's `affinity`
 *   is the truth; a pending affinity whose block is ours is confirmed by the
 *   next allocator of that node, one whose block is missing or someone else's
 *   is removed once it is older than the claim timeout.
 * - assign: IPAMHandle (lists the block) → IPAMBlock CAS. A crash in between
 *   leaves a handle with no address, which the same handle's retry completes
 *   and GC otherwise deletes; never an address without its handle.
 * - release: IPAMBlock CAS → IPAMHandle delete (the reverse order).
 */
export class Allocator {
  private readonly strict: boolean;
  private readonly maxRetries: number;
  private readonly claimTimeoutMs: number;
  private readonly now: () => number;
  /** Affine block CIDRs per node, as last listed; refreshed when they are all full. */
  private readonly affineCache = new Map<string, string[]>();
  /** Blocks known full since the cache was refreshed (skipped without a read). */
  private readonly fullCache = new Set<string>();
  private readonly configCacheMs: number;
  private config: { at: number; pools: IPPool[]; reservations: Cidr[] } | undefined;
  /** The handle assign() just found missing: ensureHandle creates it without reading it first. */
  private handleAbsent: string | undefined;
  private readonly labelCache = new Map<string, { at: number; labels: Record<string, string> }>();
  /**
   * The last version of each block this allocator read or wrote. A CAS from it
   * saves a read when it is still current (a node's own block, written last by
   * this allocator); when it is not, the datastore refuses the write and the
   * block is read afresh, so a stale entry costs a round trip, never correctness.
   */
  private readonly blockCache = new Map<string, BlockObject>();
  private readonly onClaim: ((cidr: string, mode: ClaimMode, node: string) => void) | undefined;
  /** Blocks this allocator claimed, by mode (the CNI server's metric). */
  readonly claims: Record<ClaimMode, number> = { inline: 0, background: 0 };

  constructor(
    readonly ds: IpamDatastore,
    opts: AllocatorOptions = {},
  ) {
    this.strict = opts.strictAffinity ?? false;
    this.maxRetries = opts.maxRetries ?? 20;
    this.claimTimeoutMs = opts.claimTimeoutMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.configCacheMs = opts.configCacheMs ?? 0;
    this.onClaim = opts.onClaim;
  }

  private async configuration(fresh = false): Promise<{ pools: IPPool[]; reservations: Cidr[] }> {
    const c = this.config;
    if (!fresh && c && this.configCacheMs > 0 && Date.now() - c.at < this.configCacheMs) return c;
    const [pools, reservations] = await Promise.all([this.pools(), this.reservations()]);
    this.config = { at: Date.now(), pools, reservations };
    return this.config;
  }

  /** The pools, through the configuration cache (`configCacheMs`). */
  async poolConfig(): Promise<IPPool[]> {
    return (await this.configuration()).pools;
  }

  async pools(): Promise<IPPool[]> {
    const { items } = await this.ds.list("IPPool");
    return items.map((o) => parsePool(o.metadata.name, o.spec));
  }

  async reservations(): Promise<Cidr[]> {
    const { items } = await this.ds.list("IPReservation");
    return items.flatMap((o) => parseReservations(specOf<IPReservationSpec>(o).reservedCIDRs ?? []));
  }

  async nodeLabels(node: string, fresh = false): Promise<Record<string, string>> {
    const c = this.labelCache.get(node);
    if (!fresh && c && this.configCacheMs > 0 && Date.now() - c.at < this.configCacheMs) return c.labels;
    let labels: Record<string, string>;
    try {
      labels = (await this.ds.get("Node", node)).metadata.labels ?? {};
    } catch (e) {
      if (!isNotFound(e)) throw e;
      labels = {};
    }
    this.labelCache.set(node, { at: Date.now(), labels });
    return labels;
  }

  // --- reads ---------------------------------------------------------------

  private async getBlock(cidr: string): Promise<BlockObject | undefined> {
    try {
      const b = (await this.ds.get("IPAMBlock", blockName(cidr))) as BlockObject;
      this.blockCache.set(cidr, b);
      return b;
    } catch (e) {
      this.blockCache.delete(cidr);
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  private async getHandle(handle: string): Promise<HandleObject | undefined> {
    try {
      return (await this.ds.get("IPAMHandle", handleName(handle))) as HandleObject;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /** Addresses the handle holds now, from the blocks its record lists. */
  async addressesOf(handle: string, record?: HandleObject): Promise<string[]> {
    const h = record ?? (await this.getHandle(handle));
    if (!h) return [];
    const out: string[] = [];
    for (const cidr of specOf<IPAMHandleSpec>(h).blocks) {
      const b = await this.getBlock(cidr);
      if (b) out.push(...addressesOfHandle(specOf<BlockData>(b), handle));
    }
    return out;
  }

  // --- assign --------------------------------------------------------------

  async assign(req: AssignRequest): Promise<AssignedAddress[]> {
    const handle = await this.getHandle(req.handle);
    const have = handle ? await this.addressesOf(req.handle, handle) : [];
    // A new handle is created without being read again first (one round trip less per ADD).
    this.handleAbsent = handle === undefined ? req.handle : undefined;
    try {
      return await this.assignFor(req, have);
    } catch (e) {
      // A request that fails part way (the pool ran out, a retry limit) must not leave a handle or
      // addresses behind; one that already held addresses (a repeated ADD) keeps what it had.
      if (have.length === 0) await this.releaseHandle(req.handle).catch(() => undefined);
      throw e;
    }
  }

  private async assignFor(req: AssignRequest, have: readonly string[]): Promise<AssignedAddress[]> {
    let [{ pools, reservations }, labels] = await Promise.all([
      this.configuration(),
      this.nodeLabels(req.node),
    ]);
    const eligibleFor = (family: 4 | 6): IPPool[] =>
      eligiblePools(pools, family, labels, family === 4 ? req.pools4 : req.pools6);
    // A pool (or node label) created a moment ago may not be in the cached configuration yet: before
    // anything is assigned, a pool the request cannot find sends it to the datastore once more.
    if (this.configCacheMs > 0) {
      let missing: boolean;
      try {
        missing =
          (req.num4 > 0 && eligibleFor(4).length === 0) || (req.num6 > 0 && eligibleFor(6).length === 0);
      } catch (e) {
        if (!(e instanceof IpamError) || e.code !== "NoPool") throw e;
        missing = true;
      }
      if (missing) {
        this.config = undefined;
        this.labelCache.delete(req.node);
        [{ pools, reservations }, labels] = await Promise.all([
          this.configuration(),
          this.nodeLabels(req.node),
        ]);
      }
    }
    const attrs: AllocationAttrs = {
      handle: req.handle,
      node: req.node,
      ...(req.namespace !== undefined ? { namespace: req.namespace } : {}),
      ...(req.pod !== undefined ? { pod: req.pod } : {}),
      time: this.now(),
    };
    const out: AssignedAddress[] = [];
    const describe = (a: string): AssignedAddress => {
      const { family } = parseAddr(a);
      return { address: a, family, pool: poolOf(pools, a)?.name ?? "" };
    };
    const fixed = req.fixed ?? [];
    for (const a of fixed) {
      if (have.includes(a)) out.push(describe(a));
      else out.push(describe(await this.assignFixed(a, attrs, pools, reservations)));
    }
    for (const family of [4, 6] as const) {
      if (fixed.some((a) => parseAddr(a).family === family)) continue;
      const want = family === 4 ? req.num4 : req.num6;
      const mine = have.filter((a) => parseAddr(a).family === family);
      for (const a of mine.slice(0, want)) out.push(describe(a));
      if (want <= mine.length) continue;
      const eligible = eligibleFor(family);
      if (eligible.length === 0)
        throw new IpamError("NoPool", `no enabled IPv${family} pool selects node ${req.node}`);
      for (let i = mine.length; i < want; i++)
        out.push(describe(await this.autoAssignOne(attrs, eligible, reservations)));
    }
    return out;
  }

  private async assignFixed(
    address: string,
    attrs: AllocationAttrs,
    pools: readonly IPPool[],
    reservations: readonly Cidr[],
  ): Promise<string> {
    const pool = poolOf(pools, address);
    if (!pool) throw new IpamError("AddressNotInPool", `address ${address} is not in any IPPool`);
    const { family, value } = parseAddr(address);
    const cidr = enclosing(family, value, pool.blockSize);
    const cidrText = formatCidr(cidr);
    for (let attempt = 0; attempt < this.maxRetries; attempt++) {
      const b = await this.getBlock(cidrText);
      if (!b) {
        // The address's block does not exist yet: claim it for this node, then assign in it.
        await this.claim(attrs.node, cidr).then(
          () => this.claimed(cidrText, "inline", attrs.node),
          (e: unknown) => {
            if (!(e instanceof ClaimConflictError)) throw e;
          },
        );
        continue;
      }
      const data = specOf<BlockData>(b);
      const next = assign(data, address, attrs, reservedOrdinals(cidr, reservations));
      await this.ensureHandle(attrs, cidrText);
      try {
        await this.ds.update("IPAMBlock", { ...b, spec: next });
        return address;
      } catch (e) {
        if (!isConflict(e)) throw e;
      }
    }
    throw new ClaimConflictError(
      `could not assign ${address}: block ${cidrText} changed ${this.maxRetries} times`,
    );
  }

  private async autoAssignOne(
    attrs: AllocationAttrs,
    pools: readonly IPPool[],
    reservations: readonly Cidr[],
  ): Promise<string> {
    const node = attrs.node;
    const inPools = (cidr: string): boolean => pools.some((p) => poolOf([p], cidr.split("/")[0] ?? "") === p);
    // 1. Blocks this node already has, first from the cache, then freshly listed (the list is
    // kept: step 2 needs the same records).
    const tryMine = async (): Promise<string | undefined> => {
      for (const cidr of (this.affineCache.get(node) ?? []).filter(inPools)) {
        if (this.fullCache.has(cidr)) continue;
        const a = await this.tryAllocateIn(cidr, attrs, reservations, node);
        if (a) return a;
        this.fullCache.add(cidr);
      }
      return undefined;
    };
    if (this.affineCache.has(node)) {
      const a = await tryMine();
      if (a) return a;
    }
    const affinities = await this.refreshAffine(node);
    const mine = await tryMine();
    if (mine) return mine;
    // 2. Claim a new block from an eligible pool while the caller waits: what topUp() exists to avoid.
    const taken = takenCidrs(affinities);
    for (let i = 0; i < CLAIM_CANDIDATES; i++) {
      const text = await this.claimNewBlock(node, pools, taken, "inline");
      if (text === undefined) break;
      const a = await this.tryAllocateIn(text, attrs, reservations, node);
      if (a) return a;
    }
    // 3. Borrow a free address from any block of an eligible pool (another node's, or one without affinity).
    if (!this.strict) {
      const blocks = (await this.ds.list("IPAMBlock")).items as BlockObject[];
      for (const b of blocks) taken.add(specOf<BlockData>(b).cidr);
      for (const b of blocks) {
        const data = specOf<BlockData>(b);
        if (!inPools(data.cidr)) continue;
        if (freeCount(data, reservedOrdinals(blockCidrOf(data), reservations)) === 0) continue;
        const a = await this.tryAllocateIn(data.cidr, attrs, reservations, undefined);
        if (a) return a;
      }
    }
    const names = pools.map((p) => p.name).join(", ");
    const allFull = pools.every((p) => unclaimedBlocks(p, taken, node, 1).length === 0);
    if (allFull && !this.strict)
      throw new PoolExhaustedError(`pool ${names}: every address is allocated or reserved`);
    throw new NoFreeBlocksError(
      this.strict
        ? `node ${node}: its blocks in ${names} are full and no block can be claimed (strictAffinity forbids borrowing)`
        : `node ${node}: no free block in ${names}`,
    );
  }

  /** Lists the affinities, caches this node's blocks, and returns every record listed. */
  private async refreshAffine(node: string): Promise<AffinityObject[]> {
    const { items } = await this.ds.list("BlockAffinity");
    const mine: string[] = [];
    for (const o of items as AffinityObject[]) {
      const s = specOf<BlockAffinitySpec>(o);
      if (s.node !== node || s.state === "pendingDeletion") continue;
      if (s.state === "pending") {
        // A claim of this node that did not finish: adopt it if the block is ours.
        const b = await this.getBlock(s.cidr);
        if (!b || affineNode(specOf<BlockData>(b)) !== node) continue;
        await this.setAffinityState(o, "confirmed").catch((e: unknown) => {
          if (!isConflict(e) && !isNotFound(e)) throw e;
        });
      }
      mine.push(s.cidr);
    }
    this.affineCache.set(node, mine.sort());
    this.fullCache.clear();
    return items as AffinityObject[];
  }

  /**
   * Claims the first unclaimed block of the first pool that has one, for `node`.
   * `taken` (CIDRs known claimed) grows with every CIDR tried. Affinities are
   * small records and name (almost) every block; a block without one only
   * costs a failed create. Undefined when no pool has an unclaimed block left.
   */
  private async claimNewBlock(
    node: string,
    pools: readonly IPPool[],
    taken: Set<string>,
    mode: ClaimMode,
  ): Promise<string | undefined> {
    for (const pool of pools) {
      for (const cidr of unclaimedBlocks(pool, taken, node, CLAIM_CANDIDATES)) {
        const text = formatCidr(cidr);
        taken.add(text);
        try {
          await this.claim(node, cidr);
        } catch (e) {
          if (e instanceof ClaimConflictError) continue;
          throw e;
        }
        this.affineCache.set(node, [...(this.affineCache.get(node) ?? []), text]);
        this.claimed(text, mode, node);
        return text;
      }
    }
    return undefined;
  }

  private claimed(cidr: string, mode: ClaimMode, node: string): void {
    this.claims[mode]++;
    this.onClaim?.(cidr, mode, node);
  }

  /**
   * Claims ahead of need: for every enabled pool selecting `node` whose free
   * addresses in the node's blocks are below the spare threshold (spare.ts),
   * one new block. Never borrows, never claims in a disabled pool or one whose
   * nodeSelector does not match. `fresh` re-reads pools, node labels,
   * affinities and blocks; otherwise what this allocator last read or wrote is
   * used (its own ADDs keep it current), so the check after an ADD costs no
   * round trip unless a claim is due. Returns the CIDRs claimed.
   */
  async topUp(node: string, opts: { fresh?: boolean } = {}): Promise<string[]> {
    const fresh = opts.fresh ?? false;
    const [{ pools, reservations }, labels] = await Promise.all([
      this.configuration(fresh),
      this.nodeLabels(node, fresh),
    ]);
    let affinities = fresh || !this.affineCache.has(node) ? await this.refreshAffine(node) : undefined;
    const states: AffineBlockState[] = [];
    for (const cidr of this.affineCache.get(node) ?? []) {
      const b = (fresh ? undefined : this.blockCache.get(cidr)) ?? (await this.getBlock(cidr));
      if (!b) continue;
      const data = specOf<BlockData>(b);
      if (affineNode(data) !== node) continue;
      const free = freeCount(data, reservedOrdinals(blockCidrOf(data), reservations));
      states.push({ cidr, free, empty: isEmpty(data) });
    }
    const due = poolsToTopUp(pools, labels, states);
    if (due.length === 0) return [];
    affinities ??= await this.refreshAffine(node);
    const taken = takenCidrs(affinities);
    const out: string[] = [];
    for (const pool of due) {
      const cidr = await this.claimNewBlock(node, [pool], taken, "background");
      if (cidr !== undefined) out.push(cidr);
    }
    return out;
  }

  /** One address from one block through CAS; undefined when the block is full, gone, or no longer the node's. */
  private async tryAllocateIn(
    cidr: string,
    attrs: AllocationAttrs,
    reservations: readonly Cidr[],
    requireNode: string | undefined,
  ): Promise<string | undefined> {
    const reserved = reservedOrdinals(parseCidr(cidr), reservations);
    let handleWritten = false;
    let fromCache = this.blockCache.has(cidr);
    for (let attempt = 0; attempt < this.maxRetries; attempt++) {
      const b = (fromCache ? this.blockCache.get(cidr) : undefined) ?? (await this.getBlock(cidr));
      if (!b) return undefined;
      const data = specOf<BlockData>(b);
      const stale = fromCache;
      fromCache = false;
      const { block, addresses } = allocate(data, 1, attrs, reserved);
      const address = addresses[0];
      if ((requireNode !== undefined && affineNode(data) !== requireNode) || address === undefined) {
        // Only a fresh read may say the block is not ours or full.
        if (stale) continue;
        return undefined;
      }
      if (!handleWritten) {
        await this.ensureHandle(attrs, cidr);
        handleWritten = true;
      }
      try {
        this.blockCache.set(cidr, (await this.ds.update("IPAMBlock", { ...b, spec: block })) as BlockObject);
        return address;
      } catch (e) {
        this.blockCache.delete(cidr);
        if (!isConflict(e) && !isNotFound(e)) throw e;
      }
      if (!stale) await backoff(attempt);
    }
    throw new ClaimConflictError(`block ${cidr}: still contended after ${this.maxRetries} attempts`);
  }

  /** Makes sure the handle record exists and lists the block, before the block names the handle. */
  private async ensureHandle(attrs: AllocationAttrs, cidr: string): Promise<void> {
    const name = handleName(attrs.handle);
    let knownAbsent = this.handleAbsent === attrs.handle;
    this.handleAbsent = undefined;
    for (let attempt = 0; attempt < this.maxRetries; attempt++) {
      const h = knownAbsent ? undefined : await this.getHandle(attrs.handle);
      knownAbsent = false;
      try {
        if (!h) {
          const spec: IPAMHandleSpec = {
            handleID: attrs.handle,
            blocks: [cidr],
            node: attrs.node,
            ...(attrs.namespace !== undefined ? { namespace: attrs.namespace } : {}),
            ...(attrs.pod !== undefined ? { pod: attrs.pod } : {}),
            time: this.now(),
          };
          await this.ds.create("IPAMHandle", ipamObject("IPAMHandle", name, spec));
          return;
        }
        const spec = specOf<IPAMHandleSpec>(h);
        if (spec.blocks.includes(cidr)) return;
        await this.ds.update("IPAMHandle", { ...h, spec: { ...spec, blocks: [...spec.blocks, cidr] } });
        return;
      } catch (e) {
        if (!isConflict(e) && !isAlreadyExists(e) && !isNotFound(e)) throw e;
      }
    }
    throw new ClaimConflictError(`handle ${attrs.handle}: still contended after ${this.maxRetries} attempts`);
  }

  // --- block claims --------------------------------------------------------

  /** Claims `cidr` for `node` (pending affinity → block → confirmed); ClaimConflictError if another node has it. */
  async claim(node: string, cidr: Cidr): Promise<void> {
    const text = formatCidr(cidr);
    const affName = affinityName(text, node);
    // This node's other ADD may hold the same pending affinity and withdraw it (its block went to
    // another node) between our failed create and our read: then the create is tried again.
    let aff: AffinityObject | undefined;
    for (let attempt = 0; aff === undefined; attempt++) {
      if (attempt === this.maxRetries)
        throw new ClaimConflictError(
          `affinity ${affName}: still contended after ${this.maxRetries} attempts`,
        );
      try {
        aff = (await this.ds.create(
          "BlockAffinity",
          ipamObject<BlockAffinitySpec>("BlockAffinity", affName, {
            node,
            cidr: text,
            state: "pending",
            time: this.now(),
          }),
        )) as AffinityObject;
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
        aff = (await this.ds.get("BlockAffinity", affName).catch(ignoreNotFound)) as
          AffinityObject | undefined;
      }
    }
    try {
      const created = await this.ds.create(
        "IPAMBlock",
        ipamObject("IPAMBlock", blockName(text), newBlock(cidr, node)),
      );
      // The first allocation CASes from this version instead of reading the block back.
      this.blockCache.set(text, created as BlockObject);
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      const b = await this.getBlock(text);
      if (!b || affineNode(specOf<BlockData>(b)) !== node) {
        await this.ds.delete("BlockAffinity", affName).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
        throw new ClaimConflictError(
          `block ${text} was claimed by ${b ? (specOf<BlockData>(b).affinity ?? "nobody") : "someone"} first`,
        );
      }
    }
    if (specOf<BlockAffinitySpec>(aff).state !== "confirmed")
      await this.setAffinityState(aff, "confirmed").catch(async (e: unknown) => {
        if (!isConflict(e) && !isNotFound(e)) throw e;
        // Someone else (this node's other allocator, or GC) moved it meanwhile: make sure it says confirmed.
        await this.upsertAffinity(node, text, "confirmed");
      });
  }

  private async setAffinityState(aff: AffinityObject, state: AffinityState): Promise<AffinityObject> {
    const spec = { ...specOf<BlockAffinitySpec>(aff), state, time: this.now() };
    return (await this.ds.update("BlockAffinity", { ...aff, spec })) as AffinityObject;
  }

  private async upsertAffinity(node: string, cidr: string, state: AffinityState): Promise<void> {
    const name = affinityName(cidr, node);
    for (let attempt = 0; attempt < this.maxRetries; attempt++) {
      try {
        const cur = (await this.ds.get("BlockAffinity", name)) as AffinityObject;
        if (specOf<BlockAffinitySpec>(cur).state === state) return;
        await this.setAffinityState(cur, state);
        return;
      } catch (e) {
        if (isNotFound(e)) {
          try {
            await this.ds.create(
              "BlockAffinity",
              ipamObject("BlockAffinity", name, { node, cidr, state, time: this.now() }),
            );
            return;
          } catch (e2) {
            if (!isAlreadyExists(e2)) throw e2;
          }
        } else if (!isConflict(e)) throw e;
      }
    }
    throw new ClaimConflictError(`affinity ${name}: still contended after ${this.maxRetries} attempts`);
  }

  /**
   * Gives a block up: affinity → pendingDeletion, delete the block only if it
   * is still empty at the version read, then delete the affinity. A borrower
   * that allocated meanwhile makes the delete fail and the affinity returns.
   */
  async releaseBlockIfEmpty(cidr: string): Promise<boolean> {
    const b = await this.getBlock(cidr);
    if (!b || !isEmpty(specOf<BlockData>(b))) return false;
    const node = affineNode(specOf<BlockData>(b));
    const affName = node === undefined ? undefined : affinityName(cidr, node);
    if (node !== undefined && affName !== undefined) await this.upsertAffinity(node, cidr, "pendingDeletion");
    try {
      await this.ds.delete("IPAMBlock", blockName(cidr), undefined, {
        resourceVersion: b.metadata.resourceVersion ?? "",
      });
    } catch (e) {
      if (!isConflict(e) && !isNotFound(e)) throw e;
      // Some backends answer a conditional delete of a missing object with Conflict: only a
      // block that still exists was taken into use again.
      if (isConflict(e) && (await this.getBlock(cidr))) {
        if (node !== undefined) await this.upsertAffinity(node, cidr, "confirmed");
        return false;
      }
    }
    if (affName !== undefined)
      await this.ds.delete("BlockAffinity", affName).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
    if (node !== undefined)
      this.affineCache.set(
        node,
        (this.affineCache.get(node) ?? []).filter((c) => c !== cidr),
      );
    return true;
  }

  // --- release -------------------------------------------------------------

  /** Releases everything a handle holds, then its record. Idempotent: an unknown handle releases nothing. */
  async releaseHandle(handle: string): Promise<string[]> {
    const h = await this.getHandle(handle);
    let cidrs: readonly string[];
    if (h) cidrs = specOf<IPAMHandleSpec>(h).blocks;
    else {
      // No record: look everywhere, so that release still works on state written by hand or by an older version.
      const { items } = await this.ds.list("IPAMBlock");
      cidrs = (items as BlockObject[])
        .filter((b) => specOf<BlockData>(b).allocations.some((a) => a?.handle === handle))
        .map((b) => specOf<BlockData>(b).cidr);
    }
    const released: string[] = [];
    for (const cidr of cidrs)
      released.push(...(await this.casBlock(cidr, (d) => releaseByHandle(d, handle))));
    if (h)
      await this.ds.delete("IPAMHandle", h.metadata.name).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
    return released;
  }

  /** Releases single addresses (whoever holds them); returns those that were allocated. */
  async releaseAddresses(addresses: readonly string[]): Promise<string[]> {
    const pools = await this.pools();
    const released: string[] = [];
    const touchedHandles = new Set<string>();
    for (const a of addresses) {
      const pool = poolOf(pools, a);
      const { family, value } = parseAddr(a);
      const candidates = pool
        ? [formatCidr(enclosing(family, value, pool.blockSize))]
        : ((await this.ds.list("IPAMBlock")).items as BlockObject[])
            .map((b) => specOf<BlockData>(b).cidr)
            .filter((c) => {
              const bc = parseCidr(c);
              return enclosing(family, value, bc.prefix).base === bc.base && bc.family === family;
            });
      for (const cidr of candidates) {
        const got = await this.casBlock(cidr, (d) => {
          const owner = d.allocations.find((_, o) => o === Number(value - blockCidrOf(d).base));
          if (owner) touchedHandles.add(owner.handle);
          const r = release(d, [a]);
          return { block: r.block, released: r.released };
        });
        released.push(...got);
      }
    }
    // A handle left with no address has nothing left to release: remove its record.
    for (const handle of touchedHandles)
      if ((await this.addressesOf(handle)).length === 0)
        await this.ds.delete("IPAMHandle", handleName(handle)).catch((e: unknown) => {
          if (!isNotFound(e)) throw e;
        });
    return released;
  }

  private async casBlock(
    cidr: string,
    change: (d: BlockData) => { block: BlockData; released: string[] },
  ): Promise<string[]> {
    for (let attempt = 0; attempt < this.maxRetries; attempt++) {
      const b = await this.getBlock(cidr);
      if (!b) return [];
      const { block, released } = change(specOf<BlockData>(b));
      if (released.length === 0) return [];
      try {
        this.blockCache.set(cidr, (await this.ds.update("IPAMBlock", { ...b, spec: block })) as BlockObject);
        this.fullCache.delete(cidr);
        return released;
      } catch (e) {
        this.blockCache.delete(cidr);
        if (!isConflict(e) && !isNotFound(e)) throw e;
      }
      await backoff(attempt);
    }
    throw new ClaimConflictError(`block ${cidr}: still contended after ${this.maxRetries} attempts`);
  }

  /** Puts a claim back to confirmed (a release that found the block in use again). */
  restoreAffinity(node: string, cidr: string): Promise<void> {
    return this.upsertAffinity(node, cidr, "confirmed");
  }

  /** How old a pending claim must be before another process may treat it as abandoned. */
  get claimTimeout(): number {
    return this.claimTimeoutMs;
  }
}

/** Candidate CIDRs tried per pool when claiming: each one lost to another node costs a failed create. */
const CLAIM_CANDIDATES = 8;

/** The CIDRs that affinities hold. A pending claim does not hold one: the block create decides between claimers. */
function takenCidrs(affinities: readonly AffinityObject[]): Set<string> {
  return new Set(
    affinities
      .map((a) => specOf<BlockAffinitySpec>(a))
      .filter((a) => a.state !== "pending")
      .map((a) => a.cidr),
  );
}

/** Jittered exponential backoff after a lost CAS, so that contenders spread out instead of colliding again. */
function backoff(attempt: number): Promise<void> {
  if (attempt === 0) return Promise.resolve();
  const ms = Math.min(50, 2 ** attempt) * Math.random();
  return new Promise((r) => setTimeout(r, ms));
}

export { affinityFor };
