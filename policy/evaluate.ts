/**
 * Evaluates a packet against the IR exactly as the dataplane does: preamble aside (we judge the
 * initiating packet), the source endpoint's egress chain, then the destination endpoint's ingress
 * chain, each found through the interface dispatch. `tortie policy explain` and the oracle tests use
 * this, so they check the form the renderers consume, not the policy model.
 */
import { parseAddr } from "./cidr.js";
import type {
  AddrProtoPort,
  Direction,
  EndpointChain,
  EndpointKey,
  Family,
  IRRule,
  IRSet,
  PolicyIR,
  PortEntry,
  ProtoNumber,
  RuleMatch,
  TierChains,
} from "./ir.js";
import { parseCidr } from "./cidr.js";
import { DEFAULT_TIER } from "./ir.js";

/** The first packet of a connection, as the kernel sees it. */
export interface Packet {
  readonly family: Family;
  readonly src: string;
  readonly dst: string;
  readonly proto: ProtoNumber;
  readonly srcPort?: number;
  readonly dstPort?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
}

/** One step of the walk, for explain traces. */
export interface TraceStep {
  readonly chain: string;
  readonly rule: IRRule;
}

export type Decision =
  | { readonly by: "rule"; readonly rule: IRRule; readonly policyChain: string }
  | {
      readonly by: "default";
      readonly reason:
        "isolated" | "not-isolated" | "isolated-after-pass" | "not-isolated-after-pass" | "tiers-passed";
    }
  /** A Calico tier selected the endpoint, no policy of it decided, and its default action is Deny. */
  | { readonly by: "end-of-tier"; readonly tier: string }
  | { readonly by: "no-endpoint" };

export interface DirectionVerdict {
  readonly direction: Direction;
  /** The endpoint whose chain judged, or null when the address is not a local endpoint. */
  readonly endpoint: EndpointKey | null;
  readonly chain: string | null;
  readonly action: "allow" | "deny";
  readonly decision: Decision;
  /** Log rules hit on the way. */
  readonly logged: readonly TraceStep[];
  /** Tiers that passed the packet on before the decision, in order. */
  readonly passes: readonly TierPass[];
}

/** A tier that passed a packet on: by a rule's Pass, or (no rule) by its default action Pass. */
export interface TierPass {
  readonly tier: string;
  readonly by: TraceStep | null;
}

export interface Verdict {
  readonly action: "allow" | "deny";
  readonly egress: DirectionVerdict;
  readonly ingress: DirectionVerdict;
}

const L4_PORTS: readonly number[] = [6, 17, 132, 136];

function inPorts(port: number | undefined, entries: readonly PortEntry[]): boolean {
  if (port === undefined) return false;
  return entries.some((e) => (typeof e === "number" ? e === port : e[0] <= port && port <= e[1]));
}

/** Evaluation of set membership against the IR's own element lists. */
export class IREvaluator {
  private readonly sets: Map<string, IRSet>;
  private readonly chains: Map<string, EndpointChain>;
  private readonly policyChains: Map<string, readonly IRRule[]>;

  constructor(readonly ir: PolicyIR) {
    this.sets = new Map(ir.sets.map((s) => [s.name, s]));
    this.chains = new Map(ir.endpointChains.map((c) => [c.name, c]));
    this.policyChains = new Map(ir.policyChains.map((c) => [c.name, c.rules]));
  }

  private set(name: string): IRSet {
    const s = this.sets.get(name);
    if (!s) throw new Error(`IR references missing set ${name}`);
    return s;
  }

  inAddrSet(name: string, addr: string): boolean {
    const s = this.set(name);
    const a = parseAddr(addr);
    if (s.kind !== "addr" || !a || a.family !== s.family) return false;
    return s.elements.some((c) => {
      const iv = parseCidr(c);
      return iv !== null && iv.lo <= a.value && a.value <= iv.hi;
    });
  }

  inNamedPortSet(name: string, addr: string, proto: number, port: number | undefined): boolean {
    const s = this.set(name);
    const a = parseAddr(addr);
    if (s.kind !== "named-port" || !a || a.family !== s.family || port === undefined) return false;
    return s.elements.some((e: AddrProtoPort) => e.addr === a.text && e.proto === proto && e.port === port);
  }

  ruleMatches(rule: IRRule, p: Packet): boolean {
    if (rule.family !== null && rule.family !== p.family) return false;
    const m: RuleMatch = rule.match;
    if (m.protocol && (m.protocol.proto === p.proto) === m.protocol.negate) return false;
    for (const s of m.src ?? []) if (this.inAddrSet(s.set, p.src) === s.negate) return false;
    for (const s of m.dst ?? []) if (this.inAddrSet(s.set, p.dst) === s.negate) return false;
    const hasPorts = L4_PORTS.includes(p.proto);
    for (const pm of m.srcPorts ?? [])
      if (!hasPorts || inPorts(p.srcPort, pm.ports) === pm.negate) return false;
    for (const pm of m.dstPorts ?? [])
      if (!hasPorts || inPorts(p.dstPort, pm.ports) === pm.negate) return false;
    for (const np of m.dstNamedPorts ?? [])
      if (!hasPorts || this.inNamedPortSet(np.set, p.dst, p.proto, p.dstPort) === np.negate) return false;
    for (const ic of m.icmp ?? []) {
      const hit = p.icmpType === ic.type && (ic.code === undefined || p.icmpCode === ic.code);
      if (hit === ic.negate) return false;
    }
    return true;
  }

  /** Runs one endpoint chain with the tier semantics documented on EndpointChain. */
  evaluateChain(chainName: string, p: Packet): Omit<DirectionVerdict, "endpoint" | "chain"> {
    const chain = this.chains.get(chainName);
    if (!chain) throw new Error(`IR dispatches to missing chain ${chainName}`);
    const logged: TraceStep[] = [];
    const passes: TierPass[] = [];
    const runPolicy = (pc: string): { rule: IRRule } | null => {
      for (const rule of this.policyChains.get(pc) ?? []) {
        if (!this.ruleMatches(rule, p)) continue;
        if (rule.action === "log") {
          logged.push({ chain: pc, rule });
          continue;
        }
        return { rule };
      }
      return null;
    };
    type Result = Omit<DirectionVerdict, "endpoint" | "chain">;
    const decided = (pc: string, rule: IRRule): Result => ({
      direction: chain.direction,
      action: rule.action === "allow" ? "allow" : "deny",
      decision: { by: "rule", rule, policyChain: pc },
      logged,
      passes,
    });
    // A tier other than the default one: a verdict, or null when it passes.
    const runTier = (t: TierChains): Result | null => {
      for (const pc of t.policies) {
        const hit = runPolicy(pc);
        if (!hit) continue;
        if (hit.rule.action === "pass") {
          passes.push({ tier: t.tier, by: { chain: pc, rule: hit.rule } });
          return null;
        }
        return decided(pc, hit.rule);
      }
      if (t.endAction === "pass") {
        passes.push({ tier: t.tier, by: null });
        return null;
      }
      return {
        direction: chain.direction,
        action: "deny",
        decision: { by: "end-of-tier", tier: t.tier },
        logged,
        passes,
      };
    };
    let tierPassed = false;
    for (const t of chain.tiersBefore ?? []) {
      const r = runTier(t);
      if (r) return r;
      tierPassed = true;
    }
    let passed = false;
    for (const pc of chain.extended) {
      const hit = runPolicy(pc);
      if (!hit) continue;
      if (hit.rule.action === "pass") {
        passed = true;
        passes.push({ tier: DEFAULT_TIER, by: { chain: pc, rule: hit.rule } });
        break;
      }
      return decided(pc, hit.rule);
    }
    for (const pc of chain.kubernetes) {
      const hit = runPolicy(pc);
      if (hit && hit.rule.action === "allow") return decided(pc, hit.rule);
    }
    const action = passed ? chain.endActionAfterPass : chain.endAction;
    const reason = passed
      ? action === "deny"
        ? "isolated-after-pass"
        : "not-isolated-after-pass"
      : action === "deny"
        ? "isolated"
        : "not-isolated";
    const after = chain.tiersAfter ?? [];
    if (action === "deny" || (after.length === 0 && !tierPassed))
      return { direction: chain.direction, action, decision: { by: "default", reason }, logged, passes };
    for (const t of after) {
      const r = runTier(t);
      if (r) return r;
    }
    return {
      direction: chain.direction,
      action: "allow",
      decision: { by: "default", reason: "tiers-passed" },
      logged,
      passes,
    };
  }

  private direction(dir: Direction, ifName: string | null, p: Packet): DirectionVerdict {
    const entries = dir === "egress" ? this.ir.dispatch.fromEndpoint : this.ir.dispatch.toEndpoint;
    const entry = ifName === null ? undefined : entries.find((e) => e.ifName === ifName);
    if (!entry)
      return {
        direction: dir,
        endpoint: null,
        chain: null,
        action: "allow",
        decision: { by: "no-endpoint" },
        logged: [],
        passes: [],
      };
    const ep = this.ir.endpoints.find((e) => e.ifName === ifName);
    return {
      ...this.evaluateChain(entry.chain, p),
      endpoint: ep ? { namespace: ep.namespace, pod: ep.pod } : null,
      chain: entry.chain,
    };
  }

  /**
   * The verdict for a packet leaving interface `fromIf` (the source pod's host veth, null if the
   * source is not a local pod) and entering `toIf`.
   */
  evaluate(fromIf: string | null, toIf: string | null, p: Packet): Verdict {
    const egress = this.direction("egress", fromIf, p);
    const ingress = this.direction("ingress", toIf, p);
    return {
      action: egress.action === "allow" && ingress.action === "allow" ? "allow" : "deny",
      egress,
      ingress,
    };
  }
}
