/**
 * The policy calculation of one node, fed object by object. Version 1: holds the objects and
 * compiles the whole state on demand (the incremental index replaces this).
 */
import { compile } from "./compile.js";
import type { NamespaceState, PodState, PolicyIR, ServiceAccountState } from "./ir.js";
import type { Policy } from "./model.js";
import { policyKey } from "./compile.js";

/** A pod interface on this node as the CNI recorded it. */
export interface LocalEndpoint {
  readonly namespace: string;
  readonly pod: string;
  readonly ifName: string;
  readonly ips: readonly string[];
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class PolicyCalc {
  private readonly namespaces = new Map<string, NamespaceState>();
  private readonly pods = new Map<string, PodState>();
  private readonly sas = new Map<string, ServiceAccountState>();
  private readonly policies = new Map<string, Policy>();
  private local: Map<string, LocalEndpoint> | null = null;
  private cached: PolicyIR | null = null;

  constructor(readonly node: string) {}

  upsertPod(p: PodState): void {
    this.pods.set(`${p.namespace}/${p.name}`, p);
    this.cached = null;
  }
  removePod(namespace: string, name: string): void {
    this.pods.delete(`${namespace}/${name}`);
    this.cached = null;
  }
  upsertNamespace(n: NamespaceState): void {
    this.namespaces.set(n.name, n);
    this.cached = null;
  }
  removeNamespace(name: string): void {
    this.namespaces.delete(name);
    this.cached = null;
  }
  upsertServiceAccount(s: ServiceAccountState): void {
    this.sas.set(`${s.namespace}/${s.name}`, s);
    this.cached = null;
  }
  removeServiceAccount(namespace: string, name: string): void {
    this.sas.delete(`${namespace}/${name}`);
    this.cached = null;
  }
  upsertPolicy(p: Policy): void {
    this.policies.set(policyKey(p.ref), p);
    this.cached = null;
  }
  removePolicy(key: string): void {
    this.policies.delete(key);
    this.cached = null;
  }
  setLocalEndpoints(
    eps: readonly { namespace: string; pod: string; ifName: string; ips: readonly string[] }[],
  ): void {
    this.local = new Map(eps.map((e) => [`${e.namespace}/${e.pod}`, e]));
    this.cached = null;
  }

  ir(): PolicyIR {
    if (this.cached) return this.cached;
    const local = this.local;
    const pods = [...this.pods.values()].map((p): PodState => {
      if (!local) return p;
      const ep = local.get(`${p.namespace}/${p.name}`);
      if (ep) return { ...p, nodeName: this.node, ips: ep.ips };
      return p.nodeName === this.node ? { ...p, nodeName: null } : p;
    });
    pods.sort((a, b) => cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
    this.cached = compile({
      state: {
        namespaces: [...this.namespaces.values()],
        pods,
        serviceAccounts: [...this.sas.values()],
      },
      policies: [...this.policies.values()],
      node: this.node,
    });
    return this.cached;
  }

  stats(): { policies: number; sets: number; setElements: number; rules: number } {
    const ir = this.ir();
    return {
      policies: this.policies.size,
      sets: ir.sets.length,
      setElements: ir.sets.reduce((a, s) => a + s.elements.length, 0),
      rules: ir.policyChains.reduce((a, c) => a + c.rules.length, 0),
    };
  }
}
