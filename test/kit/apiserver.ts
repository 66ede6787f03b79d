import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { KINDS, KIND_NAMES, apiVersionOf, type KindInfo } from "../../datastore/kinds.js";

/**
 * A Kubernetes API server for tests (no kube-apiserver can be installed here),
 * in memory, speaking the wire protocol of the API conventions:
 *
 * - discovery (/api, /api/v1, /apis, /apis/GROUP/VERSION) so clients can map
 *   kinds to resources, and the core and group URL layouts, namespaced and not;
 * - list with the collection's resourceVersion; GET, POST, PUT, DELETE;
 * - watch=true: a chunked stream of newline-delimited JSON events
 *   (ADDED/MODIFIED/DELETED, BOOKMARK with allowWatchBookmarks) from a
 *   resourceVersion; too old a version is an ERROR event carrying a 410
 *   Status with reason Expired, as the real server sends it;
 * - failures as Status objects: 404 NotFound, 409 AlreadyExists / Conflict
 *   (resourceVersion preconditions on PUT and on DELETE), 400 BadRequest.
 *
 * Tests can force every watch to disconnect and compact the history. Every
 * request is logged as (verb, group, resource) for RBAC checks.
 */

interface Stored {
  readonly info: KindInfo;
  object: Record<string, unknown> & { metadata: Record<string, unknown> };
}

interface HistoryEvent {
  readonly rev: number;
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly info: KindInfo;
  readonly namespace: string;
  readonly object: Record<string, unknown>;
}

interface Watcher {
  readonly info: KindInfo;
  readonly namespace: string | undefined;
  readonly res: ServerResponse;
  readonly bookmarks: boolean;
}

export interface RequestRecord {
  readonly verb: "get" | "list" | "watch" | "create" | "update" | "delete";
  readonly group: string;
  readonly resource: string;
  readonly namespace?: string;
}

const statusReason: Record<number, string> = {
  400: "BadRequest",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  410: "Expired",
};

function status(
  code: number,
  message: string,
  reason = statusReason[code] ?? "InternalError",
  details?: object,
) {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    code,
    ...(details ? { details } : {}),
  };
}

export class TestApiServer {
  private readonly server: Server;
  private readonly objects = new Map<string, Stored>();
  private history: HistoryEvent[] = [];
  private rev = 1;
  private compactedRev = 0;
  private readonly watchers = new Set<Watcher>();
  private bookmarkTimer: NodeJS.Timeout | undefined;
  readonly requests: RequestRecord[] = [];
  url = "";

  private constructor(private readonly bookmarkMs: number) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.send(res, 500, status(500, String(err)));
        else res.end();
      });
    });
  }

  /** Listens on 127.0.0.1 on a free port. */
  static async start(opts: { bookmarkMs?: number } = {}): Promise<TestApiServer> {
    const s = new TestApiServer(opts.bookmarkMs ?? 1_000);
    await new Promise<void>((r) => s.server.listen(0, "127.0.0.1", r));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    s.bookmarkTimer = setInterval(() => s.sendBookmarks(), s.bookmarkMs);
    s.bookmarkTimer.unref();
    return s;
  }

  /** Resources (plurals) this server does not serve, as if their CRD were not installed. */
  readonly uninstalled = new Set<string>();

  /** Writes a kubeconfig pointing at this server into `dir`; returns its path. */
  kubeconfig(dir: string): string {
    const path = join(dir, "kubeconfig");
    const cfg = {
      apiVersion: "v1",
      kind: "Config",
      // Plain HTTP on loopback: client-node wants the TLS check waived explicitly.
      clusters: [{ name: "test", cluster: { server: this.url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "test", user: { token: "test-token" } }],
      contexts: [{ name: "test", context: { cluster: "test", user: "test", namespace: "default" } }],
      "current-context": "test",
    };
    writeFileSync(path, JSON.stringify(cfg));
    return path;
  }

  /** Ends every open watch stream, as a server restart or a load balancer would. */
  disconnectWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** Forgets the event history: watches from before now get 410 Expired. */
  compact(): void {
    this.compactedRev = this.rev;
    this.history = [];
  }

  async close(): Promise<void> {
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer);
    this.disconnectWatches();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  // ---- HTTP ----

  private send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    if (!text) return undefined;
    return JSON.parse(text) as Record<string, unknown>;
  }

  private discovery(path: string): unknown {
    const groups = new Map<string, KindInfo[]>();
    for (const k of KIND_NAMES) {
      const info = KINDS[k];
      if (this.uninstalled.has(info.plural)) continue;
      const gv = apiVersionOf(info);
      groups.set(gv, [...(groups.get(gv) ?? []), info]);
    }
    if (path === "/api") return { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] };
    if (path === "/apis") {
      const named = [...groups.keys()].filter((gv) => gv.includes("/"));
      return {
        kind: "APIGroupList",
        apiVersion: "v1",
        groups: named.map((gv) => {
          const [group, version] = gv.split("/") as [string, string];
          const v = { groupVersion: gv, version };
          return { name: group, versions: [v], preferredVersion: v };
        }),
      };
    }
    const gv = path === "/api/v1" ? "v1" : path.replace(/^\/apis\//, "");
    const infos = groups.get(gv);
    if (!infos) return undefined;
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: gv,
      resources: infos.map((i) => ({
        name: i.plural,
        singularName: i.kind.toLowerCase(),
        namespaced: i.namespaced,
        kind: i.kind,
        verbs: ["create", "delete", "get", "list", "update", "watch"],
      })),
    };
  }

  /** Splits a resource URL into kind, namespace and name. */
  private route(path: string): { info: KindInfo; namespace?: string; name?: string } | undefined {
    let gv: string;
    let rest: string[];
    const parts = path.split("/").filter(Boolean);
    if (parts[0] === "api" && parts[1] === "v1") {
      gv = "v1";
      rest = parts.slice(2);
    } else if (parts[0] === "apis" && parts.length >= 3) {
      gv = `${parts[1]}/${parts[2]}`;
      rest = parts.slice(3);
    } else return undefined;
    let namespace: string | undefined;
    if (rest[0] === "namespaces" && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, extra] = rest;
    if (extra !== undefined) return undefined;
    const info = KIND_NAMES.map((k) => KINDS[k]).find((i) => apiVersionOf(i) === gv && i.plural === plural);
    if (!info || (namespace !== undefined && !info.namespaced)) return undefined;
    if (this.uninstalled.has(info.plural)) return undefined;
    return { info, namespace, name };
  }

  private key(info: KindInfo, namespace: string | undefined, name: string): string {
    return `${apiVersionOf(info)}/${info.plural}/${namespace ?? ""}/${name}`;
  }

  private record(verb: RequestRecord["verb"], info: KindInfo, namespace?: string): void {
    this.requests.push({
      verb,
      group: info.group,
      resource: info.plural,
      ...(namespace ? { namespace } : {}),
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const u = new URL(req.url ?? "/", this.url);
    if (req.method === "GET") {
      const d = this.discovery(u.pathname);
      if (d) return this.send(res, 200, d);
    }
    const r = this.route(u.pathname);
    if (!r)
      return this.send(
        res,
        404,
        status(404, `the server could not find the requested resource (${u.pathname})`),
      );
    const { info, namespace, name } = r;
    const gk = { group: info.group, kind: info.plural };
    if (info.namespaced && name !== undefined && namespace === undefined)
      return this.send(res, 404, status(404, `${info.plural} must be addressed in a namespace`));

    if (req.method === "GET" && name === undefined) {
      if (u.searchParams.get("watch") === "true" || u.searchParams.get("watch") === "1") {
        this.record("watch", info, namespace);
        return this.watch(info, namespace, u.searchParams, res);
      }
      this.record("list", info, namespace);
      const items = [...this.objects.values()]
        .filter(
          (s) => s.info === info && (namespace === undefined || s.object.metadata.namespace === namespace),
        )
        .map((s) => s.object);
      return this.send(res, 200, {
        kind: `${info.kind}List`,
        apiVersion: apiVersionOf(info),
        metadata: { resourceVersion: String(this.rev) },
        items,
      });
    }
    if (req.method === "GET" && name !== undefined) {
      this.record("get", info, namespace);
      const s = this.objects.get(this.key(info, namespace, name));
      if (!s) return this.notFound(res, info, name);
      return this.send(res, 200, s.object);
    }
    if (req.method === "POST" && name === undefined) {
      this.record("create", info, namespace);
      const body = await this.body(req);
      const bad = this.checkBody(info, namespace, undefined, body);
      if (bad) return this.send(res, 400, status(400, bad));
      const meta = (body as { metadata: Record<string, unknown> }).metadata;
      const n = meta.name as string;
      const k = this.key(info, namespace, n);
      if (this.objects.has(k))
        return this.send(
          res,
          409,
          status(409, `${info.plural} "${n}" already exists`, "AlreadyExists", { name: n, ...gk }),
        );
      const object = this.stamp(info, body as Stored["object"], {
        uid: randomUUID(),
        creationTimestamp: new Date().toISOString(),
      });
      this.objects.set(k, { info, object });
      this.emit("ADDED", info, namespace, object);
      return this.send(res, 201, object);
    }
    if (req.method === "PUT" && name !== undefined) {
      this.record("update", info, namespace);
      const body = await this.body(req);
      const bad = this.checkBody(info, namespace, name, body);
      if (bad) return this.send(res, 400, status(400, bad));
      const k = this.key(info, namespace, name);
      const cur = this.objects.get(k);
      if (!cur) return this.notFound(res, info, name);
      const rv = (body as { metadata: { resourceVersion?: string } }).metadata.resourceVersion;
      if (rv && rv !== cur.object.metadata.resourceVersion)
        return this.send(res, 409, this.conflict(info, name));
      const object = this.stamp(info, body as Stored["object"], {
        uid: cur.object.metadata.uid,
        creationTimestamp: cur.object.metadata.creationTimestamp,
      });
      cur.object = object;
      this.emit("MODIFIED", info, namespace, object);
      return this.send(res, 200, object);
    }
    if (req.method === "DELETE" && name !== undefined) {
      this.record("delete", info, namespace);
      const body = await this.body(req);
      const k = this.key(info, namespace, name);
      const cur = this.objects.get(k);
      if (!cur) return this.notFound(res, info, name);
      const pre = (body as { preconditions?: { resourceVersion?: string; uid?: string } } | undefined)
        ?.preconditions;
      if (pre?.resourceVersion && pre.resourceVersion !== cur.object.metadata.resourceVersion)
        return this.send(res, 409, this.conflict(info, name));
      if (pre?.uid && pre.uid !== cur.object.metadata.uid)
        return this.send(res, 409, this.conflict(info, name));
      this.objects.delete(k);
      const object = this.stamp(info, cur.object, {});
      this.emit("DELETED", info, namespace, object);
      return this.send(res, 200, object);
    }
    return this.send(res, 405, status(405, `${req.method ?? "?"} is not supported on ${u.pathname}`));
  }

  private notFound(res: ServerResponse, info: KindInfo, name: string): void {
    const resource = `${info.plural}${info.group ? `.${info.group}` : ""}`;
    const details = { name, group: info.group, kind: info.plural };
    this.send(res, 404, status(404, `${resource} "${name}" not found`, "NotFound", details));
  }

  private conflict(info: KindInfo, name: string) {
    return status(
      409,
      `Operation cannot be fulfilled on ${info.plural}${info.group ? `.${info.group}` : ""} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      "Conflict",
      { name, group: info.group, kind: info.plural },
    );
  }

  private checkBody(
    info: KindInfo,
    namespace: string | undefined,
    name: string | undefined,
    body: unknown,
  ): string | undefined {
    const b = body as
      | { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } }
      | undefined;
    if (!b || typeof b !== "object") return "the request body must be an object";
    if (b.apiVersion !== apiVersionOf(info) || b.kind !== info.kind)
      return `the body is ${String(b.apiVersion)} ${String(b.kind)}, the URL is for ${apiVersionOf(info)} ${info.kind}`;
    if (typeof b.metadata?.name !== "string" || b.metadata.name === "")
      return "metadata.name: Required value";
    if (name !== undefined && b.metadata.name !== name)
      return `metadata.name: the name of the object (${b.metadata.name}) does not match the name on the URL (${name})`;
    if (info.namespaced && b.metadata.namespace !== undefined && b.metadata.namespace !== namespace)
      return "the namespace of the provided object does not match the namespace sent on the request";
    return undefined;
  }

  private stamp(info: KindInfo, obj: Stored["object"], keep: Record<string, unknown>): Stored["object"] {
    this.rev++;
    const metadata: Record<string, unknown> = { ...obj.metadata, ...keep, resourceVersion: String(this.rev) };
    if (!info.namespaced) delete metadata.namespace;
    return { ...obj, apiVersion: apiVersionOf(info), kind: info.kind, metadata };
  }

  private emit(
    type: HistoryEvent["type"],
    info: KindInfo,
    namespace: string | undefined,
    object: Stored["object"],
  ): void {
    const ev: HistoryEvent = { rev: this.rev, type, info, namespace: namespace ?? "", object };
    this.history.push(ev);
    for (const w of this.watchers) if (this.matches(w, ev)) this.write(w.res, { type, object });
  }

  private matches(w: { info: KindInfo; namespace: string | undefined }, ev: HistoryEvent): boolean {
    return ev.info === w.info && (w.namespace === undefined || w.namespace === ev.namespace);
  }

  private write(res: ServerResponse, ev: unknown): void {
    res.write(`${JSON.stringify(ev)}\n`);
  }

  private sendBookmarks(): void {
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      this.write(w.res, {
        type: "BOOKMARK",
        object: {
          kind: w.info.kind,
          apiVersion: apiVersionOf(w.info),
          metadata: { resourceVersion: String(this.rev) },
        },
      });
    }
  }

  private watch(
    info: KindInfo,
    namespace: string | undefined,
    q: URLSearchParams,
    res: ServerResponse,
  ): void {
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    const rvParam = q.get("resourceVersion");
    const w: Watcher = { info, namespace, res, bookmarks: q.get("allowWatchBookmarks") === "true" };
    if (rvParam === null || rvParam === "" || rvParam === "0") {
      // No version: the current state as synthetic ADDED events, then changes.
      for (const s of this.objects.values())
        if (
          this.matches(w, {
            rev: 0,
            type: "ADDED",
            info: s.info,
            namespace: (s.object.metadata.namespace as string | undefined) ?? "",
            object: s.object,
          })
        )
          this.write(res, { type: "ADDED", object: s.object });
    } else {
      const from = Number(rvParam);
      if (!Number.isInteger(from) || from < this.compactedRev) {
        this.write(res, {
          type: "ERROR",
          object: status(410, `too old resource version: ${rvParam} (${this.compactedRev})`, "Expired"),
        });
        res.end();
        return;
      }
      for (const ev of this.history)
        if (ev.rev > from && this.matches(w, ev)) this.write(res, { type: ev.type, object: ev.object });
    }
    this.watchers.add(w);
    res.on("close", () => this.watchers.delete(w));
    const timeout = Number(q.get("timeoutSeconds") ?? "0");
    if (timeout > 0) setTimeout(() => res.end(), timeout * 1000).unref();
  }
}
