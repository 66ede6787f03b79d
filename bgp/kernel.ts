import type { RouteSpec } from "../core/kernel-routes.js";
import type { Logger } from "../core/log.js";

/** The part of core/kernel-routes.ts KernelRoutes the installer uses (a fake in unit tests). */
export interface RouteTable {
  sync(
    desired: readonly RouteSpec[],
  ): Promise<{ replaced: number; removed: number; failed: readonly unknown[] }>;
  apply(change: {
    replace?: readonly RouteSpec[];
    remove?: readonly RouteSpec[];
  }): Promise<readonly unknown[]>;
}

export type BestChangeSource = {
  onBestChange(listener: (prefix: string, nextHops: readonly string[] | undefined) => void): () => void;
};

function spec(dst: string, hops: readonly string[]): RouteSpec {
  return { dst, nexthops: hops.map((gateway) => ({ gateway })) };
}

/**
 * Keeps the kernel table in line with the speaker's learned best routes (multipath
 * when there are several next hops). Changes are batched per tick and applied one
 * batch at a time, so the table never sees them out of order. Only routes with our
 * protocol number in our table are ever touched (KernelRoutes guarantees that).
 */
export class KernelInstaller {
  private readonly desired = new Map<string, readonly string[]>();
  private readonly pending = new Map<string, readonly string[] | null>();
  private running: Promise<void> = Promise.resolve();
  private scheduled = false;
  private unsubscribe: (() => void) | undefined;
  /** Until the first full sync, what the table held before we started stays (graceful restart). */
  private stalePurged = false;

  constructor(
    private readonly table: RouteTable,
    private readonly log: Logger,
  ) {}

  /**
   * Subscribes to the speaker. `keepStale`: leave the routes a previous run installed until
   * `purgeStale()` (RFC 4724 restarting speaker); otherwise they go now.
   */
  async start(speaker: BestChangeSource, keepStale: boolean): Promise<void> {
    if (!keepStale) await this.purgeStale();
    this.unsubscribe = speaker.onBestChange((prefix, hops) => {
      if (hops === undefined) this.desired.delete(prefix);
      else this.desired.set(prefix, hops);
      this.pending.set(prefix, hops ?? null);
      this.schedule();
    });
  }

  /** Removes every route of ours not wanted now: the routes left from before a restart. */
  purgeStale(): Promise<void> {
    this.stalePurged = true;
    return this.enqueue(async () => {
      this.pending.clear();
      const r = await this.table.sync([...this.desired].map(([dst, hops]) => spec(dst, hops)));
      this.log.info(
        { installed: this.desired.size, replaced: r.replaced, removed: r.removed, failed: r.failed.length },
        "kernel routes reconciled",
      );
    });
  }

  get staleKept(): boolean {
    return !this.stalePurged;
  }

  /** Stops following the speaker; `removeAll` takes our routes out of the table too. */
  async stop(removeAll: boolean): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (removeAll) {
      this.desired.clear();
      await this.enqueue(async () => {
        this.pending.clear();
        await this.table.sync([]);
      });
    }
    await this.running;
  }

  /** Resolves when everything queued so far is in the kernel. */
  idle(): Promise<void> {
    return this.running;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.enqueue(() => this.flush());
    });
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    const next = this.running.then(fn).catch((err: unknown) => {
      this.log.error({ err: err instanceof Error ? err.message : String(err) }, "kernel route update failed");
    });
    this.running = next;
    return next;
  }

  private async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const replace: RouteSpec[] = [];
    const remove: RouteSpec[] = [];
    for (const [dst, hops] of this.pending) {
      if (hops === null) remove.push({ dst });
      else replace.push(spec(dst, hops));
    }
    this.pending.clear();
    const failed = await this.table.apply({ replace, remove });
    if (failed.length > 0) this.log.warn({ failed }, "the kernel refused some routes");
    else this.log.debug({ replaced: replace.length, removed: remove.length }, "kernel routes updated");
  }
}
