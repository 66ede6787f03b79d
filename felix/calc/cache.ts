/**
 * The agent's view of the datastore: the last state of every object of the kinds it watches, keyed by
 * namespace/name. Applying an event is a pure map update, so any order of events that ends in the same
 * objects ends in the same cache (the calculation below depends only on the cache's contents).
 */
import type { KindName } from "../../datastore/kinds.js";
import type { ObjectOf, StoredObject, WatchEventType } from "../../datastore/types.js";

/** Every kind felix reads. */
export const WATCHED_KINDS = [
  "Node",
  "Namespace",
  "ServiceAccount",
  "Secret",
  "Pod",
  "WorkloadEndpoint",
  "KubernetesNetworkPolicy",
  "AdminNetworkPolicy",
  "BaselineAdminNetworkPolicy",
  "NetworkPolicy",
  "GlobalNetworkPolicy",
  "NetworkSet",
  "GlobalNetworkSet",
  "Tier",
  "EndpointSlice",
  "IPPool",
  "IPAMBlock",
  "BlockAffinity",
  "BGPConfiguration",
  "BGPPeer",
  "BGPFilter",
] as const satisfies readonly KindName[];

export type WatchedKind = (typeof WATCHED_KINDS)[number];

export function objectKey(o: { metadata: { name: string; namespace?: string } }): string {
  return `${o.metadata.namespace ?? ""}/${o.metadata.name}`;
}

export class ClusterCache {
  private readonly byKind = new Map<WatchedKind, Map<string, StoredObject>>(
    WATCHED_KINDS.map((k) => [k, new Map()]),
  );

  /** Applies one event; returns false when it changed nothing (same resourceVersion, or delete of nothing). */
  apply(kind: WatchedKind, type: WatchEventType, obj: StoredObject): boolean {
    return this.replace(kind, type, obj).changed;
  }

  /** apply(), also handing back the object the event replaced (what an incremental index must undo). */
  replace(
    kind: WatchedKind,
    type: WatchEventType,
    obj: StoredObject,
  ): { readonly changed: boolean; readonly old: StoredObject | undefined } {
    const m = this.byKind.get(kind);
    if (!m) return { changed: false, old: undefined };
    const k = objectKey(obj);
    const old = m.get(k);
    if (type === "DELETED") return { changed: m.delete(k), old };
    if (
      old !== undefined &&
      old.metadata.resourceVersion !== undefined &&
      old.metadata.resourceVersion === obj.metadata.resourceVersion
    )
      return { changed: false, old };
    m.set(k, obj);
    return { changed: true, old };
  }

  list<K extends WatchedKind>(kind: K): ObjectOf<K>[] {
    return [...(this.byKind.get(kind)?.values() ?? [])] as ObjectOf<K>[];
  }

  get<K extends WatchedKind>(kind: K, name: string, namespace?: string): ObjectOf<K> | undefined {
    return this.byKind.get(kind)?.get(`${namespace ?? ""}/${name}`) as ObjectOf<K> | undefined;
  }

  size(kind: WatchedKind): number {
    return this.byKind.get(kind)?.size ?? 0;
  }
}
