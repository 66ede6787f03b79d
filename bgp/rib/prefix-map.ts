import type { PrefixKey } from "./prefix.js";

const TWO_32 = 2 ** 32;

/**
 * A Map from prefix keys, shaped for V8. One Map of a million IPv4 keys above
 * 2^31 is slow to grow (every key is a heap number, every resize rehashes it
 * all): measured here, 1M inserts take ~4.5 s that way and ~0.8 s split by the
 * top 12 address bits into inner Maps keyed by small integers (the other 20
 * address bits and the length, under 2^26, so V8 keeps them unboxed).
 */
export class PrefixMap<V> {
  private readonly v4 = new Map<number, Map<number, V>>();
  private readonly v6 = new Map<string, V>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(k: PrefixKey): V | undefined {
    if (typeof k === "string") return this.v6.get(k);
    const len = Math.floor(k / TWO_32);
    const addr = k - len * TWO_32;
    return this.v4.get(addr >>> 20)?.get(((addr & 0xfffff) << 6) | len);
  }

  has(k: PrefixKey): boolean {
    return this.get(k) !== undefined;
  }

  set(k: PrefixKey, v: V): void {
    if (typeof k === "string") {
      if (!this.v6.has(k)) this.count++;
      this.v6.set(k, v);
      return;
    }
    const len = Math.floor(k / TWO_32);
    const addr = k - len * TWO_32;
    const hi = addr >>> 20;
    let inner = this.v4.get(hi);
    if (!inner) {
      inner = new Map();
      this.v4.set(hi, inner);
    }
    const lo = ((addr & 0xfffff) << 6) | len;
    const before = inner.size;
    inner.set(lo, v);
    this.count += inner.size - before;
  }

  delete(k: PrefixKey): boolean {
    if (typeof k === "string") {
      const had = this.v6.delete(k);
      if (had) this.count--;
      return had;
    }
    const len = Math.floor(k / TWO_32);
    const addr = k - len * TWO_32;
    const hi = addr >>> 20;
    const inner = this.v4.get(hi);
    if (!inner?.delete(((addr & 0xfffff) << 6) | len)) return false;
    if (inner.size === 0) this.v4.delete(hi);
    this.count--;
    return true;
  }

  clear(): void {
    this.v4.clear();
    this.v6.clear();
    this.count = 0;
  }

  *entries(): IterableIterator<[PrefixKey, V]> {
    for (const [hi, inner] of this.v4) {
      for (const [lo, v] of inner) {
        const addr = ((hi << 20) | (lo >>> 6)) >>> 0;
        yield [(lo & 63) * TWO_32 + addr, v];
      }
    }
    yield* this.v6.entries();
  }

  [Symbol.iterator](): IterableIterator<[PrefixKey, V]> {
    return this.entries();
  }

  *keys(): IterableIterator<PrefixKey> {
    for (const [k] of this.entries()) yield k;
  }
}
