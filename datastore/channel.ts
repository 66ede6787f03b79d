import type { StoredObject, Watch, WatchEvent } from "./types.js";

/**
 * A push-to-pull bridge: a backend pushes events as its connection delivers
 * them, the consumer iterates. Unbounded on purpose: events are never dropped
 * (a slow consumer costs memory, not correctness).
 */
export class EventChannel<T extends StoredObject = StoredObject> implements Watch<T> {
  private readonly queue: WatchEvent<T>[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private error: Error | undefined;
  private readonly onClose: () => void;

  constructor(onClose: () => void = () => {}) {
    this.onClose = onClose;
  }

  get closed(): boolean {
    return this.ended;
  }

  push(ev: WatchEvent<T>): void {
    if (this.ended) return;
    this.queue.push(ev);
    this.wake();
  }

  /** The connection ended: iteration finishes after the queued events. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.wake();
    this.onClose();
  }

  /** Iteration throws `err` after the queued events. */
  fail(err: unknown): void {
    if (this.ended) return;
    this.error = err instanceof Error ? err : new Error(String(err));
    this.end();
  }

  close(): void {
    this.end();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchEvent<T>> {
    try {
      for (;;) {
        const ev = this.queue.shift();
        if (ev) {
          yield ev;
          continue;
        }
        if (this.ended) {
          if (this.error !== undefined) throw this.error;
          return;
        }
        await new Promise<void>((resolve) => (this.waiter = resolve));
      }
    } finally {
      this.end();
    }
  }
}
