import {
  ApiException,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  Watch as KubeWatch,
} from "@kubernetes/client-node";
import type { KubernetesObject } from "@kubernetes/client-node";
import { EventChannel } from "./channel.js";
import { AlreadyExistsError, ConflictError, ExpiredError, NotFoundError } from "./errors.js";
import { objectRef } from "./identity.js";
import { KINDS, TORTIE_GROUP, apiVersionOf, type KindInfo, type KindName } from "./kinds.js";
import type { Backend } from "./store.js";
import type { DeleteOptions, ListResult, StoredObject, Watch, WatchOptions } from "./types.js";

/**
 * The Kubernetes API through @kubernetes/client-node: KubernetesObjectApi for
 * CRUD on any kind (it discovers the resource for an apiVersion/kind, so core
 * kinds and our CRDs go through one path) and its Watch for the streams. The
 * API server keeps the versions: PUT carries metadata.resourceVersion and
 * DELETE a precondition, and its 409 becomes ConflictError (or
 * AlreadyExistsError on create), 404 NotFoundError, and a watch's 410
 * Gone / Expired ExpiredError. List + watch + relist is the shared Informer.
 *
 * Our own group goes through CustomObjectsApi instead: KubernetesObjectApi
 * picks its (de)serializer from "<Version><Kind>" alone, so a tortie.io/v1
 * NetworkPolicy would be run through V1NetworkPolicy (dropping order,
 * selector, types and our rule fields) and NodeStatus through V1NodeStatus.
 * CustomObjectsApi passes bodies through untouched and uses the same URLs.
 */

interface StatusBody {
  reason?: string;
  message?: string;
  code?: number;
}

function statusOf(err: unknown): { code: number; reason?: string } | undefined {
  if (err instanceof ApiException) {
    const body = (typeof err.body === "string" ? safeJson(err.body) : err.body) as StatusBody | undefined;
    return { code: err.code, reason: body?.reason };
  }
  return undefined;
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

export function loadKubeConfig(kubeconfig?: string): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

export class KubernetesBackend implements Backend {
  readonly url: string;
  private readonly api: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly watches = new Set<EventChannel>();

  constructor(private readonly kc: KubeConfig) {
    this.api = KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.url = `kubernetes (${kc.getCurrentCluster()?.server ?? "no cluster"})`;
  }

  private header(kind: KindName, name: string, namespace: string | undefined) {
    const info = KINDS[kind];
    return {
      apiVersion: apiVersionOf(info),
      kind: info.kind,
      metadata: { name, ...(info.namespaced && namespace ? { namespace } : {}) },
    };
  }

  /**
   * The CustomObjectsApi coordinates of a custom resource (tortie.io's, or another project's that may
   * not be installed), or undefined for Kubernetes' own kinds.
   */
  private customRef(info: KindInfo, namespace: string | undefined) {
    if (info.group !== TORTIE_GROUP && info.optional !== true) return undefined;
    return {
      group: info.group,
      version: info.version,
      plural: info.plural,
      namespace: info.namespaced ? namespace : undefined,
    };
  }

  /** List items come without apiVersion/kind on the wire; a stored object always has them. */
  private complete(kind: KindName, obj: KubernetesObject): StoredObject {
    const info = KINDS[kind];
    return { ...obj, apiVersion: apiVersionOf(info), kind: info.kind } as StoredObject;
  }

  async get(kind: KindName, name: string, namespace: string | undefined): Promise<StoredObject> {
    try {
      const c = this.customRef(KINDS[kind], namespace);
      const got: KubernetesObject = !c
        ? await this.api.read(this.header(kind, name, namespace))
        : c.namespace !== undefined
          ? ((await this.custom.getNamespacedCustomObject({
              ...c,
              namespace: c.namespace,
              name,
            })) as KubernetesObject)
          : ((await this.custom.getClusterCustomObject({ ...c, name })) as KubernetesObject);
      return this.complete(kind, got);
    } catch (err) {
      if (statusOf(err)?.code === 404) throw new NotFoundError(objectRef(kind, name, namespace));
      throw err;
    }
  }

  async list(kind: KindName, namespace: string | undefined): Promise<ListResult> {
    const info = KINDS[kind];
    const c = this.customRef(info, namespace);
    type Listed = { items: KubernetesObject[]; metadata?: { resourceVersion?: string } };
    let l: Listed;
    try {
      l = !c
        ? await this.api.list(apiVersionOf(info), info.kind, info.namespaced ? namespace : undefined)
        : c.namespace !== undefined
          ? ((await this.custom.listNamespacedCustomObject({ ...c, namespace: c.namespace })) as Listed)
          : ((await this.custom.listClusterCustomObject(c)) as Listed);
    } catch (err) {
      // An optional kind's CRD not installed: the server does not serve the resource at all.
      if (info.optional && statusOf(err)?.code === 404)
        throw new NotFoundError(`${apiVersionOf(info)} ${info.plural} (not served: CRD not installed?)`);
      throw err;
    }
    return {
      items: l.items.map((o) => this.complete(kind, o)),
      resourceVersion: l.metadata?.resourceVersion ?? "",
    };
  }

  async create(kind: KindName, obj: StoredObject): Promise<StoredObject> {
    try {
      const c = this.customRef(KINDS[kind], obj.metadata.namespace);
      const made: KubernetesObject = !c
        ? await this.api.create(obj as KubernetesObject)
        : c.namespace !== undefined
          ? ((await this.custom.createNamespacedCustomObject({
              ...c,
              namespace: c.namespace,
              body: obj,
            })) as KubernetesObject)
          : ((await this.custom.createClusterCustomObject({ ...c, body: obj })) as KubernetesObject);
      return this.complete(kind, made);
    } catch (err) {
      if (statusOf(err)?.code === 409)
        throw new AlreadyExistsError(objectRef(kind, obj.metadata.name, obj.metadata.namespace));
      throw err;
    }
  }

  async update(kind: KindName, obj: StoredObject): Promise<StoredObject> {
    const { name, namespace, resourceVersion } = obj.metadata;
    const ref = objectRef(kind, name, namespace);
    try {
      const c = this.customRef(KINDS[kind], namespace);
      const put: KubernetesObject = !c
        ? await this.api.replace(obj as KubernetesObject)
        : c.namespace !== undefined
          ? ((await this.custom.replaceNamespacedCustomObject({
              ...c,
              namespace: c.namespace,
              name,
              body: obj,
            })) as KubernetesObject)
          : ((await this.custom.replaceClusterCustomObject({ ...c, name, body: obj })) as KubernetesObject);
      return this.complete(kind, put);
    } catch (err) {
      const s = statusOf(err);
      if (s?.code === 409) throw new ConflictError(ref, resourceVersion ?? "", undefined);
      if (s?.code === 404) {
        if (resourceVersion !== undefined) throw new ConflictError(ref, resourceVersion, undefined);
        throw new NotFoundError(ref);
      }
      throw err;
    }
  }

  async delete(
    kind: KindName,
    name: string,
    namespace: string | undefined,
    opts: DeleteOptions,
  ): Promise<void> {
    const ref = objectRef(kind, name, namespace);
    const body =
      opts.resourceVersion !== undefined
        ? { preconditions: { resourceVersion: opts.resourceVersion } }
        : undefined;
    try {
      const c = this.customRef(KINDS[kind], namespace);
      if (c && c.namespace !== undefined)
        await this.custom.deleteNamespacedCustomObject({ ...c, namespace: c.namespace, name, body });
      else if (c) await this.custom.deleteClusterCustomObject({ ...c, name, body });
      else
        await this.api.delete(
          this.header(kind, name, namespace),
          undefined,
          undefined,
          undefined,
          undefined,
          undefined,
          body,
        );
    } catch (err) {
      const s = statusOf(err);
      if (s?.code === 409) throw new ConflictError(ref, opts.resourceVersion ?? "", undefined);
      if (s?.code === 404) {
        if (opts.resourceVersion !== undefined) throw new ConflictError(ref, opts.resourceVersion, undefined);
        throw new NotFoundError(ref);
      }
      throw err;
    }
  }

  /** The collection URL of a kind, e.g. /api/v1/namespaces/NS/pods or /apis/tortie.io/v1/ippools. */
  static path(kind: KindName, namespace?: string): string {
    const info = KINDS[kind];
    const base = info.group === "" ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
    return info.namespaced && namespace
      ? `${base}/namespaces/${namespace}/${info.plural}`
      : `${base}/${info.plural}`;
  }

  watch(kind: KindName, opts: WatchOptions): Watch {
    let abort: AbortController | undefined;
    const ch = new EventChannel(() => {
      abort?.abort();
      this.watches.delete(ch);
    });
    this.watches.add(ch);
    let from = opts.resourceVersion ?? "";
    const onEvent = (phase: string, obj: unknown) => {
      const o = obj as KubernetesObject & StatusBody;
      switch (phase) {
        case "ADDED":
        case "MODIFIED":
        case "DELETED": {
          const object = this.complete(kind, o);
          ch.push({ type: phase, object, resourceVersion: object.metadata.resourceVersion ?? "" });
          return;
        }
        case "BOOKMARK":
          ch.push({ type: "BOOKMARK", resourceVersion: o.metadata?.resourceVersion ?? "" });
          return;
        case "ERROR":
          if (o.code === 410 || o.reason === "Expired" || o.reason === "Gone")
            ch.fail(new ExpiredError(kind, from, o.message ?? "410 Gone"));
          else ch.fail(new Error(`watch of ${kind}: ${o.message ?? JSON.stringify(o)}`));
          return;
        default:
          return;
      }
    };
    const done = (err: unknown) => {
      const code = (err as { statusCode?: number } | null)?.statusCode;
      if (code === 410) ch.fail(new ExpiredError(kind, from, "410 Gone"));
      else if (err && !ch.closed && !(err instanceof Error && err.name === "AbortError")) ch.fail(err);
      else ch.end();
    };
    const start = async () => {
      // Without a version the API server would replay the state as ADDED; the
      // interface promises changes from now on, so start from a list's version.
      if (!from) from = (await this.list(kind, opts.namespace)).resourceVersion;
      const a = await new KubeWatch(this.kc).watch(
        KubernetesBackend.path(kind, opts.namespace),
        { allowWatchBookmarks: true, resourceVersion: from },
        onEvent,
        done,
      );
      abort = a;
      if (ch.closed) a.abort();
    };
    start().catch((err: unknown) => ch.fail(err));
    return ch;
  }

  close(): Promise<void> {
    for (const w of [...this.watches]) w.close();
    return Promise.resolve();
  }
}
