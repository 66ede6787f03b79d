import { randomUUID } from "node:crypto";
import { EventChannel } from "./channel.js";
import { AlreadyExistsError, ConflictError, ExpiredError, NotFoundError } from "./errors.js";
import { objectRef } from "./identity.js";
import { KINDS, type KindName } from "./kinds.js";
import type { Backend } from "./store.js";
import type { DeleteOptions, ListResult, StoredObject, Watch, WatchOptions } from "./types.js";

/**
 * etcd v3 through its JSON gRPC gateway (/v3/kv/range, /v3/kv/txn,
 * /v3/watch), which etcd-server serves on its client port. Plain fetch
 * instead of a gRPC client library: no native or protobuf dependency, and
 * every call is one readable JSON request.
 *
 * Keys: PREFIX/GROUP/PLURAL[/NAMESPACE]/NAME, value the object as JSON.
 * resourceVersion is the key's mod_revision; a list's is the store revision.
 * Every conditional write is one transaction comparing mod_revision (or
 * create_revision == 0 for create).
 */

interface KeyValue {
  key: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
}
interface Header {
  revision?: string;
}
interface RangeResponse {
  header?: Header;
  kvs?: KeyValue[];
  count?: string;
}
interface TxnResponse {
  header?: Header;
  succeeded?: boolean;
  responses?: { response_range?: RangeResponse }[];
}
interface WatchResponse {
  header?: Header;
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  events?: { type?: "PUT" | "DELETE"; kv?: KeyValue; prev_kv?: KeyValue }[];
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64");
const unb64 = (s: string | undefined) => Buffer.from(s ?? "", "base64").toString("utf8");

/** The smallest key greater than every key with this prefix. */
function prefixEnd(prefix: string): string {
  const buf = Buffer.from(prefix, "utf8");
  let i = buf.length - 1;
  while (i >= 0 && buf[i] === 0xff) i--;
  if (i < 0) return Buffer.from([0]).toString("base64");
  const end = Buffer.from(buf.subarray(0, i + 1));
  end[i] = (end[i] ?? 0) + 1;
  return end.toString("base64");
}

export class EtcdBackend implements Backend {
  readonly url: string;
  private readonly watches = new Set<AbortController>();

  constructor(
    private readonly endpoint: string,
    private readonly prefix = "/tortie",
  ) {
    this.url = `etcd:${endpoint}${prefix}`;
  }

  private kindPrefix(kind: KindName, namespace?: string): string {
    const info = KINDS[kind];
    const base = `${this.prefix}/${info.group || "core"}/${info.plural}/`;
    return info.namespaced && namespace ? `${base}${namespace}/` : base;
  }

  private key(kind: KindName, name: string, namespace: string | undefined): string {
    return `${this.kindPrefix(kind, KINDS[kind].namespaced ? namespace : undefined)}${name}`;
  }

  private async call<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const res = await fetch(`${this.endpoint}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`etcd ${this.endpoint}${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }

  private decode(kv: KeyValue): StoredObject {
    const obj = JSON.parse(unb64(kv.value)) as StoredObject;
    obj.metadata.resourceVersion = kv.mod_revision ?? "0";
    return obj;
  }

  private async range(key: string): Promise<KeyValue | undefined> {
    const r = await this.call<RangeResponse>("/v3/kv/range", { key: b64(key) });
    return r.kvs?.[0];
  }

  async get(kind: KindName, name: string, namespace: string | undefined): Promise<StoredObject> {
    const kv = await this.range(this.key(kind, name, namespace));
    if (!kv) throw new NotFoundError(objectRef(kind, name, namespace));
    return this.decode(kv);
  }

  async list(kind: KindName, namespace: string | undefined): Promise<ListResult> {
    const p = this.kindPrefix(kind, namespace);
    const r = await this.call<RangeResponse>("/v3/kv/range", {
      key: b64(p),
      range_end: prefixEnd(p),
      sort_order: "ASCEND",
      sort_target: "KEY",
    });
    return { items: (r.kvs ?? []).map((kv) => this.decode(kv)), resourceVersion: r.header?.revision ?? "0" };
  }

  /** Stores the object without its resourceVersion: the key's mod_revision is the version. */
  private encode(obj: StoredObject): string {
    const { resourceVersion: _rv, ...metadata } = obj.metadata;
    return b64(JSON.stringify({ ...obj, metadata }));
  }

  async create(kind: KindName, obj: StoredObject): Promise<StoredObject> {
    const { name, namespace } = obj.metadata;
    const key = this.key(kind, name, namespace);
    const stored: StoredObject = {
      ...obj,
      metadata: { ...obj.metadata, uid: randomUUID(), creationTimestamp: new Date().toISOString() },
    };
    const r = await this.call<TxnResponse>("/v3/kv/txn", {
      compare: [{ key: b64(key), target: "CREATE", result: "EQUAL", create_revision: "0" }],
      success: [{ request_put: { key: b64(key), value: this.encode(stored) } }],
    });
    if (!r.succeeded) throw new AlreadyExistsError(objectRef(kind, name, namespace));
    return { ...stored, metadata: { ...stored.metadata, resourceVersion: r.header?.revision ?? "0" } };
  }

  async update(kind: KindName, obj: StoredObject): Promise<StoredObject> {
    const { name, namespace, resourceVersion } = obj.metadata;
    const key = this.key(kind, name, namespace);
    const ref = objectRef(kind, name, namespace);
    for (;;) {
      const kv = await this.range(key);
      if (!kv) {
        if (resourceVersion !== undefined) throw new ConflictError(ref, resourceVersion, undefined);
        throw new NotFoundError(ref);
      }
      if (resourceVersion !== undefined && resourceVersion !== kv.mod_revision)
        throw new ConflictError(ref, resourceVersion, kv.mod_revision);
      const current = this.decode(kv);
      const stored: StoredObject = {
        ...obj,
        metadata: {
          ...obj.metadata,
          uid: current.metadata.uid,
          creationTimestamp: current.metadata.creationTimestamp,
        },
      };
      const r = await this.call<TxnResponse>("/v3/kv/txn", {
        compare: [{ key: b64(key), target: "MOD", result: "EQUAL", mod_revision: kv.mod_revision }],
        success: [{ request_put: { key: b64(key), value: this.encode(stored) } }],
      });
      if (r.succeeded)
        return { ...stored, metadata: { ...stored.metadata, resourceVersion: r.header?.revision ?? "0" } };
      // Someone wrote between our read and our transaction: a CAS caller must re-read; an unconditional one retries.
      if (resourceVersion !== undefined) throw new ConflictError(ref, resourceVersion, undefined);
    }
  }

  async delete(
    kind: KindName,
    name: string,
    namespace: string | undefined,
    opts: DeleteOptions,
  ): Promise<void> {
    const key = this.key(kind, name, namespace);
    const ref = objectRef(kind, name, namespace);
    const compare =
      opts.resourceVersion !== undefined
        ? { key: b64(key), target: "MOD", result: "EQUAL", mod_revision: opts.resourceVersion }
        : { key: b64(key), target: "CREATE", result: "GREATER", create_revision: "0" };
    const r = await this.call<TxnResponse>("/v3/kv/txn", {
      compare: [compare],
      success: [{ request_delete_range: { key: b64(key) } }],
      failure: [{ request_range: { key: b64(key) } }],
    });
    if (r.succeeded) return;
    const kv = r.responses?.[0]?.response_range?.kvs?.[0];
    if (!kv) {
      if (opts.resourceVersion !== undefined) throw new ConflictError(ref, opts.resourceVersion, undefined);
      throw new NotFoundError(ref);
    }
    throw new ConflictError(ref, opts.resourceVersion ?? "", kv.mod_revision);
  }

  /** Forgets history up to the current revision: older watches get ExpiredError. */
  async compact(): Promise<void> {
    const r = await this.call<RangeResponse>("/v3/kv/range", { key: b64(this.prefix), count_only: true });
    await this.call("/v3/kv/compaction", { revision: r.header?.revision ?? "0", physical: true });
  }

  watch(kind: KindName, opts: WatchOptions): Watch {
    const abort = new AbortController();
    this.watches.add(abort);
    const ch = new EventChannel(() => {
      abort.abort();
      this.watches.delete(abort);
    });
    const p = this.kindPrefix(kind, opts.namespace);
    const create: Record<string, unknown> = {
      key: b64(p),
      range_end: prefixEnd(p),
      prev_kv: true,
      progress_notify: true,
    };
    if (opts.resourceVersion !== undefined) {
      const from = Number(opts.resourceVersion);
      if (!Number.isSafeInteger(from) || from < 0) {
        ch.fail(new ExpiredError(kind, opts.resourceVersion, "not an etcd revision"));
        return ch;
      }
      create.start_revision = String(from + 1);
    }
    const run = async () => {
      const res = await fetch(`${this.endpoint}/v3/watch`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ create_request: create }),
        signal: abort.signal,
      });
      if (!res.ok || !res.body) throw new Error(`etcd watch: HTTP ${res.status}`);
      const decoder = new TextDecoder();
      let buf = "";
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line)
            this.onWatchMessage(
              kind,
              opts.resourceVersion,
              JSON.parse(line) as { result?: WatchResponse; error?: unknown },
              ch,
            );
        }
      }
    };
    run().then(
      () => ch.end(),
      (err: unknown) => {
        // Our own close, or the connection dropped (etcd restarting): both end the stream; the caller resumes.
        if (abort.signal.aborted || err instanceof TypeError) ch.end();
        else ch.fail(err);
      },
    );
    return ch;
  }

  private onWatchMessage(
    kind: KindName,
    from: string | undefined,
    msg: { result?: WatchResponse; error?: unknown },
    ch: EventChannel,
  ): void {
    if (msg.error) throw new Error(`etcd watch: ${JSON.stringify(msg.error)}`);
    const r = msg.result;
    if (!r) return;
    if (r.compact_revision && r.compact_revision !== "0") {
      ch.fail(new ExpiredError(kind, from ?? "?", `etcd compacted to revision ${r.compact_revision}`));
      return;
    }
    if (r.canceled) {
      ch.fail(new Error(`etcd cancelled the watch: ${r.cancel_reason ?? "no reason given"}`));
      return;
    }
    if (r.created) return;
    if (!r.events || r.events.length === 0) {
      if (r.header?.revision) ch.push({ type: "BOOKMARK", resourceVersion: r.header.revision });
      return;
    }
    for (const ev of r.events) {
      const kv = ev.kv;
      if (!kv) continue;
      if (ev.type === "DELETE") {
        if (!ev.prev_kv) continue;
        const object = this.decode(ev.prev_kv);
        object.metadata.resourceVersion = kv.mod_revision ?? "0";
        ch.push({ type: "DELETED", object, resourceVersion: kv.mod_revision ?? "0" });
      } else {
        const object = this.decode(kv);
        const type = kv.version === "1" ? "ADDED" : "MODIFIED";
        ch.push({ type, object, resourceVersion: kv.mod_revision ?? "0" });
      }
    }
  }

  close(): Promise<void> {
    for (const a of this.watches) a.abort();
    this.watches.clear();
    return Promise.resolve();
  }
}
