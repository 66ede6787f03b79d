import type { KindName } from "./kinds.js";

export interface ObjectMeta {
  name: string;
  /** Only for namespaced kinds. */
  namespace?: string;
  /**
   * Opaque version of this state of the object, set by the store. Pass it back
   * on update/delete for compare-and-swap; compare versions only for equality.
   */
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Any object the store holds: the Kubernetes object shape. */
export interface StoredObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [field: string]: unknown;
}

/**
 * The TypeScript type of each kind's objects. `schema/` narrows it per kind;
 * until a kind has a schema it is a plain StoredObject.
 */
export type KindTypes = Record<KindName, StoredObject>;
export type ObjectOf<K extends KindName> = KindTypes[K];

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export type WatchEvent<T extends StoredObject = StoredObject> =
  /** A change; `resourceVersion` is the store's version after it (for DELETED: of the deletion). */
  | { readonly type: WatchEventType; readonly object: T; readonly resourceVersion: string }
  /** Progress without a change of this kind: resume from here. */
  | { readonly type: "BOOKMARK"; readonly resourceVersion: string };

export interface ListResult<T extends StoredObject = StoredObject> {
  readonly items: T[];
  /** Start a watch from here to see every change after this list. */
  readonly resourceVersion: string;
}

export interface WatchOptions {
  /**
   * Deliver every change after this version (from a list, or the last event
   * seen before a disconnect). Omitted: changes from now on.
   */
  readonly resourceVersion?: string;
  readonly namespace?: string;
}

/**
 * A stream of ordered events. Iteration ends when the connection ends (close()
 * or a disconnect): resume with a new watch from the last resourceVersion seen.
 * It throws ExpiredError when the requested version is too old: relist.
 */
export interface Watch<T extends StoredObject = StoredObject> extends AsyncIterable<WatchEvent<T>> {
  close(): void;
}

export interface DeleteOptions {
  /** Delete only if the object is still at this version (else ConflictError). */
  readonly resourceVersion?: string;
}

/**
 * One interface over the file store, etcd v3 and the Kubernetes API.
 * - create: AlreadyExistsError if the name is taken.
 * - update: with metadata.resourceVersion, ConflictError if it is stale;
 *   without one, unconditional. NotFoundError if absent.
 * - delete: NotFoundError if absent; ConflictError on a stale resourceVersion.
 * Every write returns or yields the object with its new resourceVersion.
 */
export interface Datastore {
  /** `file:DIR`, `etcd:URL` or `kubernetes`, for messages. */
  readonly url: string;
  get<K extends KindName>(kind: K, name: string, namespace?: string): Promise<ObjectOf<K>>;
  list<K extends KindName>(kind: K, opts?: { namespace?: string }): Promise<ListResult<ObjectOf<K>>>;
  watch<K extends KindName>(kind: K, opts?: WatchOptions): Watch<ObjectOf<K>>;
  create<K extends KindName>(kind: K, obj: ObjectOf<K>): Promise<ObjectOf<K>>;
  update<K extends KindName>(kind: K, obj: ObjectOf<K>): Promise<ObjectOf<K>>;
  delete<K extends KindName>(kind: K, name: string, namespace?: string, opts?: DeleteOptions): Promise<void>;
  close(): Promise<void>;
}
