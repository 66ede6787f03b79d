/**
 * Policy enforcement through the incremental PolicyEngine (policy/engine.ts): objects in,
 * `program()` applies what is pending (set elements over netlink, touched chains only), `resync()`
 * loads everything in one atomic transaction. Plus what the agent reports: drop counters per policy.
 */
import type { FieldProblem } from "../../core/errors.js";
import { run } from "../../core/exec.js";
import type { LocalEndpoint } from "../../policy/calc.js";
import { PolicyEngine, type ProgramReport } from "../../policy/engine.js";
import type { PolicyIR } from "../../policy/ir.js";
import { refText } from "../../policy/model.js";
import { listTortie } from "../../policy/nft/apply.js";

export type { ProgramReport };

export interface PolicyStats {
  readonly policies: number;
  readonly sets: number;
  readonly setElements: number;
  readonly rules: number;
}

export interface PolicyObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly [field: string]: unknown;
}

/** The contract's PolicyEngine, as felix uses it. */
export interface PolicyProgrammer {
  upsert(obj: PolicyObject): readonly FieldProblem[];
  remove(kind: string, namespace: string | undefined, name: string): void;
  setLocalEndpoints(eps: readonly LocalEndpoint[]): void;
  program(): Promise<ProgramReport>;
  resync(): Promise<ProgramReport>;
  stats(): PolicyStats;
  /** Drop counters per policy (packets), read from the kernel's rule counters. */
  drops(): Promise<Map<string, number>>;
  /** Releases the engine's netlink socket; what is programmed stays. */
  close(): void;
}

const nft = (cmd: string, args: readonly string[], opts?: { input?: string }): Promise<string> =>
  run(cmd, args, opts?.input !== undefined ? { input: opts.input } : {});

export class EnginePolicy implements PolicyProgrammer {
  private readonly engine: PolicyEngine;
  private programmedIr: PolicyIR | undefined;
  private readonly carried = new Map<string, number>();

  constructor(
    node: string,
    private readonly backend: "nft" | "iptables",
  ) {
    this.engine = new PolicyEngine({ node, backend });
  }

  upsert(obj: PolicyObject): readonly FieldProblem[] {
    return this.engine.upsert(obj);
  }

  remove(kind: string, namespace: string | undefined, name: string): void {
    this.engine.remove(kind, namespace, name);
  }

  setLocalEndpoints(eps: readonly LocalEndpoint[]): void {
    this.engine.setLocalEndpoints(eps);
  }

  async program(): Promise<ProgramReport> {
    const r = await this.engine.program();
    this.programmedIr = undefined;
    return r;
  }

  async resync(): Promise<ProgramReport> {
    // A full load recreates the table and zeroes its counters: carry what they counted so far.
    for (const [p, n] of await this.current().catch(() => new Map<string, number>()))
      this.carried.set(p, (this.carried.get(p) ?? 0) + n);
    const r = await this.engine.resync();
    this.programmedIr = undefined;
    return r;
  }

  stats(): PolicyStats {
    return this.engine.stats();
  }

  close(): void {
    this.engine.close();
  }

  /**
   * Packets dropped because of each policy (nft backend): its deny rules, plus the default drop of
   * every endpoint chain it isolates (counted for each policy selecting that endpoint). Totals since
   * the agent started, across resyncs.
   */
  async drops(): Promise<Map<string, number>> {
    const out = await this.current();
    for (const [p, n] of this.carried) out.set(p, (out.get(p) ?? 0) + n);
    return out;
  }

  /** What the kernel's counters say now (zeroed at each full load). */
  private async current(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (this.backend !== "nft") return out;
    const ir = (this.programmedIr ??= this.engine.ir());
    const rules = await listTortie(nft);
    if (!rules) return out;
    const chainPolicy = new Map(ir.policyChains.map((c) => [c.name, refText(c.policy)]));
    const isolating = new Map(
      ir.endpointChains.map((c) => [
        c.name,
        [...c.extended, ...c.kubernetes].map((p) => chainPolicy.get(p)).filter((x): x is string => !!x),
      ]),
    );
    // A tier's end-of-tier drop is the doing of that tier's policies for the endpoint.
    const tierPolicies = new Map(
      ir.endpointChains.flatMap((c) =>
        [...(c.tiersBefore ?? []), ...(c.tiersAfter ?? [])].map((t) => [
          `${c.name}:end-of-tier-${t.tier}`,
          t.policies.map((p) => chainPolicy.get(p)).filter((x): x is string => !!x),
        ]),
      ),
    );
    for (const p of chainPolicy.values()) out.set(p, 0);
    for (const item of rules) {
      const rule = (item as { rule?: { chain: string; comment?: string; expr?: unknown[] } }).rule;
      if (!rule?.expr) continue;
      const drop = rule.expr.some((e) => typeof e === "object" && e !== null && "drop" in e);
      if (!drop) continue;
      const counter = rule.expr.find(
        (e): e is { counter: { packets: number } } => typeof e === "object" && e !== null && "counter" in e,
      );
      const packets = counter?.counter.packets ?? 0;
      const owners = chainPolicy.has(rule.chain)
        ? [chainPolicy.get(rule.chain) ?? ""]
        : rule.comment?.endsWith(":default")
          ? (isolating.get(rule.chain) ?? [])
          : (tierPolicies.get(rule.comment ?? "") ?? []);
      for (const o of owners) out.set(o, (out.get(o) ?? 0) + packets);
    }
    return out;
  }
}
