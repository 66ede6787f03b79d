/**
 * The calculation, incrementally: the same result as `computeDesired(cache, self)` (desired.ts, the
 * reference), kept up to date from single events so that an event costs what depends on it, not a
 * walk over the cluster. A remote pod's event changes nothing here (the policy engine's label index
 * takes it); a local pod or WorkloadEndpoint recomputes one endpoint; blocks, pools and the BGP
 * config are recomputed only when their own kinds change. Still pure: no I/O, and the result depends
 * only on the cache's contents (test/felix/calc.test.ts checks it against the reference after every
 * event, in shuffled orders).
 */
import type { RouteSpec } from "../../core/kernel-routes.js";
import type { ObjectOf, StoredObject, WatchEventType } from "../../datastore/types.js";
import { ClusterCache, objectKey, type WatchedKind } from "./cache.js";
import { blockOwner, borrowedIn, type BlockSource } from "./vxlan.js";
import {
  affineBlockOf,
  bgpFor,
  borrowedAddresses,
  endpointOf,
  localRoutes,
  masquerade,
  type Desired,
  type LocalEndpoint,
  type Masquerade,
  type Self,
} from "./desired.js";

/** What a `take()` found changed since the previous one (every flag set on the first). */
export interface Changes {
  readonly localEndpoints: boolean;
  readonly routes: boolean;
  readonly masquerade: boolean;
  readonly bgp: boolean;
  /** Interfaces of local endpoints that appeared or changed (their sysctls need a look). */
  readonly newInterfaces: readonly string[];
  /** Nodes, pools or the owner of a block changed: the VXLAN overlay (calc/vxlan.ts) may differ. */
  readonly vxlanInputs: boolean;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const podKeyOf = (namespace: string | undefined, pod: string): string => `${namespace ?? "default"}/${pod}`;

export class Calculation {
  readonly cache = new ClusterCache();
  /** This node's WorkloadEndpoints, by the pod they are for, then by their own key. */
  private readonly localWeps = new Map<string, Map<string, ObjectOf<"WorkloadEndpoint">>>();
  private readonly endpoints = new Map<string, LocalEndpoint>();
  /** BlockAffinity/IPAMBlock key → the affine block it gives this node. */
  private readonly blockSources = new Map<string, string>();
  private readonly dirtyPods = new Set<string>();
  private dirtyBlocks = true;
  private dirtyPools = true;
  private dirtyBgp = true;
  /** Local addresses outside our blocks (borrowed), advertised as /32s. */
  private borrowed: readonly string[] = [];
  private dirtyVxlan = true;
  private first = true;
  private desired: Desired;

  constructor(private readonly self: Self) {
    this.desired = {
      node: self.name,
      localEndpoints: [],
      affineBlocks: [],
      routes: [],
      masquerade: { pools: { v4: [], v6: [] }, natPools: { v4: [], v6: [] } },
      bgp: undefined,
      problems: [],
    };
  }

  /** Applies one event to the cache and marks what depends on it; false when it changed nothing. */
  apply(kind: WatchedKind, type: WatchEventType, obj: StoredObject): boolean {
    const ns = obj.metadata.namespace;
    const { changed, old } = this.cache.replace(kind, type, obj);
    if (!changed) return false;
    const now = type === "DELETED" ? undefined : obj;
    switch (kind) {
      case "Pod": {
        const local = (p: StoredObject | undefined): boolean =>
          (p as ObjectOf<"Pod"> | undefined)?.spec.nodeName === this.self.name;
        const key = podKeyOf(ns, obj.metadata.name);
        if (local(old) || local(now) || this.localWeps.has(key)) this.dirtyPods.add(key);
        break;
      }
      case "WorkloadEndpoint":
        this.indexWep(old as ObjectOf<"WorkloadEndpoint"> | undefined, false);
        this.indexWep(now as ObjectOf<"WorkloadEndpoint"> | undefined, true);
        break;
      case "BlockAffinity":
      case "IPAMBlock": {
        // Every allocation rewrites its IPAMBlock; the overlay cares only when a block changes hands.
        const owner = (o: StoredObject | undefined): string | undefined =>
          o === undefined ? undefined : blockOwner({ kind, obj: o } as BlockSource);
        if (owner(old) !== owner(now)) this.dirtyVxlan = true;
        // ...or when an address in it is borrowed or given back (the overlay routes those as /32s).
        else if (kind === "IPAMBlock") {
          const lent = (o: StoredObject | undefined): string =>
            o === undefined ? "" : JSON.stringify(borrowedIn(o as ObjectOf<"IPAMBlock">));
          if (lent(old) !== lent(now)) this.dirtyVxlan = true;
        }
        const k = `${kind}:${objectKey(obj)}`;
        const block = now === undefined ? undefined : affineBlockOf(kind, now, this.self.name);
        if (this.blockSources.get(k) === block) break;
        if (block === undefined) this.blockSources.delete(k);
        else this.blockSources.set(k, block);
        this.dirtyBlocks = true;
        break;
      }
      case "IPPool":
        this.dirtyPools = true;
        this.dirtyBgp = true;
        this.dirtyVxlan = true;
        break;
      case "Node":
        this.dirtyBgp = true;
        this.dirtyVxlan = true;
        break;
      case "BGPConfiguration":
      case "BGPPeer":
      case "BGPFilter":
      case "Secret":
        this.dirtyBgp = true;
        break;
      // Policy inputs: the policy engine's own label index takes them.
      case "Namespace":
      case "ServiceAccount":
      case "KubernetesNetworkPolicy":
      case "AdminNetworkPolicy":
      case "BaselineAdminNetworkPolicy":
      case "NetworkPolicy":
      case "GlobalNetworkPolicy":
      case "NetworkSet":
      case "GlobalNetworkSet":
      case "Tier":
      case "EndpointSlice":
        break;
    }
    return true;
  }

  private indexWep(w: ObjectOf<"WorkloadEndpoint"> | undefined, add: boolean): void {
    if (w?.spec.node !== this.self.name) return;
    const podKey = podKeyOf(w.metadata.namespace, w.spec.pod);
    this.dirtyPods.add(podKey);
    const m = this.localWeps.get(podKey) ?? new Map<string, ObjectOf<"WorkloadEndpoint">>();
    if (add) m.set(objectKey(w), w);
    else m.delete(objectKey(w));
    if (m.size > 0) this.localWeps.set(podKey, m);
    else this.localWeps.delete(podKey);
  }

  /** The desired state now, and what changed in it since the previous call. */
  take(): { desired: Desired; changed: Changes } {
    const prev = this.desired;
    const newInterfaces: string[] = [];
    let endpointsChanged = false;
    for (const key of this.dirtyPods) {
      const [namespace = "", pod = ""] = splitKey(key);
      const weps = this.localWeps.get(key);
      // Several WorkloadEndpoints for one pod: the last by key wins, as in localEndpoints().
      const wep = weps ? [...weps.entries()].sort((a, b) => cmp(a[0], b[0])).at(-1)?.[1] : undefined;
      const ep = endpointOf(this.cache, this.self.name, namespace, pod, wep);
      const had = this.endpoints.get(key);
      if (JSON.stringify(had) === JSON.stringify(ep)) continue;
      endpointsChanged = true;
      if (ep === undefined) this.endpoints.delete(key);
      else {
        this.endpoints.set(key, ep);
        newInterfaces.push(ep.ifName);
      }
    }
    this.dirtyPods.clear();
    let { localEndpoints, affineBlocks, routes, masquerade: masq, bgp, problems } = prev;
    if (endpointsChanged)
      localEndpoints = [...this.endpoints.entries()].sort((a, b) => cmp(a[0], b[0])).map(([, e]) => e);
    let blocksChanged = false;
    if (this.dirtyBlocks) {
      const next = [...new Set(this.blockSources.values())].sort(cmp);
      blocksChanged = next.join() !== affineBlocks.join();
      affineBlocks = next;
      this.dirtyBlocks = false;
    }
    let routesChanged = false;
    if (endpointsChanged || blocksChanged) {
      const next: readonly RouteSpec[] = localRoutes(localEndpoints, affineBlocks);
      routesChanged = JSON.stringify(next) !== JSON.stringify(routes);
      routes = next;
    }
    let masqChanged = false;
    if (this.dirtyPools) {
      const next: Masquerade = masquerade(this.cache);
      masqChanged = JSON.stringify(next) !== JSON.stringify(masq);
      masq = next;
      this.dirtyPools = false;
    }
    let bgpChanged = false;
    if (endpointsChanged || blocksChanged) {
      const next = borrowedAddresses(localEndpoints, affineBlocks);
      if (next.join() !== this.borrowed.join()) this.dirtyBgp = true;
      this.borrowed = next;
    }
    if (this.dirtyBgp || blocksChanged) {
      const found: string[] = [];
      const next = bgpFor(this.cache, this.self, affineBlocks, found, this.borrowed);
      bgpChanged = JSON.stringify(next) !== JSON.stringify(bgp) || found.join("\n") !== problems.join("\n");
      bgp = next;
      problems = found.sort(cmp);
      this.dirtyBgp = false;
    }
    this.desired = {
      node: this.self.name,
      localEndpoints,
      affineBlocks,
      routes,
      masquerade: masq,
      bgp,
      problems,
    };
    const all = this.first;
    this.first = false;
    const vxlanInputs = all || this.dirtyVxlan;
    this.dirtyVxlan = false;
    return {
      desired: this.desired,
      changed: {
        localEndpoints: all || endpointsChanged,
        routes: all || routesChanged,
        masquerade: all || masqChanged,
        bgp: all || bgpChanged,
        newInterfaces,
        vxlanInputs,
      },
    };
  }
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf("/");
  return [key.slice(0, i), key.slice(i + 1)];
}
