import type { IpamDatastore, IpamKind, IpamObject } from "./store.js";

class StoreError extends Error {
  constructor(
    readonly code: "NotFound" | "AlreadyExists" | "Conflict",
    message: string,
  ) {
    super(message);
  }
}

/**
 * An in-process datastore with the same CAS contract as the real backends, for
 * the allocator's unit tests and property tests (no files, no root). Every
 * operation yields to the event loop first, so concurrent async allocators
 * really interleave between their reads and writes.
 */
export class MemoryDatastore implements IpamDatastore {
  readonly url = "memory:";
  private rev = 0;
  private readonly data = new Map<string, IpamObject>();
  /** Counts writes rejected by CAS, to show tests that contention happened. */
  conflicts = 0;

  private key(kind: IpamKind, name: string, ns?: string): string {
    return `${kind}/${ns ?? ""}/${name}`;
  }

  private clone(o: IpamObject): IpamObject {
    return structuredClone(o);
  }

  async get(kind: IpamKind, name: string, namespace?: string): Promise<IpamObject> {
    await Promise.resolve();
    const o = this.data.get(this.key(kind, name, namespace));
    if (!o) throw new StoreError("NotFound", `${kind} ${name} not found`);
    return this.clone(o);
  }

  async list(kind: IpamKind, opts: { namespace?: string } = {}): Promise<{ items: IpamObject[] }> {
    await Promise.resolve();
    const items: IpamObject[] = [];
    for (const [k, o] of this.data)
      if (
        k.startsWith(`${kind}/`) &&
        (opts.namespace === undefined || o.metadata.namespace === opts.namespace)
      )
        items.push(this.clone(o));
    return { items };
  }

  async create(kind: IpamKind, obj: IpamObject): Promise<IpamObject> {
    await Promise.resolve();
    const k = this.key(kind, obj.metadata.name, obj.metadata.namespace);
    if (this.data.has(k)) {
      this.conflicts++;
      throw new StoreError("AlreadyExists", `${kind} ${obj.metadata.name} already exists`);
    }
    const stored = this.clone({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rev) } });
    this.data.set(k, stored);
    return this.clone(stored);
  }

  async update(kind: IpamKind, obj: IpamObject): Promise<IpamObject> {
    await Promise.resolve();
    const k = this.key(kind, obj.metadata.name, obj.metadata.namespace);
    const cur = this.data.get(k);
    if (!cur) throw new StoreError("NotFound", `${kind} ${obj.metadata.name} not found`);
    if (
      obj.metadata.resourceVersion !== undefined &&
      obj.metadata.resourceVersion !== cur.metadata.resourceVersion
    ) {
      this.conflicts++;
      throw new StoreError("Conflict", `${kind} ${obj.metadata.name}: stale resourceVersion`);
    }
    const stored = this.clone({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rev) } });
    this.data.set(k, stored);
    return this.clone(stored);
  }

  async delete(
    kind: IpamKind,
    name: string,
    namespace?: string,
    opts: { resourceVersion?: string } = {},
  ): Promise<void> {
    await Promise.resolve();
    const k = this.key(kind, name, namespace);
    const cur = this.data.get(k);
    if (!cur) throw new StoreError("NotFound", `${kind} ${name} not found`);
    if (opts.resourceVersion !== undefined && opts.resourceVersion !== cur.metadata.resourceVersion) {
      this.conflicts++;
      throw new StoreError("Conflict", `${kind} ${name}: stale resourceVersion`);
    }
    this.data.delete(k);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
