/**
 * The policy engine the node agent (felix/) drives: it holds the cluster's Namespaces, Pods,
 * ServiceAccounts and policies as they arrive from the datastore, and `program()` puts into the
 * kernel what changed since the last call. The calculation is incremental (policy/calc.ts): a pod
 * label or address change becomes "membership started/stopped" for the selector sets it touches, a
 * policy change recompiles that policy's chains. The dataplane (policy/programmer.ts) sends set
 * element changes as one nf_tables netlink batch and rewrites only touched chains.
 */
import type { FieldProblem } from "../core/errors.js";
import { PolicyCalc, type LocalEndpoint } from "./calc.js";
import type { PolicyIR } from "./ir.js";
import { policyKey } from "./compile.js";
import { type NftEncoder, type Programmer, type ProgramReport, makeProgrammer } from "./programmer.js";
import { parseObject } from "./state.js";
import type { Runner } from "./nft/apply.js";

export type ValidationProblem = FieldProblem;
export type { ProgramReport } from "./programmer.js";

export interface PolicyEngineOptions {
  readonly node: string;
  readonly backend: "nft" | "iptables";
  /**
   * Program this named network namespace (`ip netns exec`, netlink bound there) instead of the
   * current one. Tests and benchmarks use it; the agent runs in its own namespace and leaves it unset.
   */
  readonly netns?: string;
  /** Runs nft / iptables-restore / ipset; defaults to running them in `netns` or here. */
  readonly run?: Runner;
  /**
   * Replaces the netlink encoder of incremental nft changes (policy/nft/netlink.ts). One that throws
   * `Unsupported` sends every change through `nft -j -f`: tests prove the fallback with it, the
   * benchmark measures the CLI path beside the netlink one.
   */
  readonly nftEncoder?: NftEncoder;
}

const POLICY_KINDS = new Set([
  "NetworkPolicy",
  "GlobalNetworkPolicy",
  "AdminNetworkPolicy",
  "BaselineAdminNetworkPolicy",
]);
const NAMESPACED_POLICY_KINDS = new Set(["NetworkPolicy"]);

export class PolicyEngine {
  private readonly calc: PolicyCalc;
  private readonly programmer: Programmer;
  /** Policy identity by the (kind, namespace, name) `remove` is called with (apiVersion not known there). */
  private readonly policyKeys = new Map<string, Set<string>>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: PolicyEngineOptions) {
    this.calc = new PolicyCalc(opts.node);
    this.programmer = makeProgrammer(opts);
  }

  /**
   * Adds or replaces one object. A bad object is rejected with its problems and changes nothing:
   * the rules in force for it (if an earlier version was good) and for every other object stay.
   */
  upsert(obj: unknown): ValidationProblem[] {
    const r = parseObject(obj);
    if (r.problems.length > 0) return [...r.problems];
    if (r.items) return [{ object: "List", path: "kind", message: "upsert takes one object, not a List" }];
    if (r.policy) {
      const ref = r.policy.ref;
      const k = removeKey(ref.kind, ref.namespace ?? undefined, ref.name);
      const keys = this.policyKeys.get(k) ?? new Set<string>();
      keys.add(policyKey(ref));
      this.policyKeys.set(k, keys);
      this.calc.upsertPolicy(r.policy);
    } else if (r.pod) this.calc.upsertPod(r.pod);
    else if (r.namespace) this.calc.upsertNamespace(r.namespace);
    else if (r.serviceAccount) this.calc.upsertServiceAccount(r.serviceAccount);
    else if (r.networkSet) this.calc.upsertNetworkSet(r.networkSet);
    else if (r.tier) this.calc.upsertTier(r.tier);
    // A staged policy is a preview (`tortie policy explain --staged`): nothing of it is enforced.
    else if (r.endpointSlice) this.calc.upsertEndpointSlice(r.endpointSlice);
    else if (r.endpointSlice === null) {
      // Now FQDN or without its Service's label: whatever it held before no longer counts.
      const md = (obj as { metadata?: { namespace?: string; name?: string } }).metadata;
      this.calc.removeEndpointSlice(md?.namespace ?? "default", md?.name ?? "");
    }
    return [];
  }

  /**
   * Removes an object by kind (`Pod`, `Namespace`, `ServiceAccount`, `NetworkPolicy`,
   * `GlobalNetworkPolicy`, `NetworkSet`, `GlobalNetworkSet`, `Tier`, `EndpointSlice`).
   */
  remove(kind: string, namespace: string | undefined, name: string): void {
    if (POLICY_KINDS.has(kind)) {
      const k = removeKey(
        kind,
        NAMESPACED_POLICY_KINDS.has(kind) ? (namespace ?? "default") : undefined,
        name,
      );
      for (const key of this.policyKeys.get(k) ?? []) this.calc.removePolicy(key);
      this.policyKeys.delete(k);
    } else if (kind === "Pod") this.calc.removePod(namespace ?? "default", name);
    else if (kind === "Namespace") this.calc.removeNamespace(name);
    else if (kind === "ServiceAccount") this.calc.removeServiceAccount(namespace ?? "default", name);
    else if (kind === "NetworkSet") this.calc.removeNetworkSet(namespace ?? "default", name);
    else if (kind === "GlobalNetworkSet") this.calc.removeNetworkSet(null, name);
    else if (kind === "Tier") this.calc.removeTier(name);
    else if (kind === "EndpointSlice") this.calc.removeEndpointSlice(namespace ?? "default", name);
  }

  /** This node's endpoints as the CNI recorded them; without it, pods with spec.nodeName == node. */
  setLocalEndpoints(eps: readonly LocalEndpoint[]): void {
    this.calc.setLocalEndpoints(eps);
  }

  /** Applies everything pending since the last call; the first call is a full atomic load. */
  program(): Promise<ProgramReport> {
    return this.serial(() => this.programmer.program(this.calc));
  }

  /** One full atomic transaction over whatever is in the kernel: repairs drift, never flushes first. */
  resync(): Promise<ProgramReport> {
    return this.serial(() => this.programmer.resync(this.calc));
  }

  /** Writes to the kernel one at a time, in call order: each compares with what the previous wrote. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The intermediate form of what this node should have now (for explain and tests). */
  ir(): PolicyIR {
    return this.calc.ir();
  }

  stats(): { policies: number; sets: number; setElements: number; rules: number } {
    return this.calc.stats();
  }

  close(): void {
    this.programmer.close();
  }
}

function removeKey(kind: string, namespace: string | undefined, name: string): string {
  return `${kind}/${namespace ?? ""}/${name}`;
}
