import { errorMessage } from "../core/errors.js";
import { log } from "../core/log.js";
import { ExpiredError, NotFoundError } from "./errors.js";
import { KINDS, type KindName } from "./kinds.js";
import type { Datastore, ObjectOf, WatchEventType } from "./types.js";

export interface InformerEvent<T> {
  readonly type: WatchEventType;
  readonly object: T;
  /** True when the event comes from a relist's difference rather than the watch. */
  readonly relisted: boolean;
}

export interface InformerOptions {
  readonly namespace?: string;
  /** Relist this often even when the watch is healthy, to repair anything missed. 0: never. */
  readonly resyncMs?: number;
  /** Wait before reconnecting after a watch error (doubles up to 30 s). */
  readonly backoffMs?: number;
}

function cacheKey(o: { metadata: { name: string; namespace?: string } }): string {
  return `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

/**
 * list + watch for one kind over any Datastore, with a cache. A disconnect
 * resumes from the last version seen; ExpiredError (compaction, 410 Gone)
 * relists and emits the difference between the cache and the new list, so a
 * consumer sees every object that appeared, changed or vanished while it was
 * not watching — never a silent loss. The same difference-relist runs every
 * `resyncMs`.
 */
export class Informer<K extends KindName> {
  private readonly cache = new Map<string, ObjectOf<K>>();
  private resourceVersion: string | undefined;
  private stopped = false;
  private current: { close(): void } | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private resyncDue = false;
  private running: Promise<void> | undefined;
  private syncedResolve!: () => void;
  /** Resolves after the first list has been delivered. */
  readonly synced = new Promise<void>((r) => (this.syncedResolve = r));
  relists = 0;
  /** Watches opened so far: more than one means it reconnected. */
  watches = 0;
  lastError: string | undefined;

  constructor(
    private readonly ds: Datastore,
    private readonly kind: K,
    private readonly handler: (ev: InformerEvent<ObjectOf<K>>) => void,
    private readonly opts: InformerOptions = {},
  ) {}

  /** The cached objects, as of the last event delivered. */
  items(): ObjectOf<K>[] {
    return [...this.cache.values()];
  }

  get(name: string, namespace?: string): ObjectOf<K> | undefined {
    return this.cache.get(`${namespace ?? ""}/${name}`);
  }

  get version(): string | undefined {
    return this.resourceVersion;
  }

  /** Starts, or resumes after stop() from the last version seen. */
  start(): this {
    this.running = (this.running ?? Promise.resolve()).then(() => {
      this.stopped = false;
      return this.loop();
    });
    if (this.opts.resyncMs) {
      this.resyncTimer = setInterval(() => {
        this.resyncDue = true;
        this.current?.close();
      }, this.opts.resyncMs);
      this.resyncTimer.unref();
    }
    return this;
  }

  private wake: (() => void) | undefined;

  /** A pause that stop() cuts short. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Stops watching; resolves once the loop has ended. The cache stays. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    this.current?.close();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.resyncTimer = undefined;
    await this.running;
  }

  /**
   * Whether the server does not serve this (optional) kind at all. Then there are none of its
   * objects: the cache empties, the informer counts as synced, and the list is asked for again later
   * (the CRD may be installed at any time).
   */
  notServed = false;

  private async relist(): Promise<void> {
    let listed;
    try {
      listed = await this.ds.list(this.kind, { namespace: this.opts.namespace });
    } catch (err) {
      if (!(err instanceof NotFoundError) || KINDS[this.kind].optional !== true) throw err;
      if (!this.notServed)
        log().info({ kind: this.kind, err: err.message }, "kind not served; none of it until it is");
      this.notServed = true;
      for (const [k, old] of [...this.cache]) {
        this.cache.delete(k);
        this.handler({ type: "DELETED", object: old, relisted: true });
      }
      this.resourceVersion = undefined;
      this.syncedResolve();
      throw err;
    }
    this.notServed = false;
    const { items, resourceVersion } = listed;
    const seen = new Set<string>();
    for (const obj of items) {
      const k = cacheKey(obj);
      seen.add(k);
      const old = this.cache.get(k);
      this.cache.set(k, obj);
      if (!old) this.handler({ type: "ADDED", object: obj, relisted: true });
      else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion)
        this.handler({ type: "MODIFIED", object: obj, relisted: true });
    }
    for (const [k, old] of [...this.cache]) {
      if (seen.has(k)) continue;
      this.cache.delete(k);
      this.handler({ type: "DELETED", object: old, relisted: true });
    }
    this.resourceVersion = resourceVersion;
    this.relists++;
    this.syncedResolve();
  }

  private async loop(): Promise<void> {
    let backoff = this.opts.backoffMs ?? 100;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === undefined || this.resyncDue) {
          this.resyncDue = false;
          await this.relist();
        }
        if (this.stopped) break;
        this.watches++;
        const w = this.ds.watch(this.kind, {
          resourceVersion: this.resourceVersion,
          namespace: this.opts.namespace,
        });
        this.current = w;
        if (this.stopped) w.close();
        const began = Date.now();
        let delivered = 0;
        for await (const ev of w) {
          delivered++;
          this.resourceVersion = ev.resourceVersion;
          if (ev.type === "BOOKMARK") continue;
          const k = cacheKey(ev.object);
          if (ev.type === "DELETED") this.cache.delete(k);
          else this.cache.set(k, ev.object);
          this.handler({ type: ev.type, object: ev.object, relisted: false });
        }
        // A stream that ends at once with nothing in it is a server turning us away: do not spin.
        if (!this.stopped && !this.resyncDue && delivered === 0 && Date.now() - began < 1_000) {
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(backoff * 2, 30_000);
        } else backoff = this.opts.backoffMs ?? 100;
      } catch (err) {
        if (this.notServed && err instanceof NotFoundError) {
          // Asked again after a pause; quietly, since a cluster without the CRD is normal.
          await this.pause(backoff);
          backoff = Math.min(backoff * 2, 30_000);
          continue;
        }
        if (err instanceof ExpiredError) {
          log().info({ kind: this.kind, err: err.message }, "watch expired; relisting");
          this.resourceVersion = undefined;
          continue;
        }
        if (this.stopped) break;
        this.lastError = errorMessage(err);
        log().warn({ kind: this.kind, err: this.lastError, url: this.ds.url }, "watch failed; retrying");
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }
}
