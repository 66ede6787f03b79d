import { openDatastore } from "../datastore/open.js";
import type { Datastore } from "../datastore/index.js";
import type { KindName } from "../datastore/kinds.js";
import type { ObjectOf } from "../datastore/types.js";
import type { IpamDatastore, IpamKind } from "./store.js";

// Every IpamKind is a datastore kind; this line fails to compile if one is not.
const _kinds: readonly KindName[] = [] as IpamKind[];

/** Opens a `--datastore` URL (file:DIR, etcd:URL, kubernetes) as the port IPAM and the CNI plugin use. */
export async function openIpamDatastore(url: string): Promise<IpamDatastore> {
  return ipamDatastore(await openDatastore(url));
}

/** An open datastore as IPAM's port (felix allocates its VXLAN tunnel address through its own). */
export function ipamDatastore(s: Datastore): IpamDatastore {
  return {
    url: s.url,
    get: async (kind, name, namespace) => await s.get(kind, name, namespace),
    list: async (kind, opts) => await s.list(kind, opts),
    // IPAM's records are structurally typed here; the datastore validates each against its kind's schema.
    create: async (kind, obj) => await s.create(kind, obj as unknown as ObjectOf<typeof kind>),
    update: async (kind, obj) => await s.update(kind, obj as unknown as ObjectOf<typeof kind>),
    delete: (kind, name, namespace, opts) => s.delete(kind, name, namespace, opts ?? {}),
    close: () => s.close(),
  };
}
