/**
 * PolicyIR → ipset + iptables-restore, the legacy backend, with the nftables backend's semantics.
 *
 * iptables has one FORWARD traversal and no verdict maps, so it works as felix does: tortie's chains
 * hang off one `-j tortie-forward` in FORWARD; allow sets ACCEPT_MARK and returns up to the endpoint
 * chain, which returns to `tortie-forward`; the bit is cleared between the sender's egress and the
 * receiver's ingress. Deny is a DROP. Pass uses PASS_MARK as in the nft renderer. Dispatch is a
 * linear `-i`/`-o` list (iptables has no O(1) interface lookup; the nftables backend is the fast one).
 *
 * Only chains and sets tortie owns are written: chains `tortie-*` and the IR's `t[pe][ie]-*`,
 * ipsets `tortie-<IR set name>`. `iptables-restore --noflush` replaces exactly the chains declared.
 */
import type { RuleCounters } from "../nft/render.js";
import {
  PROTO,
  type IRRule,
  type IRSet,
  type PolicyIR,
  type PortEntry,
  type RuleMatch,
  endpointSteps,
} from "../ir.js";

export const ACCEPT_MARK = 0x00100000;
export const PASS_MARK = 0x00200000;
export const BASE_CHAIN = "tortie-forward";
export const FROM_CHAIN = "tortie-from";
export const TO_CHAIN = "tortie-to";
export const IPSET_PREFIX = "tortie-";
/** The one rule tortie adds to a chain it does not own. */
export const HOOK_RULE = `-A FORWARD -j ${BASE_CHAIN}`;
/** Chains tortie owns, by name: anything else in the filter table is left alone. */
export const OWNED_CHAIN = /^(tortie-[a-z-]+|t[pe][ie]-[0-9a-z]+)$/;

const MULTIPORT_MAX = 15;
const hex = (n: number): string => `0x${n.toString(16)}`;

export interface IpsetDef {
  readonly name: string;
  readonly type: "hash:net" | "hash:ip,port";
  readonly family: "inet" | "inet6";
  readonly elements: readonly string[];
}

export interface IptablesBundle {
  readonly ipsets: readonly IpsetDef[];
  /** Chain name → rule lines (`-A chain ...`), in order, for iptables and ip6tables. */
  readonly v4: ReadonlyMap<string, readonly string[]>;
  readonly v6: ReadonlyMap<string, readonly string[]>;
}

export function ipsetName(irName: string): string {
  return `${IPSET_PREFIX}${irName}`;
}

const PROTO_NAMES = new Map<number, string>(Object.entries(PROTO).map(([name, n]) => [n, name]));

function protoArg(n: number, family: 4 | 6): string {
  if (n === PROTO.icmpv6 && family === 6) return "ipv6-icmp";
  return PROTO_NAMES.get(n) ?? String(n);
}

/** hash:net cannot hold a /0; two halves cover the same space. */
function netElements(cidr: string): string[] {
  if (cidr === "0.0.0.0/0") return ["0.0.0.0/1", "128.0.0.0/1"];
  if (cidr === "::/0") return ["::/1", "8000::/1"];
  return [cidr];
}

export function ipsetOf(s: IRSet): IpsetDef {
  const family = s.family === 4 ? "inet" : "inet6";
  if (s.kind === "addr")
    return { name: ipsetName(s.name), type: "hash:net", family, elements: s.elements.flatMap(netElements) };
  return {
    name: ipsetName(s.name),
    type: "hash:ip,port",
    family,
    elements: s.elements.map((e) => `${e.addr},${PROTO_NAMES.get(e.proto) ?? e.proto}:${e.port}`),
  };
}

function portText(p: PortEntry): string {
  return typeof p === "number" ? String(p) : `${p[0]}:${p[1]}`;
}

/** multiport takes at most 15 ports, a range counting twice. */
function chunkPorts(ports: readonly PortEntry[]): PortEntry[][] {
  const chunks: PortEntry[][] = [];
  let cur: PortEntry[] = [];
  let used = 0;
  for (const p of ports) {
    const cost = typeof p === "number" ? 1 : 2;
    if (used + cost > MULTIPORT_MAX) {
      chunks.push(cur);
      cur = [];
      used = 0;
    }
    cur.push(p);
    used += cost;
  }
  if (cur.length) chunks.push(cur);
  return chunks;
}

const quote = (s: string): string => `"${s.replace(/["\\]/g, "")}"`;

/**
 * The match arguments of one rule, as alternatives: several when a positive port list needs more
 * than one multiport match (the rule is then repeated, once per alternative).
 */
export function matchArgs(rule: Pick<IRRule, "id" | "family" | "match">, family: 4 | 6): string[] {
  const m: RuleMatch = rule.match;
  const fixed: string[] = [];
  if (m.protocol) fixed.push(`${m.protocol.negate ? "! " : ""}-p ${protoArg(m.protocol.proto, family)}`);
  for (const [side, dir] of [
    [m.src, "src"],
    [m.dst, "dst"],
  ] as const)
    for (const s of side ?? [])
      fixed.push(`-m set ${s.negate ? "! " : ""}--match-set ${ipsetName(s.set)} ${dir}`);
  for (const n of m.dstNamedPorts ?? [])
    fixed.push(`-m set ${n.negate ? "! " : ""}--match-set ${ipsetName(n.set)} dst,dst`);
  for (const i of m.icmp ?? []) {
    const v = i.code === undefined ? `${i.type}` : `${i.type}/${i.code}`;
    fixed.push(
      family === 4
        ? `-m icmp ${i.negate ? "! " : ""}--icmp-type ${v}`
        : `-m icmp6 ${i.negate ? "! " : ""}--icmpv6-type ${v}`,
    );
  }
  let alts: string[][] = [fixed];
  for (const [side, flag] of [
    [m.srcPorts, "--sports"],
    [m.dstPorts, "--dports"],
  ] as const)
    for (const p of side ?? []) {
      const chunks = chunkPorts(p.ports);
      if (p.negate)
        // none of the ports: every chunk must miss (AND of negated matches).
        alts = alts.map((a) => [
          ...a,
          ...chunks.map((c) => `-m multiport ! ${flag} ${c.map(portText).join(",")}`),
        ]);
      else
        alts = alts.flatMap((a) =>
          chunks.map((c) => [...a, `-m multiport ${flag} ${c.map(portText).join(",")}`]),
        );
    }
  return alts.map((a) => a.join(" "));
}

function comment(id: string): string {
  return `-m comment --comment ${quote(id)}`;
}

function join(...parts: string[]): string {
  return parts.filter((p) => p !== "").join(" ");
}

function policyRules(chain: string, rule: IRRule, family: 4 | 6): string[] {
  const out: string[] = [];
  for (const m of matchArgs(rule, family)) {
    const head = join(`-A ${chain}`, m, comment(rule.id));
    switch (rule.action) {
      case "allow":
        out.push(`${head} -j MARK --set-xmark ${hex(ACCEPT_MARK)}/${hex(ACCEPT_MARK)}`);
        out.push(`-A ${chain} -m mark --mark ${hex(ACCEPT_MARK)}/${hex(ACCEPT_MARK)} -j RETURN`);
        break;
      case "deny":
        out.push(`${head} -j DROP`);
        break;
      case "pass":
        out.push(`${head} -j MARK --set-xmark ${hex(PASS_MARK)}/${hex(PASS_MARK)}`);
        out.push(`-A ${chain} -m mark --mark ${hex(PASS_MARK)}/${hex(PASS_MARK)} -j RETURN`);
        break;
      case "log":
        out.push(`${head} -j LOG --log-prefix ${quote(rule.logPrefix ?? `tortie ${rule.id.slice(0, 20)} `)}`);
        break;
    }
  }
  return out;
}

const endVerdict = (a: "allow" | "deny"): string => (a === "allow" ? "-j RETURN" : "-j DROP");

function chainsFor(ir: PolicyIR, family: 4 | 6): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  const acc = `${hex(ACCEPT_MARK)}/${hex(ACCEPT_MARK)}`;
  const both = hex(ACCEPT_MARK | PASS_MARK);
  chains.set(BASE_CHAIN, [
    `-A ${BASE_CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED ${comment("tortie:established")} -j ACCEPT`,
    `-A ${BASE_CHAIN} -m conntrack --ctstate INVALID ${comment("tortie:invalid")} -j DROP`,
    `-A ${BASE_CHAIN} -j MARK --set-xmark 0x0/${both}`,
    `-A ${BASE_CHAIN} -j ${FROM_CHAIN}`,
    `-A ${BASE_CHAIN} -j MARK --set-xmark 0x0/${both}`,
    `-A ${BASE_CHAIN} -j ${TO_CHAIN}`,
    `-A ${BASE_CHAIN} -j MARK --set-xmark 0x0/${both}`,
  ]);
  chains.set(
    FROM_CHAIN,
    ir.dispatch.fromEndpoint.map((e) => `-A ${FROM_CHAIN} -i ${e.ifName} -g ${e.chain}`),
  );
  chains.set(
    TO_CHAIN,
    ir.dispatch.toEndpoint.map((e) => `-A ${TO_CHAIN} -o ${e.ifName} -g ${e.chain}`),
  );
  for (const pc of ir.policyChains)
    chains.set(
      pc.name,
      pc.rules
        .filter((r) => r.family === null || r.family === family)
        .flatMap((r) => policyRules(pc.name, r, family)),
    );
  const pass = `${hex(PASS_MARK)}/${hex(PASS_MARK)}`;
  const unpassed = ` -m mark --mark 0x0/${hex(PASS_MARK)}`;
  for (const ec of ir.endpointChains) {
    const c = ec.name;
    chains.set(
      c,
      endpointSteps(ec).flatMap((st) => {
        switch (st.step) {
          case "clear-pass":
            return [`-A ${c} -j MARK --set-xmark 0x0/${hex(PASS_MARK)}`];
          case "jump":
            // An allow in the policy chain set ACCEPT_MARK and returned: it ends this chain too.
            return [
              `-A ${c}${st.unlessPassed ? unpassed : ""} -j ${st.chain}`,
              `-A ${c} -m mark --mark ${acc} -j RETURN`,
            ];
          case "verdict": {
            const when =
              st.when === "passed" ? ` -m mark --mark ${pass}` : st.when === "not-passed" ? unpassed : "";
            return [`-A ${c}${when} ${comment(`${c}:${st.id}`)} ${endVerdict(st.action)}`];
          }
        }
      }),
    );
  }
  return chains;
}

export function renderIptables(ir: PolicyIR): IptablesBundle {
  return { ipsets: ir.sets.map(ipsetOf), v4: chainsFor(ir, 4), v6: chainsFor(ir, 6) };
}

/**
 * `ipset restore` input that makes every set hold exactly its elements, each set replaced
 * atomically: filled under a temporary name, then swapped in.
 */
export function ipsetRestoreText(sets: readonly IpsetDef[]): string {
  const lines: string[] = [];
  for (const s of sets) {
    const tmp = `${s.name}-t`;
    lines.push(`create ${s.name} ${s.type} family ${s.family} -exist`);
    lines.push(`create ${tmp} ${s.type} family ${s.family} -exist`);
    lines.push(`flush ${tmp}`);
    for (const e of s.elements) lines.push(`add ${tmp} ${e}`);
    lines.push(`swap ${tmp} ${s.name}`);
    lines.push(`destroy ${tmp}`);
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}

const COUNTED = /^(?:\[(\d+):(\d+)\] )?-A (\S+) .*?--comment ("[^"]*"|\S+)/;

/**
 * Names each counted line of a filter table in `iptables-save` or `iptables-restore` form by its
 * chain, its comment and which of the chain's lines with that comment it is (an IR rule needs one
 * line per multiport alternative). Lines without a comment (marks, returns, dispatch) are plumbing
 * that no drop is attributed to, and get no name.
 */
function countedLines(
  lines: readonly string[],
  each: (i: number, key: string, m: RegExpExecArray) => void,
): void {
  const seen = new Map<string, number>();
  lines.forEach((line, i) => {
    const m = COUNTED.exec(line);
    if (!m) return;
    const base = `${m[3] ?? ""} ${(m[4] ?? "").replace(/^"|"$/g, "")}`;
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    each(i, `${base} ${n}`, m);
  });
}

/** The packet and byte counts of tortie's commented rules in `iptables-save -c` output. */
export function savedRuleCounters(save: string): RuleCounters {
  const out = new Map<string, { packets: number; bytes: number }>();
  countedLines(save.split("\n"), (_, key, m) => {
    const packets = Number(m[1] ?? 0);
    if (packets > 0 && OWNED_CHAIN.test(m[3] ?? "")) out.set(key, { packets, bytes: Number(m[2] ?? 0) });
  });
  return out;
}

/**
 * `iptables-restore --noflush` input for the filter table: declaring a chain creates or empties
 * it, so the whole set of tortie's chains is replaced in one commit. `stale` chains (tortie's,
 * no longer wanted) are emptied and removed; `hook` adds the jump from FORWARD when it is missing.
 * With `counters` (from `savedRuleCounters`; the input is then for `iptables-restore --counters`)
 * each counted rule starts from the count the kernel held for it.
 */
export function iptablesRestoreText(
  chains: ReadonlyMap<string, readonly string[]>,
  opts: { stale?: readonly string[]; hook?: boolean; counters?: RuleCounters } = {},
): string {
  const lines = ["*filter"];
  for (const name of [...chains.keys(), ...(opts.stale ?? [])]) lines.push(`:${name} - [0:0]`);
  if (opts.hook) lines.push(`-I FORWARD 1 -j ${BASE_CHAIN}`);
  const counters = opts.counters;
  for (const rules of chains.values()) {
    if (!counters?.size) {
      lines.push(...rules);
      continue;
    }
    const out = [...rules];
    countedLines(rules, (i, key) => {
      const c = counters.get(key);
      if (c) out[i] = `[${c.packets}:${c.bytes}] ${rules[i] ?? ""}`;
    });
    lines.push(...out);
  }
  for (const name of opts.stale ?? []) lines.push(`-X ${name}`);
  lines.push("COMMIT");
  return `${lines.join("\n")}\n`;
}

/**
 * What `tortie policy render --backend iptables` prints: three sections for the three tools, each
 * headed by the command that takes it. The FORWARD hook line is included; `applyIptables` drops it
 * when the hook is already there.
 */
export function renderIptablesText(ir: PolicyIR): string {
  const b = renderIptables(ir);
  return [
    "# tortie: ipset restore -!",
    ipsetRestoreText(b.ipsets).trimEnd(),
    "# tortie: iptables-restore --noflush",
    iptablesRestoreText(b.v4, { hook: true }).trimEnd(),
    "# tortie: ip6tables-restore --noflush",
    iptablesRestoreText(b.v6, { hook: true }).trimEnd(),
    "",
  ].join("\n");
}
