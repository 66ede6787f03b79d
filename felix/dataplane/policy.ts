/**
 * Policy enforcement behind the shape of the incremental PolicyEngine (policy/engine.ts, being built
 * in parallel): objects in, `program()` applies what is pending, `resync()` reloads everything
 * atomically. This implementation recompiles the whole node on each program() and applies the
 * difference of the rendered tables (renderDiff); resync() loads the full table in one nft
 * transaction (which replaces tortie's table atomically: no packet sees it empty).
 */
import type { FieldProblem } from "../../core/errors.js";
import { run } from "../../core/exec.js";
import { compile } from "../../policy/compile.js";
import type { PolicyIR } from "../../policy/ir.js";
import { refText } from "../../policy/model.js";
import { applyNft, listTortie } from "../../policy/nft/apply.js";
import { renderDiff, renderFull } from "../../policy/nft/render.js";
import { loadStateText } from "../../policy/state.js";
import { isPolicyKind, validatePolicy } from "../../policy/validate.js";

export interface ProgramReport {
  readonly kind: "full" | "incremental" | "none";
  readonly ms: number;
  readonly setElements: number;
  readonly chains: number;
}

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
  program(): Promise<ProgramReport>;
  resync(): Promise<ProgramReport>;
  stats(): PolicyStats;
  /** Drop counters per policy (packets), read from the kernel's rule counters. */
  drops(): Promise<Map<string, number>>;
}

const keyOf = (kind: string, namespace: string | undefined, name: string): string =>
  `${kind}/${namespace ?? ""}/${name}`;

const nft = (cmd: string, args: readonly string[], opts?: { input?: string }): Promise<string> =>
  run(cmd, args, opts?.input !== undefined ? { input: opts.input } : {});

export class FullPipelinePolicy implements PolicyProgrammer {
  private readonly objects = new Map<string, PolicyObject>();
  private dirty = true;
  private programmed: PolicyIR | undefined;
  private current: PolicyIR | undefined;
  private policyCount = 0;

  constructor(private readonly node: string) {}

  upsert(obj: PolicyObject): readonly FieldProblem[] {
    if (isPolicyKind(obj.apiVersion, obj.kind)) {
      const r = validatePolicy(obj);
      if (!r.ok) {
        // A bad policy is not enforced half-way: the last good version of it stays out too.
        this.remove(obj.kind, obj.metadata.namespace, obj.metadata.name, obj.apiVersion);
        return r.problems;
      }
    }
    this.objects.set(keyOf(`${obj.apiVersion} ${obj.kind}`, obj.metadata.namespace, obj.metadata.name), obj);
    this.dirty = true;
    return [];
  }

  remove(kind: string, namespace: string | undefined, name: string, apiVersion?: string): void {
    for (const k of [...this.objects.keys()])
      if (
        k === keyOf(`${apiVersion ?? ""} ${kind}`, namespace, name) ||
        (apiVersion === undefined && k.endsWith(keyOf(` ${kind}`, namespace, name)))
      ) {
        this.objects.delete(k);
        this.dirty = true;
      }
  }

  private compileNow(): PolicyIR {
    if (!this.dirty && this.current) return this.current;
    const loaded = loadStateText(
      JSON.stringify({ apiVersion: "v1", kind: "List", items: [...this.objects.values()] }),
    );
    this.policyCount = loaded.policies.length;
    this.current = compile({ state: loaded.state, policies: loaded.policies, node: this.node });
    this.dirty = false;
    return this.current;
  }

  async program(): Promise<ProgramReport> {
    const began = performance.now();
    const ir = this.compileNow();
    if (this.programmed === ir) return { kind: "none", ms: 0, setElements: 0, chains: 0 };
    if (!this.programmed) return this.resync();
    const doc = renderDiff(this.programmed, ir);
    try {
      await applyNft(nft, doc);
    } catch {
      // The kernel did not hold what we thought (edited by hand, or a failed batch): load it whole.
      this.programmed = undefined;
      return this.resync();
    }
    this.programmed = ir;
    return report("incremental", began, doc.nftables);
  }

  async resync(): Promise<ProgramReport> {
    const began = performance.now();
    const ir = this.compileNow();
    const doc = renderFull(ir);
    await applyNft(nft, doc);
    this.programmed = ir;
    return report("full", began, doc.nftables);
  }

  stats(): PolicyStats {
    const ir = this.current;
    if (!ir) return { policies: 0, sets: 0, setElements: 0, rules: 0 };
    return {
      policies: this.policyCount,
      sets: ir.sets.length,
      setElements: ir.sets.reduce((n, s) => n + s.elements.length, 0),
      rules:
        ir.policyChains.reduce((n, c) => n + c.rules.length, 0) +
        ir.endpointChains.reduce((n, c) => n + c.extended.length + c.kubernetes.length + 1, 0),
    };
  }

  /**
   * Packets dropped because of each policy: its deny rules, plus the default drop of every endpoint
   * chain it isolates (counted once per policy selecting that endpoint).
   */
  async drops(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const ir = this.programmed;
    if (!ir) return out;
    const rules = await listTortie(nft);
    if (!rules) return out;
    const chainPolicy = new Map(ir.policyChains.map((c) => [c.name, refText(c.policy)]));
    const isolating = new Map(
      ir.endpointChains.map((c) => [
        c.name,
        [...c.extended, ...c.kubernetes].map((p) => chainPolicy.get(p)).filter((x): x is string => !!x),
      ]),
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
          : [];
      for (const o of owners) out.set(o, (out.get(o) ?? 0) + packets);
    }
    return out;
  }
}

function report(kind: "full" | "incremental", began: number, cmds: readonly unknown[]): ProgramReport {
  let setElements = 0;
  let chains = 0;
  for (const c of cmds) {
    const body = Object.values(c as Record<string, Record<string, unknown>>)[0] ?? {};
    if ("element" in body) setElements++;
    if ("chain" in body) chains++;
  }
  return { kind, ms: performance.now() - began, setElements, chains };
}
