import { PrefixMap } from "./prefix-map.js";
import type { PrefixKey } from "./prefix.js";

/**
 * The tables of RFC 4271 §3.2 in their smallest useful form. A route is a
 * prefix key mapped to a shared, interned attribute object: one pointer per
 * route per table, no per-route objects. The Loc-RIB stores only the id of the
 * winning source, so it costs one small integer per prefix.
 *
 * Issue 4 replaces `BestPath` with the full §9.1 decision process; the tables
 * and their change notifications stay.
 */

/** Where a route came from: 0 is this speaker (originated), peers count up from 1. */
export type SourceId = number;
export const LOCAL_SOURCE: SourceId = 0;

/** A candidate path for best path selection. */
export interface Candidate<A> {
  readonly source: SourceId;
  readonly attrs: A;
}

/** Orders two candidates: negative when `a` is better. Must be a strict total order for stable results. */
export type BestPath<A> = (a: Candidate<A>, b: Candidate<A>) => number;

/** Picks the winner among every candidate at once (the RFC 4271 §9.1.2 elimination); never given an empty list. */
export type SelectBest<A> = (candidates: readonly Candidate<A>[]) => Candidate<A>;

/** Adj-RIB-In: the routes one source sent us, after import (here: as received). */
export class AdjRibIn<A> {
  private readonly routes = new PrefixMap<A>();

  constructor(readonly source: SourceId) {}

  get size(): number {
    return this.routes.size;
  }
  get(k: PrefixKey): A | undefined {
    return this.routes.get(k);
  }
  /** True when the table changed. */
  set(k: PrefixKey, attrs: A): boolean {
    if (this.routes.get(k) === attrs) return false;
    this.routes.set(k, attrs);
    return true;
  }
  delete(k: PrefixKey): boolean {
    return this.routes.delete(k);
  }
  keys(): IterableIterator<PrefixKey> {
    return this.routes.keys();
  }
  entries(): IterableIterator<[PrefixKey, A]> {
    return this.routes.entries();
  }
  clear(): void {
    this.routes.clear();
  }
}

export type BestChange<A> = (k: PrefixKey, best: Candidate<A> | undefined) => void;

/**
 * The Loc-RIB: for every prefix, which source's path won. Sources are few
 * (one per peer plus the local one), so a change re-runs the comparison over
 * every source's Adj-RIB-In entry for that prefix.
 */
export class LocRib<A> {
  private readonly sources = new Map<SourceId, AdjRibIn<A>>();
  private readonly best = new PrefixMap<SourceId>();
  private readonly listeners: BestChange<A>[] = [];

  private readonly select: SelectBest<A>;

  /** `compare` orders two paths; a `select` over all candidates (when the order is not pairwise) wins over it. */
  constructor(compare: BestPath<A>, select?: SelectBest<A>) {
    this.select =
      select ??
      ((cands) => {
        let winner = cands[0];
        if (!winner) throw new Error("no candidates");
        for (const c of cands) if (compare(c, winner) < 0) winner = c;
        return winner;
      });
  }

  get size(): number {
    return this.best.size;
  }

  /** Registers a source and returns its Adj-RIB-In. */
  addSource(source: SourceId): AdjRibIn<A> {
    let t = this.sources.get(source);
    if (!t) {
      t = new AdjRibIn<A>(source);
      this.sources.set(source, t);
    }
    return t;
  }

  adjIn(source: SourceId): AdjRibIn<A> | undefined {
    return this.sources.get(source);
  }

  onChange(fn: BestChange<A>): void {
    this.listeners.push(fn);
  }

  /** A source announced (or replaced) a route. */
  announce(source: SourceId, k: PrefixKey, attrs: A): void {
    const t = this.sources.get(source);
    if (!t) throw new Error(`source ${source} is not registered`);
    if (t.set(k, attrs)) this.decide(k);
  }

  /** A source withdrew a route (a no-op when it had none). */
  withdraw(source: SourceId, k: PrefixKey): void {
    const t = this.sources.get(source);
    if (t?.delete(k)) this.decide(k);
  }

  /** Every route of a source goes (session down); returns how many. */
  flush(source: SourceId): number {
    const t = this.sources.get(source);
    if (!t) return 0;
    const keys = [...t.keys()];
    t.clear();
    for (const k of keys) this.decide(k);
    return keys.length;
  }

  removeSource(source: SourceId): void {
    this.flush(source);
    this.sources.delete(source);
  }

  bestOf(k: PrefixKey): Candidate<A> | undefined {
    const s = this.best.get(k);
    if (s === undefined) return undefined;
    const attrs = this.sources.get(s)?.get(k);
    return attrs === undefined ? undefined : { source: s, attrs };
  }

  *entries(): IterableIterator<[PrefixKey, Candidate<A>]> {
    for (const [k, s] of this.best) {
      const attrs = this.sources.get(s)?.get(k);
      if (attrs !== undefined) yield [k, { source: s, attrs }];
    }
  }

  /** Every source's path to the prefix. */
  candidates(k: PrefixKey): Candidate<A>[] {
    const out: Candidate<A>[] = [];
    for (const t of this.sources.values()) {
      const attrs = t.get(k);
      if (attrs !== undefined) out.push({ source: t.source, attrs });
    }
    return out;
  }

  /** Re-runs the decision for a prefix (after something the decision reads, outside the tables, changed). */
  recompute(k: PrefixKey): void {
    this.decide(k);
  }

  private decide(k: PrefixKey): void {
    const cands = this.candidates(k);
    const winner = cands.length === 0 ? undefined : cands.length === 1 ? cands[0] : this.select(cands);
    const before = this.best.get(k);
    if (winner === undefined) {
      if (before === undefined) return;
      this.best.delete(k);
    } else {
      // Same source with new attributes is still a change the listeners must see.
      this.best.set(k, winner.source);
    }
    for (const fn of this.listeners) fn(k, winner);
  }
}

/**
 * Adj-RIB-Out: what we last advertised to one peer. `update` diffs a wanted
 * route against it, so the sender only emits real changes.
 */
export class AdjRibOut<A> {
  private readonly routes = new PrefixMap<A>();

  get size(): number {
    return this.routes.size;
  }
  has(k: PrefixKey): boolean {
    return this.routes.has(k);
  }
  /** Returns what to send: the attrs to announce, null to withdraw, undefined for nothing. */
  update(k: PrefixKey, want: A | undefined): A | null | undefined {
    const had = this.routes.get(k);
    if (want === undefined) {
      if (had === undefined) return undefined;
      this.routes.delete(k);
      return null;
    }
    if (had === want) return undefined;
    this.routes.set(k, want);
    return want;
  }
  keys(): IterableIterator<PrefixKey> {
    return this.routes.keys();
  }
  clear(): void {
    this.routes.clear();
  }
}

/**
 * Shares identical attribute sets between routes: a feed of a million prefixes
 * usually carries a handful of distinct attribute sets. Reference counts let
 * a set go once no route holds it.
 */
export class Interner<A> {
  private readonly byKey = new Map<string, { value: A; refs: number }>();

  get size(): number {
    return this.byKey.size;
  }
  intern(key: string, make: () => A): A {
    let e = this.byKey.get(key);
    if (!e) {
      e = { value: make(), refs: 0 };
      this.byKey.set(key, e);
    }
    e.refs++;
    return e.value;
  }
  release(key: string): void {
    const e = this.byKey.get(key);
    if (e && --e.refs <= 0) this.byKey.delete(key);
  }
}
