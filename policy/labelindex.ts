/**
 * An inverted index of labels (key → value → ids), so a selector looks only at the objects that can
 * match it rather than at every object of the cluster. The answer is a superset: callers still run
 * the full matcher on each candidate, so the index can only make things faster, never wrong.
 */
import type { Labels, Selector } from "./selector.js";

export class LabelIndex {
  private readonly byKey = new Map<string, Map<string, Set<string>>>();
  private readonly labels = new Map<string, Labels>();

  get size(): number {
    return this.labels.size;
  }

  ids(): IterableIterator<string> {
    return this.labels.keys();
  }

  set(id: string, labels: Labels): void {
    this.delete(id);
    this.labels.set(id, labels);
    for (const [k, v] of Object.entries(labels)) {
      let values = this.byKey.get(k);
      if (!values) this.byKey.set(k, (values = new Map<string, Set<string>>()));
      let ids = values.get(v);
      if (!ids) values.set(v, (ids = new Set()));
      ids.add(id);
    }
  }

  delete(id: string): void {
    const old = this.labels.get(id);
    if (!old) return;
    this.labels.delete(id);
    for (const [k, v] of Object.entries(old)) {
      const values = this.byKey.get(k);
      const ids = values?.get(v);
      ids?.delete(id);
      if (ids?.size === 0) values?.delete(v);
      if (values?.size === 0) this.byKey.delete(k);
    }
  }

  /** Ids that may match `sel`, or null when the selector gives the index nothing to narrow by. */
  candidates(sel: Selector): ReadonlySet<string> | null {
    switch (sel.op) {
      case "eq":
        return this.byKey.get(sel.key)?.get(sel.value) ?? EMPTY;
      case "in": {
        const values = this.byKey.get(sel.key);
        const out = new Set<string>();
        for (const v of sel.values) for (const id of values?.get(v) ?? []) out.add(id);
        return out;
      }
      case "has":
      case "startswith":
      case "endswith":
      case "contains": {
        const out = new Set<string>();
        for (const ids of this.byKey.get(sel.key)?.values() ?? []) for (const id of ids) out.add(id);
        return out;
      }
      case "and": {
        let best: ReadonlySet<string> | null = null;
        for (const e of sel.exprs) {
          const c = this.candidates(e);
          if (c !== null && (best === null || c.size < best.size)) best = c;
        }
        return best;
      }
      case "or": {
        const out = new Set<string>();
        for (const e of sel.exprs) {
          const c = this.candidates(e);
          if (c === null) return null;
          for (const id of c) out.add(id);
        }
        return out;
      }
      case "all":
      case "ne":
      case "not":
      case "notin":
        return null;
    }
  }
}

const EMPTY: ReadonlySet<string> = new Set();
