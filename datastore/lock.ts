import { mkdir, open, readFile, rmdir, stat, unlink } from "node:fs/promises";
import { readFileSync } from "node:fs";

/**
 * An exclusive lock across processes on one machine. Node has no flock, so the
 * lock is a file created with O_EXCL ('wx') that holds the owner's pid and
 * process start time. A lock whose owner is gone (pid dead, or reused by
 * another process: the start time differs) is broken — but only under a
 * second, short-lived "breaker" lock, so two waiters can never both break it
 * and then both create it: between reading the dead owner and unlinking, only
 * the breaker holder may touch the file, and the dead owner cannot.
 */

function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z" || fields[0] === "X") return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

const SELF = `${process.pid} ${processStart(process.pid) ?? "?"}`;

function ownerAlive(content: string): boolean {
  const [pid, start] = content.trim().split(" ");
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return false;
  const actual = processStart(n);
  return actual !== undefined && (start === "?" || actual === start);
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waiters of this process queue here, so only one of them polls the file. */
const local = new Map<string, Promise<void>>();

/** A breaker lock older than this is from a process that died while breaking (breaking takes microseconds). */
const BREAKER_STALE_MS = 5_000;

async function breakIfStale(path: string): Promise<void> {
  const breaker = `${path}.break`;
  try {
    await mkdir(breaker);
  } catch (err) {
    if (errno(err) !== "EEXIST") throw err;
    const st = await stat(breaker).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > BREAKER_STALE_MS) await rmdir(breaker).catch(() => {});
    return;
  }
  try {
    const content = await readFile(path, "utf8").catch(() => undefined);
    // An empty file is an owner between create and write (microseconds apart), or
    // one SIGKILLed there: once it is older than a second, it is the latter.
    const emptyAndOld =
      content === "" &&
      ((await stat(path).catch(() => undefined))?.mtimeMs ?? Date.now()) < Date.now() - 1_000;
    if ((content !== undefined && content !== "" && !ownerAlive(content)) || emptyAndOld)
      await unlink(path).catch(() => {});
  } finally {
    await rmdir(breaker).catch(() => {});
  }
}

async function acquireFile(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(path, "wx");
      try {
        await fh.writeFile(SELF);
      } finally {
        await fh.close();
      }
      return;
    } catch (err) {
      if (errno(err) !== "EEXIST") throw err;
    }
    if (attempt % 8 === 7) await breakIfStale(path);
    if (Date.now() > deadline) {
      const owner = await readFile(path, "utf8").catch(() => "?");
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for the lock ${path} (held by pid ${owner.trim()})`,
      );
    }
    await sleep(delay * (0.5 + Math.random()));
    delay = Math.min(delay * 2, 20);
  }
}

/** Runs `fn` holding the lock at `path`; releases it however `fn` ends. */
export async function withLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const previous = local.get(path) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const tail = previous.then(() => mine);
  local.set(path, tail);
  await previous;
  try {
    await acquireFile(path, timeoutMs);
    try {
      return await fn();
    } finally {
      await unlink(path).catch(() => {});
    }
  } finally {
    release();
    if (local.get(path) === tail) local.delete(path);
  }
}
