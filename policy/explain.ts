/**
 * `tortie policy explain`: compile the state for every pod, then walk the IR for one connection.
 */
import { UserError } from "../core/errors.js";
import { hostIfName } from "../core/ifname.js";
import { parseAddr } from "./cidr.js";
import { calculate } from "./calc.js";
import { type DirectionVerdict, IREvaluator, type Packet } from "./evaluate.js";
import { type Direction, type Family, PROTO, type PolicyRef } from "./ir.js";
import { type Policy, refText } from "./model.js";
import type { LoadedState } from "./state.js";

export interface PortArg {
  readonly port: number;
  readonly protocol: "TCP" | "UDP" | "SCTP";
}

/** `80/TCP`, `53/udp`, `80` (TCP as in Kubernetes). */
export function parsePortArg(text: string): PortArg {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(text.trim());
  const port = m ? Number(m[1]) : NaN;
  if (!m || port < 1 || port > 65535)
    throw new UserError(
      `--port ${JSON.stringify(text)}: want PORT/PROTOCOL, e.g. 80/TCP (1-65535, TCP, UDP or SCTP)`,
    );
  const protocol = (m[2]?.toUpperCase() ?? "TCP") as PortArg["protocol"];
  return { port, protocol };
}

export interface PodArg {
  readonly namespace: string;
  readonly pod: string;
}
/** An address outside the cluster (a network set's, say), or a pod's address. */
export interface AddressArg {
  readonly address: string;
}

export function parsePodArg(flag: string, text: string): PodArg {
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(text);
  if (!m) throw new UserError(`${flag} ${JSON.stringify(text)}: want NAMESPACE/POD or an IP address`);
  return { namespace: m[1] ?? "", pod: m[2] ?? "" };
}

/** `NAMESPACE/POD`, or an IPv4 / IPv6 address. */
export function parseEndpointArg(flag: string, text: string): PodArg | AddressArg {
  const a = parseAddr(text.trim());
  return a ? { address: a.text } : parsePodArg(flag, text);
}

export interface DirectionReport {
  readonly direction: Direction;
  /** `ns/pod` whose chain judged. */
  readonly endpoint: string;
  readonly chain: string | null;
  readonly verdict: "allow" | "deny";
  /** The deciding policy, or null when the default decided. */
  readonly policy: PolicyRef | null;
  /** e.g. `spec.ingress[0]` (null for a default). */
  readonly rule: string | null;
  readonly ruleId: string | null;
  readonly action: string | null;
  readonly reason: string;
  /** Rule ids of Log rules hit on the way. */
  readonly logged: readonly string[];
  /**
   * Tiers that passed the packet on before the decision, e.g. `security (Pass by GlobalNetworkPolicy
   * security.guard spec.ingress[1])`, `team (its default action, Pass)`.
   */
  readonly passedBy: readonly string[];
}

export interface ExplainReport {
  readonly verdict: "allow" | "deny";
  readonly allowed: boolean;
  readonly from: string;
  readonly to: string;
  readonly port: number;
  readonly protocol: "TCP" | "UDP" | "SCTP";
  readonly family: Family;
  readonly src: string;
  readonly dst: string;
  /** The direction that decided: the denying one, else the one a rule allowed in. */
  readonly decidedBy: DirectionReport;
  readonly egress: DirectionReport;
  readonly ingress: DirectionReport;
}

const ruleField = (ref: PolicyRef | null, dir: Direction, index: number): string | null =>
  ref === null ? null : `spec.${dir}[${index}]`;

function report(v: DirectionVerdict, who: string, outside: boolean): DirectionReport {
  const d = v.decision;
  const logged = v.logged.map((s) => s.rule.id);
  const passedBy = v.passes.map((p) => {
    if (!p.by) return `${p.tier} (its default action, Pass)`;
    const o = p.by.rule.origin;
    return `${p.tier} (Pass by ${refText(o.policy)} spec.${o.direction}[${o.ruleIndex}])`;
  });
  if (d.by === "rule") {
    const o = d.rule.origin;
    return {
      direction: v.direction,
      endpoint: who,
      chain: v.chain,
      verdict: v.action,
      policy: o.policy,
      rule: ruleField(o.policy, o.direction, o.ruleIndex),
      ruleId: d.rule.id,
      action: d.rule.action,
      reason: `${d.rule.action} by ${refText(o.policy)} spec.${o.direction}[${o.ruleIndex}]`,
      logged,
      passedBy,
    };
  }
  const reasons: Record<string, string> = {
    isolated: `${who} is selected by a policy for ${v.direction} and no rule allows this (default deny)`,
    "not-isolated": `no policy selects ${who} for ${v.direction} (default allow)`,
    "isolated-after-pass": `passed to the Kubernetes tier, where a policy selects ${who} for ${v.direction} and no rule allows this (default deny)`,
    "not-isolated-after-pass": `passed to the Kubernetes tier, where no policy selects ${who} for ${v.direction} (default allow)`,
    "tiers-passed": `every tier with a policy for ${who}'s ${v.direction} passed it, and no policy of the default tier decided (default allow)`,
    "end-of-tier":
      d.by === "end-of-tier"
        ? `tier ${d.tier} has a policy for ${who}'s ${v.direction}, but none of them decided (the tier's default action: Deny)`
        : "",
    "no-endpoint": outside
      ? `${who} is no pod's address: no policy judges its ${v.direction}`
      : `${who} has no chain for ${v.direction}`,
  };
  const key = d.by === "default" ? d.reason : d.by;
  return {
    direction: v.direction,
    endpoint: who,
    chain: v.chain,
    verdict: v.action,
    policy: null,
    rule: null,
    ruleId: null,
    action: null,
    reason: reasons[key] ?? key,
    logged,
    passedBy,
  };
}

/** One end of the connection: a pod, or an address that is no pod's (nothing judges its side). */
interface End {
  readonly name: string;
  readonly ips: readonly string[];
  readonly ifName: string | null;
}

export function explain(
  loaded: LoadedState,
  from: PodArg | AddressArg,
  to: PodArg | AddressArg,
  port: PortArg,
): ExplainReport {
  const find = (k: PodArg | AddressArg, flag: string): End => {
    if ("address" in k) {
      const owner = loaded.state.pods.find((x) => x.ips.some((ip) => parseAddr(ip)?.text === k.address));
      return owner
        ? {
            name: `${owner.namespace}/${owner.name}`,
            ips: [k.address],
            ifName: hostIfName(owner.namespace, owner.name),
          }
        : { name: k.address, ips: [k.address], ifName: null };
    }
    const p = loaded.state.pods.find((x) => x.namespace === k.namespace && x.name === k.pod);
    if (!p) throw new UserError(`${flag} ${k.namespace}/${k.pod}: no such pod in the state file`);
    if (p.ips.length === 0)
      throw new UserError(`${flag} ${k.namespace}/${k.pod}: the pod has no IP (status.podIPs)`);
    return { name: `${p.namespace}/${p.name}`, ips: p.ips, ifName: hostIfName(p.namespace, p.name) };
  };
  const src = find(from, "--from");
  const dst = find(to, "--to");
  if (src.ifName === null && dst.ifName === null)
    throw new UserError("--from and --to are both addresses of no pod: one end must be a pod");
  const pick = (ips: readonly string[], f: Family): string | undefined =>
    ips.find((ip) => parseAddr(ip)?.family === f);
  const family: Family | null =
    pick(src.ips, 4) && pick(dst.ips, 4) ? 4 : pick(src.ips, 6) && pick(dst.ips, 6) ? 6 : null;
  if (family === null) throw new UserError("--from and --to have no IP family in common");
  const ir = calculate({ state: loaded.state, policies: loaded.policies, node: null });
  const packet: Packet = {
    family,
    src: pick(src.ips, family) ?? "",
    dst: pick(dst.ips, family) ?? "",
    proto: port.protocol === "TCP" ? PROTO.tcp : port.protocol === "UDP" ? PROTO.udp : PROTO.sctp,
    srcPort: 40000,
    dstPort: port.port,
  };
  const v = new IREvaluator(ir).evaluate(src.ifName, dst.ifName, packet);
  const egress = report(v.egress, src.name, src.ifName === null);
  const ingress = report(v.ingress, dst.name, dst.ifName === null);
  const decidedBy =
    egress.verdict === "deny"
      ? egress
      : ingress.verdict === "deny"
        ? ingress
        : ingress.policy !== null || egress.policy === null
          ? ingress
          : egress;
  return {
    verdict: v.action,
    allowed: v.action === "allow",
    from: src.name,
    to: dst.name,
    port: port.port,
    protocol: port.protocol,
    family,
    src: packet.src,
    dst: packet.dst,
    decidedBy,
    egress,
    ingress,
  };
}

/** The staged policies `explain --staged` committed, and the verdict without them. */
export interface StagedPreview {
  /** `Set StagedNetworkPolicy ns/name`, in file order; Learn and Ignore change nothing and are left out. */
  readonly applied: readonly string[];
  readonly verdictWithout: "allow" | "deny";
}

const sameIdentity = (p: Policy): string =>
  `${p.tier === "kubernetes" ? "k8s" : "ext"}/${p.ref.kind}/${p.ref.namespace ?? ""}/${p.ref.name}`;

/**
 * The state as it would be with its staged policies committed, as Calico commits them: Set puts the
 * staged policy in place of the enforced one of the same kind, namespace and name (or beside the
 * others when there is none), Delete removes that one, Learn and Ignore change nothing.
 */
export function commitStaged(loaded: LoadedState): {
  readonly loaded: LoadedState;
  readonly applied: string[];
} {
  let policies = [...loaded.policies];
  const applied: string[] = [];
  for (const s of loaded.staged ?? []) {
    if (s.action === "learn" || s.action === "ignore") continue;
    const id = sameIdentity(s.policy);
    policies = policies.filter((p) => sameIdentity(p) !== id);
    if (s.action === "set") policies.push(s.policy);
    const ref = s.policy.ref;
    applied.push(
      `${s.action === "set" ? "Set" : "Delete"} ${s.kind} ${ref.namespace === null ? ref.name : `${ref.namespace}/${ref.name}`}`,
    );
  }
  return { loaded: { ...loaded, policies }, applied };
}

export function explainText(r: ExplainReport & { readonly staged?: StagedPreview }): string {
  const line = (d: DirectionReport): string =>
    `  ${d.direction.padEnd(7)}  ${d.verdict.padEnd(5)}  ${d.reason}${d.ruleId ? ` (rule ${d.ruleId})` : ""}${
      d.logged.length ? `; logged by ${d.logged.join(", ")}` : ""
    }${d.passedBy.length ? `; passed on by tier ${d.passedBy.join(", then ")}` : ""}`;
  return [
    `${r.allowed ? "allowed" : "denied"}: ${r.from} -> ${r.to} ${r.port}/${r.protocol} (${r.src} -> ${r.dst})`,
    `  decided by ${r.decidedBy.direction} of ${r.decidedBy.endpoint}: ${r.decidedBy.reason}`,
    line(r.egress),
    line(r.ingress),
    ...(r.staged
      ? [
          `  with the staged policies committed (${r.staged.applied.length ? r.staged.applied.join(", ") : "none changes anything"}); without them: ${r.staged.verdictWithout === r.verdict ? "the same" : r.staged.verdictWithout === "allow" ? "allowed" : "denied"}`,
        ]
      : []),
  ].join("\n");
}
