/**
 * Puts a PolicyCalc's desired state into the kernel (felix's dataplane managers, in small). The first
 * program() and every resync() are one full atomic transaction; later calls write only the sets,
 * chains and dispatch entries the calculation touched, compared with what this programmer last put
 * in the kernel:
 * - nft, set elements only (a pod label or address change): one nf_tables netlink batch
 *   (core/netlink/nftables.ts), no nft process, no re-reading of the ruleset;
 * - nft, anything else (a policy change: chains flushed and refilled, sets made or deleted,
 *   dispatch entries): the minimal transaction for the touched objects (renderDiff of the two
 *   partial IRs), encoded as nf_tables netlink messages (policy/nft/netlink.ts) and sent as one
 *   atomic batch on the same socket. When the encoder has no descriptor for something in it, or the
 *   kernel refuses the batch (which then changed nothing), the same JSON goes through `nft -j -f`:
 *   a fallback, counted in the report;
 * - iptables: `ipset restore` add/del lines for touched sets, `iptables-restore --noflush` of the
 *   touched chains only (tortie-from/-to when dispatch changed).
 * A failed write leaves the kernel as it was (each step is atomic) and makes the next program() a
 * full transaction, so nothing is lost.
 */
import { run as exec } from "../core/exec.js";
import { log } from "../core/log.js";
import {
  NftSetError,
  NftSets,
  type SetChange,
  type SetElement,
  addrKey,
  cidrElements,
  concatKey,
  portField,
  protoField,
} from "../core/netlink/nftables.js";
import type { Delta, ElementDelta, PolicyCalc } from "./calc.js";
import type { EndpointChain, IREndpoint, IRSet, PolicyChain, PolicyIR } from "./ir.js";
import { PREAMBLE } from "./ir.js";
import { applyIptables } from "./iptables/apply.js";
import {
  BASE_CHAIN,
  FROM_CHAIN,
  TO_CHAIN,
  iptablesRestoreText,
  ipsetOf,
  renderIptables,
} from "./iptables/render.js";
import { applyNft, ruleCounters, type Runner } from "./nft/apply.js";
import { Unsupported, transactionOf } from "./nft/netlink.js";
import { deepEqual } from "./equal.js";
import { MAP_FROM, MAP_TO, TABLE, renderDiff, renderFullText } from "./nft/render.js";
import type { NftDocument } from "./nft/schema.js";
import type { Request } from "../core/netlink/socket.js";

export interface ProgramReport {
  readonly kind: "full" | "incremental";
  readonly ms: number;
  /** Set elements added plus removed (all of them for a full transaction). */
  readonly setElements: number;
  /** Chains created, rewritten or deleted (all of them for a full transaction). */
  readonly chains: number;
  /**
   * How the change reached the kernel: nf_tables netlink messages sent directly, the `nft` CLI, or
   * nothing to write. A full transaction always goes through `nft -j -f`.
   */
  readonly via?: "netlink" | "nft" | "none";
  /** Why an incremental nft change went through the CLI instead of netlink (the encoder's or kernel's word). */
  readonly fallback?: string;
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

/** What a programmer last put into the kernel, by name. */
class Applied {
  sets = new Map<string, IRSet>();
  policyChains = new Map<string, PolicyChain>();
  endpointChains = new Map<string, EndpointChain>();
  endpoints = new Map<string, IREndpoint>();

  static of(ir: PolicyIR): Applied {
    const a = new Applied();
    for (const s of ir.sets) a.sets.set(s.name, s);
    for (const c of ir.policyChains) a.policyChains.set(c.name, c);
    for (const c of ir.endpointChains) a.endpointChains.set(c.name, c);
    for (const e of ir.endpoints) a.endpoints.set(e.ifName, e);
    return a;
  }

  /** The part of the applied IR the delta names. */
  part(d: Delta): PolicyIR {
    return partial(
      d,
      (n) => this.sets.get(n),
      (n) => this.policyChains.get(n),
      (n) => this.endpointChains.get(n),
      (i) => this.endpoints.get(i),
    );
  }

  update(d: Delta, to: PolicyIR): void {
    for (const n of d.sets) this.sets.delete(n);
    for (const n of d.chains) {
      this.policyChains.delete(n);
      this.endpointChains.delete(n);
    }
    for (const i of d.endpoints) this.endpoints.delete(i);
    for (const s of to.sets) this.sets.set(s.name, s);
    for (const c of to.policyChains) this.policyChains.set(c.name, c);
    for (const c of to.endpointChains) this.endpointChains.set(c.name, c);
    for (const e of to.endpoints) this.endpoints.set(e.ifName, e);
  }
}

function partial(
  d: Delta,
  set: (n: string) => IRSet | undefined,
  pc: (n: string) => PolicyChain | undefined,
  ec: (n: string) => EndpointChain | undefined,
  ep: (i: string) => IREndpoint | undefined,
): PolicyIR {
  const some = <T>(xs: Iterable<string>, f: (n: string) => T | undefined): T[] =>
    [...xs].flatMap((n) => {
      const v = f(n);
      return v === undefined ? [] : [v];
    });
  const endpoints = some(d.endpoints, ep);
  return {
    node: null,
    preamble: PREAMBLE,
    sets: some(d.sets, set),
    policyChains: some(d.chains, pc),
    endpointChains: some(d.chains, ec),
    endpoints,
    dispatch: {
      fromEndpoint: endpoints.map((e) => ({ ifName: e.ifName, chain: e.egressChain })),
      toEndpoint: endpoints.map((e) => ({ ifName: e.ifName, chain: e.ingressChain })),
    },
  };
}

function calcPart(calc: PolicyCalc, d: Delta): PolicyIR {
  return partial(
    d,
    (n) => calc.setIR(n),
    (n) => calc.policyChain(n),
    (n) => calc.endpointChain(n),
    (i) => calc.endpoint(i),
  );
}

const elementCount = (ir: PolicyIR): number => ir.sets.reduce((a, s) => a + s.elements.length, 0);
const chainCount = (ir: PolicyIR): number => ir.policyChains.length + ir.endpointChains.length;

/** Elements of a set as comparable keys. */
function elementKeys(s: IRSet): Map<string, IRSet["elements"][number]> {
  return new Map(
    (s.elements as ReadonlyArray<IRSet["elements"][number]>).map((e) => [
      typeof e === "string" ? e : `${e.addr}|${e.proto}|${e.port}`,
      e,
    ]),
  );
}

/** Element changes of sets present on both sides; null when a set appears or disappears. */
function elementChanges(
  from: PolicyIR,
  to: PolicyIR,
  known?: ReadonlyMap<string, ElementDelta>,
): Array<{ set: IRSet; add: readonly unknown[]; del: readonly unknown[] }> | null {
  const before = new Map(from.sets.map((s) => [s.name, s]));
  if (from.sets.length !== to.sets.length) return null;
  const out: Array<{ set: IRSet; add: readonly unknown[]; del: readonly unknown[] }> = [];
  for (const s of to.sets) {
    const b = before.get(s.name);
    if (!b) return null;
    // Pods joining or leaving: the calculation counted the elements as it went; no set-sized diff.
    const k = known?.get(s.name);
    if (k) {
      if (k.add.length || k.del.length) out.push({ set: s, add: k.add, del: k.del });
      continue;
    }
    const kb = elementKeys(b);
    const ka = elementKeys(s);
    const add = [...ka].filter(([k]) => !kb.has(k)).map(([, e]) => e);
    const del = [...kb].filter(([k]) => !ka.has(k)).map(([, e]) => e);
    if (add.length || del.length) out.push({ set: s, add, del });
  }
  return out;
}

/** How many chains differ between two partial IRs (added, removed or changed). */
function changedChains(from: PolicyIR, to: PolicyIR, names: ReadonlySet<string>): number {
  const f = new Map<string, unknown>([...from.policyChains, ...from.endpointChains].map((c) => [c.name, c]));
  const t = new Map<string, unknown>([...to.policyChains, ...to.endpointChains].map((c) => [c.name, c]));
  let n = 0;
  for (const name of names) if (!deepEqual(f.get(name), t.get(name))) n++;
  return n;
}

function nlElement(set: IRSet, e: unknown): SetElement[] {
  if (set.kind === "addr") return cidrElements(e as string);
  const x = e as { addr: string; proto: number; port: number };
  return [{ key: concatKey([addrKey(x.addr), protoField(x.proto), portField(x.port)]) }];
}

type Written = Pick<ProgramReport, "setElements" | "chains" | "via" | "fallback">;

abstract class BaseProgrammer implements Programmer {
  protected applied: Applied | null = null;

  async program(calc: PolicyCalc): Promise<ProgramReport> {
    const applied = this.applied;
    if (!applied) return this.resync(calc);
    const t0 = performance.now();
    const d = calc.takeDelta();
    const from = applied.part(d);
    const to = calcPart(calc, d);
    let r: Written;
    try {
      r = await this.write(from, to, d, calc);
    } catch (err) {
      this.applied = null;
      throw err;
    }
    applied.update(d, to);
    return { kind: "incremental", ms: performance.now() - t0, ...r };
  }

  async resync(calc: PolicyCalc): Promise<ProgramReport> {
    const t0 = performance.now();
    calc.takeDelta();
    const ir = calc.ir();
    this.applied = null;
    await this.writeFull(ir);
    this.applied = Applied.of(ir);
    return {
      kind: "full",
      ms: performance.now() - t0,
      setElements: elementCount(ir),
      chains: chainCount(ir),
      via: this.fullVia,
    };
  }

  protected abstract write(from: PolicyIR, to: PolicyIR, d: Delta, calc: PolicyCalc): Promise<Written>;
  protected abstract writeFull(ir: PolicyIR): Promise<void>;
  protected abstract readonly fullVia: ProgramReport["via"];
  abstract close(): void;
}

/** Lowers a diff to one nf_tables transaction, or throws `Unsupported`. */
export type NftEncoder = (doc: NftDocument) => Request[];

class NftProgrammer extends BaseProgrammer {
  private nl: NftSets | null = null;
  protected readonly fullVia = "nft";

  constructor(
    private readonly run: Runner,
    private readonly netns: string | undefined,
    private readonly encode: NftEncoder = (doc) => transactionOf(doc),
  ) {
    super();
  }

  private socket(): NftSets {
    return (this.nl ??= new NftSets(this.netns));
  }

  protected async write(from: PolicyIR, to: PolicyIR, d: Delta): Promise<Written> {
    const elems = d.chains.size === 0 && d.endpoints.size === 0 ? elementChanges(from, to, d.elements) : null;
    if (elems) {
      const changes: SetChange[] = elems.map((c) => ({
        family: "inet",
        table: TABLE,
        set: c.set.name,
        add: c.add.flatMap((e) => nlElement(c.set, e)),
        remove: c.del.flatMap((e) => nlElement(c.set, e)),
      }));
      if (changes.length) await this.socket().apply(changes);
      return {
        setElements: elems.reduce((a, c) => a + c.add.length + c.del.length, 0),
        chains: 0,
        via: changes.length ? "netlink" : "none",
      };
    }
    const doc = renderDiff(from, to);
    const counts = { setElements: diffElements(doc), chains: changedChains(from, to, d.chains) };
    if (doc.nftables.length === 0) return { ...counts, via: "none" };
    let fallback: string;
    try {
      await this.socket().send(this.encode(doc));
      return { ...counts, via: "netlink" };
    } catch (err) {
      // Nothing was written: the encoder failed before sending, or the kernel refused the whole batch.
      if (!(err instanceof Unsupported) && !(err instanceof NftSetError)) throw err;
      fallback = err.message;
      log().warn({ err: err.message }, "policy change through nft -j -f instead of netlink");
    }
    await applyNft(this.run, doc);
    return { ...counts, via: "nft", fallback };
  }

  protected async writeFull(ir: PolicyIR): Promise<void> {
    // A resync replaces the table whole: each rule takes its count over, or drops would no longer
    // be attributable past the last resync.
    await applyNft(this.run, renderFullText(ir, await ruleCounters(this.run)));
  }

  close(): void {
    this.nl?.close();
    this.nl = null;
  }
}

/** Set elements a diff adds or deletes, dispatch entries not counted. */
function diffElements(doc: NftDocument): number {
  let n = 0;
  for (const c of doc.nftables) {
    const op = Object.values(c)[0] as Record<string, unknown>;
    const el = op["element"] as { name?: string; elem?: unknown[] } | undefined;
    if (el && el.name !== MAP_FROM && el.name !== MAP_TO) n += (el.elem ?? []).length;
  }
  return n;
}

class IptablesProgrammer extends BaseProgrammer {
  protected readonly fullVia = undefined;

  constructor(private readonly run: Runner) {
    super();
  }

  protected async write(from: PolicyIR, to: PolicyIR, d: Delta, calc: PolicyCalc): Promise<Written> {
    // 1. Sets: new ones created and filled, changed ones edited in place (every line is atomic for
    //    the packet path; the add/del of one change go in one `ipset restore`).
    const before = new Map(from.sets.map((s) => [s.name, ipsetOf(s)]));
    const after = new Map(to.sets.map((s) => [s.name, ipsetOf(s)]));
    const lines: string[] = [];
    let setElements = 0;
    for (const [n, s] of after) {
      const b = before.get(n);
      if (!b) lines.push(`create ${s.name} ${s.type} family ${s.family} -exist`);
      const had = new Set(b?.elements ?? []);
      const has = new Set(s.elements);
      for (const e of had)
        if (!has.has(e)) {
          lines.push(`del ${s.name} ${e} -exist`);
          setElements++;
        }
      for (const e of has)
        if (!had.has(e)) {
          lines.push(`add ${s.name} ${e} -exist`);
          setElements++;
        }
    }
    if (lines.length) await this.run("ipset", ["restore", "-!"], { input: `${lines.join("\n")}\n` });
    // 2. Chains: the touched ones, and the dispatch chains when endpoints came, went or moved.
    const chains = changedChains(from, to, d.chains);
    if (chains > 0 || d.endpoints.size > 0) {
      const part = renderIptables(to);
      const full = d.endpoints.size > 0 ? renderIptables(calc.ir()) : null;
      const gone = [...from.policyChains, ...from.endpointChains]
        .map((c) => c.name)
        .filter(
          (n) => !to.policyChains.some((c) => c.name === n) && !to.endpointChains.some((c) => c.name === n),
        );
      for (const [fam, restore] of [
        ["v4", "iptables-restore"],
        ["v6", "ip6tables-restore"],
      ] as const) {
        const write = new Map<string, readonly string[]>();
        for (const [name, rules] of part[fam])
          if (name !== BASE_CHAIN && name !== FROM_CHAIN && name !== TO_CHAIN) write.set(name, rules);
        if (full) for (const name of [FROM_CHAIN, TO_CHAIN]) write.set(name, full[fam].get(name) ?? []);
        await this.run(restore, ["--noflush"], { input: iptablesRestoreText(write, { stale: gone }) });
      }
    }
    // 3. Sets nothing refers to any more.
    for (const [n, s] of before) if (!after.has(n)) await this.run("ipset", ["destroy", s.name]);
    return { setElements, chains };
  }

  protected async writeFull(ir: PolicyIR): Promise<void> {
    await applyIptables(this.run, renderIptables(ir));
  }

  close(): void {}
}

export function makeProgrammer(opts: {
  backend: "nft" | "iptables";
  netns?: string;
  run?: Runner;
  nftEncoder?: NftEncoder;
}): Programmer {
  const run = opts.run ?? runnerFor(opts.netns);
  return opts.backend === "nft"
    ? new NftProgrammer(run, opts.netns, opts.nftEncoder)
    : new IptablesProgrammer(run);
}
