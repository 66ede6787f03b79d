import { watch as fsWatch, type FSWatcher } from "node:fs";
import { mkdir, open, readFile, readdir, rename, stat, truncate, unlink, writeFile } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { join, relative } from "node:path";
import { parseAllDocuments } from "yaml";
import { UserError, errorMessage } from "../core/errors.js";
import { run } from "../core/exec.js";
import { log } from "../core/log.js";
import { unlinkDurable, writeFileAtomic } from "./atomic.js";
import { EventChannel } from "./channel.js";
import { AlreadyExistsError, ConflictError, ExpiredError, NotFoundError, ReadOnlyError } from "./errors.js";
import { KINDS, type KindName } from "./kinds.js";
import { withLock } from "./lock.js";
import { objectRef } from "./identity.js";
import { decodeManifest } from "./manifest.js";
import type { Backend } from "./store.js";
import type {
  DeleteOptions,
  ListResult,
  StoredObject,
  Watch,
  WatchEventType,
  WatchOptions,
} from "./types.js";

/**
 * The embedded store, `file:DIR`.
 *
 * DIR holds the user's manifests (*.yaml, *.yml, *.json at any depth, outside
 * dot-directories): what `kubectl apply` is to a cluster. They are read-only
 * to tortie. DIR/.tortie/ holds the store proper:
 *
 *   lock            the single writer lock (see lock.ts): one total order of revisions
 *   journal.ndjson  the write-ahead log: a header line {"compacted":N}, then one
 *                   line per change {"rev","type","kind","ns","name","object"}
 *   objects/KIND/NS/NAME.json   the current state, {"rev","source","object"}
 *   manifests.json  which manifest file (and which fingerprint) gave which objects
 *
 * A write, under the lock: catch up with the journal, check the precondition
 * against the object file, append the change to the journal and fsync (the
 * commit point), then replace the object file atomically. A crash after the
 * commit point leaves the object file one change behind: the next holder of
 * the lock redoes the journal's last entry before anything else. A torn last
 * journal line (a crash mid-append) was never committed and is cut off.
 *
 * Watches tail the journal (inotify plus a slow poll), so any process on the
 * machine sees every change in revision order; a resume from before the
 * journal's compaction point is ExpiredError. One reader per client tails the
 * journal for all its watches (an agent watching 15 kinds reads and parses
 * each change once, not 15 times); a watch resuming from further back reads
 * the journal on its own until it has caught up, then joins it.
 */

interface JournalEntry {
  readonly rev: number;
  readonly type: WatchEventType;
  readonly kind: KindName;
  readonly ns: string;
  readonly name: string;
  readonly object: StoredObject;
  /**
   * The first revision of the batch this entry was committed in (manifest loads): a batch is one
   * journal append and one fsync, its object files are written after it without an fsync each, then
   * flushed together. Until then any entry of the last batch may be unapplied, so a catch-up checks
   * them all, not only the last entry.
   */
  readonly batch?: number;
}

interface ObjectRecord {
  readonly rev: number;
  /** "api", or "manifest:<path relative to DIR>" */
  readonly source: string;
  readonly object: StoredObject;
}

interface ManifestIndex {
  /** relative path -> fingerprint and the object keys it defined */
  files: Record<string, { fingerprint: string; keys: string[]; error?: string }>;
}

/** A watch fed by the shared tail: what it has been given so far, and what it wants. */
interface Subscriber {
  delivered: number;
  readonly kind: KindName;
  readonly namespace: string | undefined;
  readonly ch: EventChannel;
}

export interface FileStoreOptions {
  /** Turns a manifest document into an object of a kind; throws ValidationError/UserError. */
  readonly decode?: (doc: unknown, file: string) => { kind: KindName; object: StoredObject };
  /** Compact the journal when it holds more entries than this… */
  readonly compactAfter?: number;
  /** …keeping this many of the newest, so recent watches resume. */
  readonly compactKeep?: number;
  /** Safety-net poll interval behind inotify. */
  readonly pollMs?: number;
}

const key = (kind: KindName, ns: string | undefined, name: string) => `${kind}/${ns ?? ""}/${name}`;

/** Ignores what the store sets, so a manifest re-read unchanged is not a change. */
function sameContent(a: StoredObject, b: StoredObject): boolean {
  const strip = (o: StoredObject) => {
    const { resourceVersion: _r, uid: _u, creationTimestamp: _c, ...metadata } = o.metadata;
    return JSON.stringify({ ...o, metadata });
  };
  return strip(a) === strip(b);
}

/** Reads a growing journal incrementally; notices when compaction replaced the file. */
class JournalReader {
  private ino = -1;
  /** Bytes of complete lines consumed. */
  private offset = 0;
  private pending: Buffer = Buffer.alloc(0);
  compacted = 0;
  lastRev = 0;
  entries = 0;
  last: JournalEntry | undefined;
  /** The entries of the batch `last` belongs to (empty when it was a single commit). */
  lastBatch: JournalEntry[] = [];

  /** `keepBatch`: remember the last batch's entries (the writer's catch-up needs them; a tail does not). */
  constructor(
    private readonly path: string,
    private readonly keepBatch = false,
  ) {}

  /** New complete entries since the last call; `rotated` when compaction replaced the file. */
  async read(): Promise<{ entries: JournalEntry[]; rotated: boolean; tornBytes: number }> {
    let fh;
    try {
      fh = await open(this.path, "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT")
        return { entries: [], rotated: false, tornBytes: 0 };
      throw err;
    }
    try {
      const st = await fh.stat();
      let rotated = false;
      if (st.ino !== this.ino) {
        rotated = this.ino !== -1;
        this.ino = st.ino;
        this.offset = 0;
        this.pending = Buffer.alloc(0);
        this.entries = 0;
      }
      const start = this.offset + this.pending.length;
      const out: JournalEntry[] = [];
      if (st.size > start) {
        const buf = Buffer.alloc(st.size - start);
        const { bytesRead } = await fh.read(buf, 0, buf.length, start);
        this.pending = Buffer.concat([this.pending, buf.subarray(0, bytesRead)]);
      }
      let nl: number;
      while ((nl = this.pending.indexOf(10)) >= 0) {
        const line = this.pending.subarray(0, nl).toString("utf8");
        this.offset += nl + 1;
        this.pending = this.pending.subarray(nl + 1);
        if (line === "") continue;
        const rec = JSON.parse(line) as JournalEntry | { compacted: number };
        if ("compacted" in rec) {
          this.compacted = rec.compacted;
          this.lastRev = Math.max(this.lastRev, rec.compacted);
          continue;
        }
        this.entries++;
        this.lastRev = rec.rev;
        this.last = rec;
        if (rec.batch === undefined || !this.keepBatch) this.lastBatch = [];
        else if (this.lastBatch[0]?.batch === rec.batch) this.lastBatch.push(rec);
        else this.lastBatch = [rec];
        out.push(rec);
      }
      return { entries: out, rotated, tornBytes: this.pending.length };
    } finally {
      await fh.close();
    }
  }

  /** Cuts off a torn last line: only called under the lock, when no writer can be mid-append. */
  async cutTorn(): Promise<void> {
    if (this.pending.length === 0) return;
    log().warn(
      { journal: this.path, bytes: this.pending.length },
      "cutting a torn journal line left by a crash",
    );
    await truncate(this.path, this.offset);
    this.pending = Buffer.alloc(0);
  }
}

export class FileBackend implements Backend {
  readonly url: string;
  private readonly state: string;
  private readonly lockPath: string;
  private readonly journalPath: string;
  private readonly indexPath: string;
  private readonly writer: JournalReader;
  private readonly decode: NonNullable<FileStoreOptions["decode"]>;
  private readonly compactAfter: number;
  private readonly compactKeep: number;
  private readonly pollMs: number;
  private ready: Promise<void> | undefined;
  private lastFingerprints = "";
  /** The last batch (by its first revision) this client knows to be applied and flushed. */
  private verifiedBatch = -1;
  /** The journal tail every watch of this client shares, and the watches it feeds. */
  private tail: JournalReader | undefined;
  private readonly subscribers = new Set<Subscriber>();
  private pumping: Promise<void> | undefined;
  private pumpAgain = false;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly dir: string,
    opts: FileStoreOptions = {},
  ) {
    this.url = `file:${dir}`;
    this.state = join(dir, ".tortie");
    this.lockPath = join(this.state, "lock");
    this.journalPath = join(this.state, "journal.ndjson");
    this.indexPath = join(this.state, "manifests.json");
    this.writer = new JournalReader(this.journalPath, true);
    this.decode = opts.decode ?? decodeManifest;
    this.compactAfter = opts.compactAfter ?? 10_000;
    this.compactKeep = opts.compactKeep ?? 1_000;
    this.pollMs = opts.pollMs ?? 1_000;
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(join(this.state, "objects"), { recursive: true });
      await withLock(this.lockPath, async () => {
        try {
          await stat(this.journalPath);
        } catch {
          await writeFileAtomic(this.journalPath, `${JSON.stringify({ compacted: 0 })}\n`);
        }
      });
    })();
    return this.ready;
  }

  private objectPath(kind: KindName, ns: string | undefined, name: string): string {
    return join(this.state, "objects", kind, ns || "_", `${encodeURIComponent(name)}.json`);
  }

  private async readRecord(path: string): Promise<ObjectRecord | undefined> {
    try {
      return JSON.parse(await readFile(path, "utf8")) as ObjectRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  /**
   * Applies a journal entry to the object files (idempotent: used for commit and for redo). Not
   * `durable`: the caller flushes the file system after a batch (flushFileSystem).
   */
  private async apply(e: JournalEntry, source: string, durable = true): Promise<void> {
    const path = this.objectPath(e.kind, e.ns, e.name);
    if (e.type === "DELETED") {
      if (durable) await unlinkDurable(path);
      else
        await unlink(path).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "ENOENT") throw err;
        });
      return;
    }
    await mkdir(join(path, ".."), { recursive: true });
    const rec: ObjectRecord = { rev: e.rev, source, object: e.object };
    if (durable) await writeFileAtomic(path, JSON.stringify(rec));
    else await replaceFile(path, JSON.stringify(rec));
  }

  /** Under the lock: catch up with the journal, cut a torn line, redo an unapplied last entry. */
  private async catchUp(): Promise<void> {
    await this.writer.read();
    await this.writer.cutTorn();
    const last = this.writer.last;
    if (!last) return;
    const batch = this.writer.lastBatch;
    if (last.batch !== undefined && last.batch === this.verifiedBatch) return;
    let redone = 0;
    for (const e of batch.length > 0 ? batch : [last]) {
      const rec = await this.readRecord(this.objectPath(e.kind, e.ns, e.name));
      const applied = e.type === "DELETED" ? !rec || rec.rev > e.rev : rec !== undefined && rec.rev >= e.rev;
      if (applied) continue;
      log().warn({ rev: e.rev, object: objectRef(e.kind, e.name, e.ns) }, "redoing a journal entry");
      const source = (e.object.metadata.annotations ?? {})["tortie.io/manifest"];
      await this.apply(e, source ? `manifest:${source}` : "api", batch.length === 0);
      redone++;
    }
    if (last.batch !== undefined) {
      if (redone > 0) await flushFileSystem(this.state);
      this.verifiedBatch = last.batch;
    }
  }

  /** Under the lock: commit one change (journal + fsync), then apply it. */
  private async commit(
    type: WatchEventType,
    kind: KindName,
    object: StoredObject,
    source: string,
  ): Promise<StoredObject> {
    const rev = this.writer.lastRev + 1;
    const stamped: StoredObject = {
      ...object,
      metadata: { ...object.metadata, resourceVersion: String(rev) },
    };
    const ns = stamped.metadata.namespace ?? "";
    const entry: JournalEntry = { rev, type, kind, ns, name: stamped.metadata.name, object: stamped };
    const fh = await open(this.journalPath, "a");
    try {
      await fh.write(`${JSON.stringify(entry)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.writer.read();
    await this.apply(entry, source);
    this.wakeTailers();
    return stamped;
  }

  /**
   * Under the lock: commits many changes as one batch (one journal append and fsync), writes their
   * object files, then flushes the file system once: a manifest of 12,000 objects costs a handful of
   * fsyncs instead of three per object.
   */
  private async commitBatch(
    changes: readonly { type: WatchEventType; kind: KindName; object: StoredObject; source: string }[],
  ): Promise<void> {
    const [only] = changes;
    if (only === undefined) return;
    if (changes.length === 1) {
      await this.commit(only.type, only.kind, only.object, only.source);
      return;
    }
    const batch = this.writer.lastRev + 1;
    const entries = changes.map((c, i): JournalEntry & { source: string } => {
      const rev = batch + i;
      const object = { ...c.object, metadata: { ...c.object.metadata, resourceVersion: String(rev) } };
      const ns = object.metadata.namespace ?? "";
      return {
        rev,
        type: c.type,
        kind: c.kind,
        ns,
        name: object.metadata.name,
        object,
        batch,
        source: c.source,
      };
    });
    const fh = await open(this.journalPath, "a");
    try {
      await fh.write(entries.map(({ source: _s, ...e }) => `${JSON.stringify(e)}\n`).join(""));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.writer.read();
    // Object files in parallel (distinct files, one entry each): the thread pool, not one at a time.
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < entries.length; i = next++) {
        const e = entries[i];
        if (e) await this.apply(e, e.source, false);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    await flushFileSystem(this.state);
    this.verifiedBatch = batch;
    this.wakeTailers();
  }

  private async locked<T>(fn: () => Promise<T>): Promise<T> {
    await this.init();
    return withLock(this.lockPath, async () => {
      await this.catchUp();
      const result = await fn();
      if (this.writer.entries > this.compactAfter) await this.compactLocked(this.compactKeep);
      return result;
    });
  }

  // ---- manifests ----

  private async scanManifests(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const walk = async (d: string): Promise<void> => {
      let names;
      try {
        names = await readdir(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const ent of names) {
        if (ent.name.startsWith(".")) continue;
        const p = join(d, ent.name);
        if (ent.isDirectory()) await walk(p);
        else if (ent.isFile() && /\.(ya?ml|json)$/.test(ent.name)) {
          const st = await stat(p).catch(() => undefined);
          if (st) out.set(relative(this.dir, p), `${st.mtimeMs}:${st.size}:${st.ino}`);
        }
      }
    };
    await walk(this.dir);
    return out;
  }

  private fingerprintOf(m: Map<string, string>): string {
    return JSON.stringify([...m].sort());
  }

  /** Brings the store in line with the manifest files, if any changed. */
  async syncManifests(): Promise<void> {
    const scan = await this.scanManifests();
    if (this.fingerprintOf(scan) === this.lastFingerprints) return;
    await this.locked(() => this.syncManifestsLocked());
  }

  private async syncManifestsLocked(): Promise<void> {
    const scan = await this.scanManifests();
    const index: ManifestIndex = (await readFile(this.indexPath, "utf8")
      .then((s) => JSON.parse(s) as ManifestIndex)
      .catch(() => undefined)) ?? { files: {} };
    const next: ManifestIndex = { files: {} };
    const desired = new Map<string, { kind: KindName; object: StoredObject; file: string }>();
    const stale = new Set<string>();
    for (const [file, fingerprint] of [...scan].sort()) {
      const old = index.files[file];
      if (old && old.fingerprint === fingerprint) {
        next.files[file] = old;
        continue;
      }
      try {
        const text = await readFile(join(this.dir, file), "utf8");
        const objs: { kind: KindName; object: StoredObject }[] = [];
        const docs = file.endsWith(".json") ? [JSON.parse(text) as unknown] : yamlDocs(text, file);
        for (const doc of docs) {
          if (doc === null || doc === undefined) continue;
          const items =
            (doc as { kind?: string; items?: unknown[] }).kind === "List"
              ? ((doc as { items?: unknown[] }).items ?? [])
              : [doc];
          for (const item of items) objs.push(this.decode(item, file));
        }
        for (const k of old?.keys ?? []) stale.add(k);
        const keys: string[] = [];
        for (const { kind, object } of objs) {
          const k = key(kind, object.metadata.namespace, object.metadata.name);
          keys.push(k);
          desired.set(k, { kind, object, file });
        }
        next.files[file] = { fingerprint, keys };
      } catch (err) {
        // A broken file keeps what it defined before: nothing stored is lost to a typo.
        const error = errorMessage(err);
        log().error(
          { file: join(this.dir, file), err: error },
          "manifest rejected; keeping its previous objects",
        );
        next.files[file] = { keys: old?.keys ?? [], fingerprint, error };
      }
    }
    for (const [file, old] of Object.entries(index.files))
      if (!scan.has(file)) for (const k of old.keys) stale.add(k);
    for (const [, entry] of Object.entries(next.files)) for (const k of entry.keys) stale.delete(k);

    const changes: { type: WatchEventType; kind: KindName; object: StoredObject; source: string }[] = [];
    for (const { kind, object, file } of desired.values()) {
      const ns = KINDS[kind].namespaced ? object.metadata.namespace : undefined;
      const path = this.objectPath(kind, ns, object.metadata.name);
      const rec = await this.readRecord(path);
      const source = `manifest:${file}`;
      if (rec && rec.source === source && sameContent(rec.object, object)) continue;
      const metadata = {
        ...object.metadata,
        uid: rec?.object.metadata.uid ?? randomUUID(),
        creationTimestamp: rec?.object.metadata.creationTimestamp ?? new Date().toISOString(),
        annotations: { ...object.metadata.annotations, "tortie.io/manifest": file },
      };
      changes.push({ type: rec ? "MODIFIED" : "ADDED", kind, object: { ...object, metadata }, source });
    }
    for (const k of stale) {
      const [kind, ns, name] = k.split("/") as [KindName, string, string];
      const path = this.objectPath(kind, ns || undefined, name);
      const rec = await this.readRecord(path);
      if (rec?.source.startsWith("manifest:"))
        changes.push({ type: "DELETED", kind, object: rec.object, source: rec.source });
    }
    await this.commitBatch(changes);
    await writeFileAtomic(this.indexPath, JSON.stringify(next));
    this.lastFingerprints = this.fingerprintOf(scan);
  }

  /** The manifest files rejected at the last sync, with why (relative path -> message). */
  async manifestErrors(): Promise<Map<string, string>> {
    await this.syncManifests();
    const index = await readFile(this.indexPath, "utf8")
      .then((s) => JSON.parse(s) as ManifestIndex)
      .catch(() => ({ files: {} }));
    const out = new Map<string, string>();
    for (const [file, f] of Object.entries(index.files)) if (f.error) out.set(file, f.error);
    return out;
  }

  // ---- reads ----

  async get(kind: KindName, name: string, namespace: string | undefined): Promise<StoredObject> {
    await this.init();
    await this.syncManifests();
    const rec = await this.readRecord(this.objectPath(kind, namespace, name));
    if (!rec) throw new NotFoundError(objectRef(kind, name, namespace));
    return rec.object;
  }

  async list(kind: KindName, namespace: string | undefined): Promise<ListResult> {
    await this.init();
    await this.syncManifests();
    return this.locked(async () => {
      const base = join(this.state, "objects", kind);
      const nsDirs = namespace ? [namespace] : await readdir(base).catch(() => [] as string[]);
      const paths: string[] = [];
      for (const nsDir of nsDirs.sort()) {
        const files = await readdir(join(base, nsDir)).catch(() => [] as string[]);
        for (const f of files.sort()) if (f.endsWith(".json")) paths.push(join(base, nsDir, f));
      }
      // Read in parallel (10,000 pods one file at a time is 40,000 thread-pool round trips in a row).
      const recs: (ObjectRecord | undefined)[] = new Array<ObjectRecord | undefined>(paths.length);
      let next = 0;
      const worker = async (): Promise<void> => {
        for (let i = next++; i < paths.length; i = next++) recs[i] = await this.readRecord(paths[i] ?? "");
      };
      await Promise.all(Array.from({ length: 16 }, worker));
      const items = recs.flatMap((r) => (r ? [r.object] : []));
      return { items, resourceVersion: String(this.writer.lastRev) };
    });
  }

  // ---- writes ----

  async create(kind: KindName, obj: StoredObject): Promise<StoredObject> {
    const { name, namespace } = obj.metadata;
    return this.locked(async () => {
      const rec = await this.readRecord(this.objectPath(kind, namespace, name));
      if (rec) throw new AlreadyExistsError(objectRef(kind, name, namespace));
      const metadata = { ...obj.metadata, uid: randomUUID(), creationTimestamp: new Date().toISOString() };
      return this.commit("ADDED", kind, { ...obj, metadata }, "api");
    });
  }

  private async current(kind: KindName, name: string, namespace: string | undefined, rv: string | undefined) {
    const ref = objectRef(kind, name, namespace);
    const rec = await this.readRecord(this.objectPath(kind, namespace, name));
    if (!rec) {
      if (rv !== undefined) throw new ConflictError(ref, rv, undefined);
      throw new NotFoundError(ref);
    }
    if (rec.source.startsWith("manifest:")) throw new ReadOnlyError(ref, join(this.dir, rec.source.slice(9)));
    if (rv !== undefined && rv !== String(rec.rev)) throw new ConflictError(ref, rv, String(rec.rev));
    return rec;
  }

  async update(kind: KindName, obj: StoredObject): Promise<StoredObject> {
    const { name, namespace, resourceVersion } = obj.metadata;
    return this.locked(async () => {
      const rec = await this.current(kind, name, namespace, resourceVersion);
      const metadata = {
        ...obj.metadata,
        uid: rec.object.metadata.uid,
        creationTimestamp: rec.object.metadata.creationTimestamp,
      };
      return this.commit("MODIFIED", kind, { ...obj, metadata }, "api");
    });
  }

  async delete(
    kind: KindName,
    name: string,
    namespace: string | undefined,
    opts: DeleteOptions,
  ): Promise<void> {
    await this.locked(async () => {
      const rec = await this.current(kind, name, namespace, opts.resourceVersion);
      await this.commit("DELETED", kind, rec.object, "api");
    });
  }

  /** Drops all but the newest `keep` journal entries; older resumes get ExpiredError. */
  async compact(keep = 0): Promise<void> {
    await this.locked(() => this.compactLocked(keep));
  }

  private async compactLocked(keep: number): Promise<void> {
    const all = new JournalReader(this.journalPath);
    const { entries } = await all.read();
    const kept = keep > 0 ? entries.slice(-keep) : [];
    const dropped = entries.length - kept.length;
    const compacted = dropped > 0 ? (entries[dropped - 1]?.rev ?? all.compacted) : all.compacted;
    const lines = [JSON.stringify({ compacted })];
    for (const e of kept) lines.push(JSON.stringify(e));
    await writeFileAtomic(this.journalPath, `${lines.join("\n")}\n`);
    await this.writer.read();
    this.wakeTailers();
  }

  // ---- watches ----

  private wakeTailers(): void {
    if (this.subscribers.size > 0) void this.pump();
  }

  /** Reads the journal's new entries once for every watch; resolves after a read begun after the call. */
  private pump(): Promise<void> {
    this.pumpAgain = true;
    this.pumping ??= (async () => {
      try {
        while (this.pumpAgain && !this.closed) {
          this.pumpAgain = false;
          await this.readTail();
        }
      } finally {
        this.pumping = undefined;
      }
    })();
    return this.pumping;
  }

  private async readTail(): Promise<void> {
    const tail = (this.tail ??= new JournalReader(this.journalPath));
    let read;
    try {
      read = await tail.read();
    } catch (err) {
      // An unreadable journal ends every watch (their informers relist); the next watch starts afresh.
      this.tail = undefined;
      for (const sub of [...this.subscribers]) sub.ch.fail(err);
      return;
    }
    for (const sub of [...this.subscribers]) {
      if (read.rotated && tail.compacted > sub.delivered) {
        sub.ch.fail(
          new ExpiredError(sub.kind, String(sub.delivered), `the journal was compacted to ${tail.compacted}`),
        );
        continue;
      }
      this.deliver(sub, read.entries);
    }
  }

  /** Pushes the entries a watch has not had yet; a BOOKMARK when none of them is its kind. */
  private deliver(sub: Subscriber, entries: readonly JournalEntry[]): void {
    let sent = false;
    let advanced = false;
    for (const e of entries) {
      if (e.rev <= sub.delivered) continue;
      sub.delivered = e.rev;
      advanced = true;
      if (e.kind !== sub.kind || (sub.namespace && e.ns !== sub.namespace)) continue;
      sub.ch.push({ type: e.type, object: e.object, resourceVersion: String(e.rev) });
      sent = true;
    }
    if (!sent && advanced) sub.ch.push({ type: "BOOKMARK", resourceVersion: String(sub.delivered) });
  }

  private startNotifier(): void {
    if (this.timer || this.closed) return;
    const wake = () => {
      this.wakeTailers();
    };
    try {
      this.watchers.push(
        fsWatch(this.state, (_ev, f) => (f === null || f.startsWith("journal") ? wake() : undefined)),
      );
      this.watchers.push(
        fsWatch(this.dir, (_ev, f) => {
          if (!f?.startsWith(".")) this.syncManifests().catch(() => {});
        }),
      );
    } catch (err) {
      log().debug({ err: errorMessage(err) }, "inotify unavailable; polling only");
    }
    this.timer = setInterval(() => {
      this.syncManifests()
        .catch((err: unknown) => log().error({ err: errorMessage(err) }, "manifest sync failed"))
        .finally(wake);
    }, this.pollMs);
    this.timer.unref();
  }

  private stopNotifierIfIdle(): void {
    if (this.subscribers.size > 0) return;
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  watch(kind: KindName, opts: WatchOptions): Watch {
    let sub: Subscriber | undefined;
    const ch = new EventChannel(() => {
      if (sub) this.subscribers.delete(sub);
      this.stopNotifierIfIdle();
    });
    const run = async () => {
      await this.init();
      await this.syncManifests();
      let from: number | undefined;
      if (opts.resourceVersion !== undefined) {
        from = Number(opts.resourceVersion);
        if (!Number.isSafeInteger(from) || from < 0)
          throw new ExpiredError(kind, opts.resourceVersion, "not a version of this store");
      }
      await this.pump();
      const tail = this.tail ?? new JournalReader(this.journalPath);
      from ??= tail.lastRev;
      if (from < tail.compacted)
        throw new ExpiredError(kind, String(from), `the journal is compacted to ${tail.compacted}`);
      if (from > tail.lastRev)
        throw new ExpiredError(kind, String(from), `the store is only at ${tail.lastRev}`);
      const me: Subscriber = { delivered: from, kind, namespace: opts.namespace, ch };
      // Resuming from further back than the shared tail: read on our own until caught up with it.
      let own: JournalReader | undefined;
      while (me.delivered < (this.tail?.lastRev ?? 0) && !ch.closed) {
        own ??= new JournalReader(this.journalPath);
        const { entries } = await own.read();
        if (me.delivered < own.compacted)
          throw new ExpiredError(kind, String(me.delivered), `the journal is compacted to ${own.compacted}`);
        const before = me.delivered;
        this.deliver(me, entries);
        // No progress towards a tail that is ahead: the journal changed under us; the caller relists.
        if (me.delivered === before && me.delivered < (this.tail?.lastRev ?? 0))
          throw new ExpiredError(kind, String(me.delivered), "the journal changed while catching up");
      }
      if (ch.closed) return;
      sub = me;
      this.subscribers.add(me);
      this.startNotifier();
    };
    run().catch((err: unknown) => ch.fail(err));
    return ch;
  }

  close(): Promise<void> {
    this.closed = true;
    this.subscribers.clear();
    this.stopNotifierIfIdle();
    return Promise.resolve();
  }
}

/** Replaces a file by rename, without an fsync: for batches, which flushFileSystem() makes durable. */
async function replaceFile(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/** syncfs(2) on the file system holding `path` (coreutils `sync -f`): one flush for a whole batch. */
async function flushFileSystem(path: string): Promise<void> {
  await run("sync", ["-f", path]);
}

function yamlDocs(text: string, file: string): unknown[] {
  return parseAllDocuments(text).map((d, i) => {
    if (d.errors.length > 0)
      throw new UserError(`${file}: document ${i + 1}: ${d.errors[0]?.message ?? "bad YAML"}`);
    return d.toJS() as unknown;
  });
}
