/**
 * Puts a PolicyCalc's desired state into the kernel. The first program() and every resync() are one
 * full atomic transaction; later calls send only what changed.
 */
import { run as exec } from "../core/exec.js";
import type { PolicyCalc } from "./calc.js";
import type { PolicyIR } from "./ir.js";
import { applyIptables } from "./iptables/apply.js";
import { renderIptables } from "./iptables/render.js";
import { applyNft, type Runner } from "./nft/apply.js";
import { renderDiff, renderFull } from "./nft/render.js";

export interface ProgramReport {
  readonly kind: "full" | "incremental";
  readonly ms: number;
  /** Set elements added plus removed. */
  readonly setElements: number;
  /** Chains written (created, rewritten or deleted). */
  readonly chains: number;
}

export interface Programmer {
  program(calc: PolicyCalc): Promise<ProgramReport>;
  resync(calc: PolicyCalc): Promise<ProgramReport>;
  close(): void;
}

export function runnerFor(netns?: string): Runner {
  return netns
    ? (cmd, args, o) => exec("ip", ["netns", "exec", netns, cmd, ...args], o ?? {})
    : (cmd, args, o) => exec(cmd, args, o ?? {});
}

const elementCount = (ir: PolicyIR): number => ir.sets.reduce((a, s) => a + s.elements.length, 0);
const chainCount = (ir: PolicyIR): number => ir.policyChains.length + ir.endpointChains.length;

class NftProgrammer implements Programmer {
  private applied: PolicyIR | null = null;
  constructor(private readonly run: Runner) {}

  async program(calc: PolicyCalc): Promise<ProgramReport> {
    if (!this.applied) return this.resync(calc);
    const t0 = performance.now();
    const ir = calc.ir();
    const doc = renderDiff(this.applied, ir);
    await applyNft(this.run, doc);
    this.applied = ir;
    let setElements = 0;
    let chains = 0;
    for (const c of doc.nftables) {
      const op = Object.values(c)[0] as Record<string, unknown>;
      if ("element" in op) setElements += ((op["element"] as { elem?: unknown[] }).elem ?? []).length;
      if ("chain" in op) chains++;
    }
    return { kind: "incremental", ms: performance.now() - t0, setElements, chains };
  }

  async resync(calc: PolicyCalc): Promise<ProgramReport> {
    const t0 = performance.now();
    const ir = calc.ir();
    await applyNft(this.run, renderFull(ir));
    this.applied = ir;
    return {
      kind: "full",
      ms: performance.now() - t0,
      setElements: elementCount(ir),
      chains: chainCount(ir),
    };
  }

  close(): void {}
}

class IptablesProgrammer implements Programmer {
  private programmed = false;
  constructor(private readonly run: Runner) {}

  async program(calc: PolicyCalc): Promise<ProgramReport> {
    const kind = this.programmed ? "incremental" : "full";
    const r = await this.resync(calc);
    return { ...r, kind };
  }

  async resync(calc: PolicyCalc): Promise<ProgramReport> {
    const t0 = performance.now();
    const ir = calc.ir();
    await applyIptables(this.run, renderIptables(ir));
    this.programmed = true;
    return {
      kind: "full",
      ms: performance.now() - t0,
      setElements: elementCount(ir),
      chains: chainCount(ir),
    };
  }

  close(): void {}
}

export function makeProgrammer(opts: {
  backend: "nft" | "iptables";
  netns?: string;
  run?: Runner;
}): Programmer {
  const run = opts.run ?? runnerFor(opts.netns);
  return opts.backend === "nft" ? new NftProgrammer(run) : new IptablesProgrammer(run);
}
