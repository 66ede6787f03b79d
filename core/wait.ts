/** Thrown by a probe when waiting longer cannot help (the process it watches has exited). */
export class WaitAborted extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WaitAborted";
  }
}

/**
 * Polls `probe` until it returns a value other than undefined/false, or the
 * deadline passes. Integration tests and the lab wait for conditions, never for fixed time.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  const interval = opts.intervalMs ?? 50;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      if (err instanceof WaitAborted) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: last error: ${lastError.message}` : "";
      throw new Error(`timed out after ${opts.timeoutMs ?? 10_000} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
