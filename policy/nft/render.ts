/**
 * PolicyIR → nftables JSON. Everything lives in one `inet tortie` table; nothing outside it is
 * read or written.
 *
 * Shape of the table:
 * - One base chain on the forward hook, `forward` (priority filter): it accepts established and
 *   related traffic, drops invalid, then dispatches by input interface through the verdict map
 *   `from-endpoint` to the egress chain of the sending pod and, for traffic no local pod sent, by
 *   output interface through `to-endpoint` to the receiving pod's ingress chain. Every packet of a
 *   connection crosses the hook, so one chain instead of one per direction halves what an
 *   established packet costs there. An egress allow continues into the other direction itself: a
 *   goto to `to-ingress`, which goes on to the receiver's ingress chain through `to-endpoint` when
 *   it is a local pod and accepts otherwise. An ingress allow is `accept`, a deny `drop`; no marks.
 * - One chain per policy and direction (shared by every endpoint it selects) and two per local
 *   endpoint, which jump to the policy chains in the IR's order and end with the default verdict.
 * - Calico's Pass needs to leave a shared policy chain and skip the rest of the extended tier: it sets
 *   PASS_MARK and returns; the endpoint chain clears the bit first and tests it between jumps.
 */
import { deepEqual } from "../equal.js";
import {
  PROTO,
  type Direction,
  type EndpointChain,
  type IRRule,
  type IRSet,
  type PolicyChain,
  type PolicyIR,
  type RuleMatch,
  endpointSteps,
} from "../ir.js";
import type {
  NftChain,
  NftCommand,
  NftDocument,
  NftKey,
  NftMap,
  NftRule,
  NftSet,
  NftSetElem,
  NftStatement,
  NftValue,
} from "./schema.js";

export const TABLE = "tortie";
const FAMILY = "inet";
/** A packet mark bit tortie owns while a packet is in its chains (Calico Pass). */
export const PASS_MARK = 0x00200000;
const ALL_BITS = 0xffffffff;

export const BASE_CHAIN = "forward";
/** Where an egress allow goes on to: the receiver's ingress chain when it is a local pod, else accept. */
export const TO_INGRESS_CHAIN = "to-ingress";
export const MAP_FROM = "from-endpoint";
export const MAP_TO = "to-endpoint";

/** The rendered table as named objects, so two renderings diff by name. */
export interface NftTableModel {
  readonly sets: ReadonlyMap<string, NftSet>;
  readonly maps: ReadonlyMap<string, NftMap>;
  /** Every chain with its rules, base chains included. */
  readonly chains: ReadonlyMap<string, { readonly chain: NftChain; readonly rules: readonly NftRule[] }>;
}

const PROTO_NAMES = new Map<number, string>(Object.entries(PROTO).map(([name, n]) => [n, name]));

function protoValue(n: number): string | number {
  return PROTO_NAMES.get(n) ?? n;
}

const l4proto: NftKey = { meta: { key: "l4proto" } };
const mark: NftKey = { meta: { key: "mark" } };

const ADDR_KEYS = {
  4: {
    saddr: { payload: { protocol: "ip", field: "saddr" } },
    daddr: { payload: { protocol: "ip", field: "daddr" } },
  },
  6: {
    saddr: { payload: { protocol: "ip6", field: "saddr" } },
    daddr: { payload: { protocol: "ip6", field: "daddr" } },
  },
} as const satisfies Record<4 | 6, Record<"saddr" | "daddr", NftKey>>;
const TH_KEYS = {
  sport: { payload: { protocol: "th", field: "sport" } },
  dport: { payload: { protocol: "th", field: "dport" } },
} as const satisfies Record<"sport" | "dport", NftKey>;

/** Keys are shared constants, so their text is made once (see `statementText`). */
function addrKey(family: 4 | 6 | null, field: "saddr" | "daddr", id: string): NftKey {
  if (family === null) throw new Error(`rule ${id}: an address match needs a family`);
  return ADDR_KEYS[family][field];
}

/**
 * The same pod addresses and blocks appear in many sets and in every rendering: their elements are
 * kept (read-only, shared), up to a bound so a long-running agent does not grow without limit.
 */
const cidrElems = new Map<string, NftSetElem>();
const CIDR_ELEMS_MAX = 1 << 18;

function cidrElem(cidr: string): NftSetElem {
  let e = cidrElems.get(cidr);
  if (e === undefined) {
    const [addr = cidr, lenText] = cidr.split("/");
    const len = lenText === undefined ? (addr.includes(":") ? 128 : 32) : Number(lenText);
    const full = addr.includes(":") ? 128 : 32;
    e = len === full ? addr : { prefix: { addr, len } };
    if (cidrElems.size >= CIDR_ELEMS_MAX) cidrElems.clear();
    cidrElems.set(cidr, e);
  }
  return e;
}

function portsValue(ports: readonly (number | readonly [number, number])[]): NftValue | { set: NftValue[] } {
  const vals: NftValue[] = ports.map((p) => (typeof p === "number" ? p : { range: [p[0], p[1]] }));
  return vals.length === 1 && vals[0] !== undefined ? vals[0] : { set: vals };
}

/** The match statements of one IR rule; the protocol comes first because `th` depends on it. */
export function matchStatements(rule: Pick<IRRule, "id" | "family" | "match">): NftStatement[] {
  const m: RuleMatch = rule.match;
  const out: NftStatement[] = [];
  if (m.protocol)
    out.push({
      match: { op: m.protocol.negate ? "!=" : "==", left: l4proto, right: protoValue(m.protocol.proto) },
    });
  for (const [side, field] of [
    [m.src, "saddr"],
    [m.dst, "daddr"],
  ] as const)
    for (const s of side ?? [])
      out.push({
        match: { op: s.negate ? "!=" : "==", left: addrKey(rule.family, field, rule.id), right: `@${s.set}` },
      });
  for (const [side, field] of [
    [m.srcPorts, "sport"],
    [m.dstPorts, "dport"],
  ] as const)
    for (const p of side ?? [])
      out.push({
        match: {
          op: p.negate ? "!=" : "==",
          left: TH_KEYS[field],
          right: portsValue(p.ports),
        },
      });
  for (const n of m.dstNamedPorts ?? [])
    out.push({
      match: {
        op: n.negate ? "!=" : "==",
        left: {
          concat: [addrKey(rule.family, "daddr", rule.id), l4proto, TH_KEYS.dport],
        },
        right: `@${n.set}`,
      },
    });
  for (const i of m.icmp ?? []) {
    const protocol = rule.family === 6 ? "icmpv6" : "icmp";
    const type: NftKey = { payload: { protocol, field: "type" } };
    const code: NftKey = { payload: { protocol, field: "code" } };
    if (i.code === undefined) out.push({ match: { op: i.negate ? "!=" : "==", left: type, right: i.type } });
    else if (i.negate)
      // not (type and code): both fields against a one-element set (nft wants a set for concatenations).
      out.push({
        match: { op: "!=", left: { concat: [type, code] }, right: { set: [{ concat: [i.type, i.code] }] } },
      });
    else {
      out.push({ match: { op: "==", left: type, right: i.type } });
      out.push({ match: { op: "==", left: code, right: i.code } });
    }
  }
  return out;
}

function actionStatements(rule: IRRule, direction: Direction): readonly NftStatement[] {
  switch (rule.action) {
    case "allow":
    case "deny":
      return verdict(rule.action, direction);
    case "pass":
      return [
        { mangle: { key: { meta: { key: "mark" } }, value: { "|": [mark, PASS_MARK] } } },
        { return: null },
      ];
    case "log":
      return [{ log: { prefix: rule.logPrefix ?? `tortie ${rule.id.slice(0, 20)} ` } }];
  }
}

const COUNTER = { counter: null } as const;
const TO_INGRESS: readonly NftStatement[] = [{ goto: { target: TO_INGRESS_CHAIN } }];
const ACCEPT: readonly NftStatement[] = [{ accept: null }];
const DROP: readonly NftStatement[] = [{ drop: null }];

/** Shared, read-only statements: callers spread them into the rule's own list. */
function verdict(action: "allow" | "deny", direction: Direction): readonly NftStatement[] {
  return action === "deny" ? DROP : direction === "egress" ? TO_INGRESS : ACCEPT;
}

function chainDecl(name: string): NftChain {
  return { family: FAMILY, table: TABLE, name };
}

function ruleOf(chain: string, expr: NftStatement[], comment: string): NftRule {
  return { family: FAMILY, table: TABLE, chain, expr, comment };
}

function setOf(s: IRSet): NftSet {
  const addrType = s.family === 4 ? "ipv4_addr" : "ipv6_addr";
  const base = { family: FAMILY, table: TABLE, name: s.name } as const;
  if (s.kind === "addr") {
    const elem = s.elements.map(cidrElem);
    return { ...base, type: addrType, flags: ["interval"], ...(elem.length ? { elem } : {}) };
  }
  const elem = s.elements.map((e) => ({ concat: [e.addr, protoValue(e.proto), e.port] }));
  return { ...base, type: [addrType, "inet_proto", "inet_service"], ...(elem.length ? { elem } : {}) };
}

const passSet: NftKey = { "&": [mark, PASS_MARK] };

/**
 * IRs are immutable values, and an agent diffs each new IR against the previous one, so the model
 * of the previous IR is usually built already.
 */
const models = new WeakMap<PolicyIR, NftTableModel>();

/** A previous IR and its model: pieces of the IR that did not change reuse their rendered objects. */
interface Previous {
  readonly ir: PolicyIR;
  readonly model: NftTableModel;
}

/**
 * Builds the table tortie wants for this IR, object by object. With `prev`, every set and chain
 * equal in both IRs keeps the previous rendered object, so a diff skips it by identity and a small
 * change costs a comparison of the IR, not a re-rendering of the whole table.
 */
export function buildModel(ir: PolicyIR, prev?: Previous): NftTableModel {
  let m = models.get(ir);
  if (!m) {
    m = buildModelUncached(ir, prev);
    models.set(ir, m);
  }
  return m;
}

function reuse<T extends { readonly name: string }, R>(
  item: T,
  prevItems: ReadonlyMap<string, T> | undefined,
  prevRendered: ReadonlyMap<string, R> | undefined,
  render: () => R,
): R {
  const p = prevItems?.get(item.name);
  const r = prevRendered?.get(item.name);
  return p !== undefined && r !== undefined && deepEqual(p, item) ? r : render();
}

const byName = <T extends { readonly name: string }>(xs: readonly T[]): Map<string, T> =>
  new Map(xs.map((x) => [x.name, x]));

/**
 * IR sets and chains are immutable values that live on from one IR to the next (the programmer's
 * record of the kernel holds the very objects it rendered last time): each is rendered once.
 */
const renderedSets = new WeakMap<IRSet, NftSet>();
const renderedChains = new WeakMap<PolicyChain, RenderedChain>();
type RenderedChain = { readonly chain: NftChain; readonly rules: readonly NftRule[] };

function renderedSet(s: IRSet): NftSet {
  let r = renderedSets.get(s);
  if (!r) renderedSets.set(s, (r = setOf(s)));
  return r;
}

function renderedPolicyChain(pc: PolicyChain): RenderedChain {
  let r = renderedChains.get(pc);
  if (!r) {
    r = {
      chain: chainDecl(pc.name),
      rules: pc.rules.map((x) =>
        ruleOf(pc.name, [...matchStatements(x), COUNTER, ...actionStatements(x, pc.direction)], x.id),
      ),
    };
    renderedChains.set(pc, r);
  }
  return r;
}

const ct = { ct: { key: "state" } } as const;
/** Replies and related traffic of connections a policy allowed (NetworkPolicy judges only the first packet). */
const established = (chain: string): NftRule =>
  ruleOf(
    chain,
    [{ match: { op: "in", left: ct, right: ["established", "related"] } }, COUNTER, { accept: null }],
    "tortie:established",
  );
const dispatch = (chain: string, on: "iifname" | "oifname", map: string, comment: string): NftRule =>
  ruleOf(chain, [{ vmap: { key: { meta: { key: on } }, data: `@${map}` } }], comment);
/** The forward hook's one chain: established traffic first, invalid dropped, then dispatch by interface. */
const FORWARD_CHAIN: RenderedChain = {
  chain: { ...chainDecl(BASE_CHAIN), type: "filter", hook: "forward", prio: 0, policy: "accept" },
  rules: [
    established(BASE_CHAIN),
    ruleOf(
      BASE_CHAIN,
      [{ match: { op: "in", left: ct, right: ["invalid"] } }, COUNTER, { drop: null }],
      "tortie:invalid",
    ),
    dispatch(BASE_CHAIN, "iifname", MAP_FROM, "tortie:dispatch-egress"),
    dispatch(BASE_CHAIN, "oifname", MAP_TO, "tortie:dispatch-ingress"),
  ],
};
/**
 * A verdict map lookup that misses ends its rule, not just its statement: `oifname vmap @to-endpoint
 * accept` would never accept traffic to a remote pod. So the accept is a rule of its own, after the
 * lookup, in a chain an egress allow goes to.
 */
const TO_INGRESS_RENDERED: RenderedChain = {
  chain: chainDecl(TO_INGRESS_CHAIN),
  rules: [
    dispatch(TO_INGRESS_CHAIN, "oifname", MAP_TO, "tortie:egress-allowed"),
    ruleOf(TO_INGRESS_CHAIN, [COUNTER, { accept: null }], "tortie:egress-allowed-not-local"),
  ],
};

/** An endpoint chain's rules: its steps (policy/ir.ts, endpointSteps) in nft's words. */
function endpointRules(ec: EndpointChain): NftRule[] {
  const passIs = (v: number): NftStatement => ({ match: { op: "==", left: passSet, right: v } });
  return endpointSteps(ec).map((st) => {
    switch (st.step) {
      case "clear-pass":
        return ruleOf(
          ec.name,
          [{ mangle: { key: { meta: { key: "mark" } }, value: { "&": [mark, ALL_BITS ^ PASS_MARK] } } }],
          `${ec.name}:${st.id}`,
        );
      case "jump":
        return ruleOf(
          ec.name,
          [...(st.unlessPassed ? [passIs(0)] : []), { jump: { target: st.chain } }],
          `${ec.name}:${st.chain}`,
        );
      case "verdict": {
        const when = st.when === "passed" ? [passIs(PASS_MARK)] : st.when === "not-passed" ? [passIs(0)] : [];
        return ruleOf(
          ec.name,
          [...when, COUNTER, ...verdict(st.action, ec.direction)],
          `${ec.name}:${st.id}`,
        );
      }
    }
  });
}

function buildMaps(ir: PolicyIR): Map<string, NftMap> {
  const map = (name: string, entries: PolicyIR["dispatch"]["fromEndpoint"]): NftMap => {
    const elem = entries.map((e) => [e.ifName, { goto: { target: e.chain } }] as const);
    return {
      family: FAMILY,
      table: TABLE,
      name,
      type: "ifname",
      map: "verdict",
      ...(elem.length ? { elem } : {}),
    };
  };
  return new Map([
    [MAP_FROM, map(MAP_FROM, ir.dispatch.fromEndpoint)],
    [MAP_TO, map(MAP_TO, ir.dispatch.toEndpoint)],
  ]);
}

function buildModelUncached(ir: PolicyIR, prev?: Previous): NftTableModel {
  const prevSets = prev && byName(prev.ir.sets);
  const prevPolicyChains = prev && byName(prev.ir.policyChains);
  const prevEndpointChains = prev && byName(prev.ir.endpointChains);
  const sets = new Map(
    ir.sets.map((s) => [s.name, reuse(s, prevSets, prev?.model.sets, () => renderedSet(s))]),
  );
  const chains = new Map<string, { readonly chain: NftChain; readonly rules: readonly NftRule[] }>();
  // The base chain and to-ingress never change: the same objects every time, which a diff skips by identity.
  chains.set(BASE_CHAIN, FORWARD_CHAIN);
  chains.set(TO_INGRESS_CHAIN, TO_INGRESS_RENDERED);
  for (const pc of ir.policyChains)
    chains.set(
      pc.name,
      reuse(pc, prevPolicyChains, prev?.model.chains, () => renderedPolicyChain(pc)),
    );
  for (const ec of ir.endpointChains) {
    const kept = reuse(ec, prevEndpointChains, prev?.model.chains, () => undefined);
    chains.set(ec.name, kept ?? { chain: chainDecl(ec.name), rules: endpointRules(ec) });
  }
  const maps = buildMaps(ir);
  return { sets, maps, chains };
}

/**
 * A complete transaction: replaces everything tortie owns whatever was there (nothing, our own
 * previous output, or a half-edited table). `add` before `delete` makes the delete valid on an
 * empty ruleset; the kernel applies the batch atomically, so packets never see an empty table.
 */
export function renderFull(ir: PolicyIR): NftDocument {
  const m = buildModel(ir);
  const table = { family: FAMILY, name: TABLE } as const;
  const cmds: NftCommand[] = [{ add: { table } }, { delete: { table } }, { add: { table } }];
  for (const s of m.sets.values()) cmds.push({ add: { set: s } });
  for (const c of m.chains.values()) cmds.push({ add: { chain: c.chain } });
  for (const mp of m.maps.values()) cmds.push({ add: { map: mp } });
  for (const c of m.chains.values()) for (const r of c.rules) cmds.push({ add: { rule: r } });
  return { nftables: cmds };
}

/** Element texts, kept beside `cidrElems` and bounded the same way. */
const cidrTexts = new Map<string, string>();

function cidrText(cidr: string): string {
  let t = cidrTexts.get(cidr);
  if (t === undefined) {
    t = JSON.stringify(cidrElem(cidr));
    if (cidrTexts.size >= CIDR_ELEMS_MAX) cidrTexts.clear();
    cidrTexts.set(cidr, t);
  }
  return t;
}

const OWNER = `"family":"${FAMILY}","table":"${TABLE}"`;

function setText(s: IRSet): string {
  const head = `{${OWNER},"name":${JSON.stringify(s.name)},`;
  const v = s.family === 4 ? '"ipv4_addr"' : '"ipv6_addr"';
  if (s.kind === "addr") {
    const elem = s.elements.length ? `,"elem":[${s.elements.map(cidrText).join(",")}]` : "";
    return `${head}"type":${v},"flags":["interval"]${elem}}`;
  }
  const elem = s.elements.length
    ? `,"elem":[${s.elements.map((e) => `{"concat":[${JSON.stringify(e.addr)},${JSON.stringify(protoValue(e.proto))},${e.port}]}`).join(",")}]`
    : "";
  return `${head}"type":[${v},"inet_proto","inet_service"]${elem}}`;
}

/** Texts of the shared constant keys and statements most rules are made of, each made once. */
const constantTexts = new Map<object, string>(
  [
    l4proto,
    mark,
    ...Object.values(ADDR_KEYS[4]),
    ...Object.values(ADDR_KEYS[6]),
    ...Object.values(TH_KEYS),
    COUNTER,
    ...TO_INGRESS,
    ...ACCEPT,
    ...DROP,
  ].map((o) => [o, JSON.stringify(o)]),
);

const textOf = (o: object): string => constantTexts.get(o) ?? JSON.stringify(o);

/** `JSON.stringify(st)`, with the shared keys and verdicts taken from `constantTexts`. */
function statementText(st: NftStatement): string {
  if ("match" in st) {
    const m = st.match;
    return `{"match":{"op":"${m.op}","left":${textOf(m.left)},"right":${JSON.stringify(m.right)}}}`;
  }
  if ("jump" in st) return `{"jump":{"target":${JSON.stringify(st.jump.target)}}}`;
  return textOf(st);
}

/**
 * Rule counts by rule comment (every rule tortie writes has a unique one: its IR rule id, or a fixed
 * name in the base chains). A full load gives each rule the count the kernel had for it, so per-rule
 * counters (what a drop is attributed by) survive a resync instead of starting again from zero.
 */
export type RuleCounters = ReadonlyMap<string, { readonly packets: number; readonly bytes: number }>;

/** `{"add":{"rule":…}}` as `JSON.stringify` writes it for `ruleOf(chain, expr, comment)`. */
function addRuleText(
  chain: string,
  expr: readonly NftStatement[],
  comment: string | undefined,
  counters: RuleCounters | undefined,
): string {
  const c = comment === undefined ? "" : `,"comment":${JSON.stringify(comment)}`;
  const count = comment === undefined ? undefined : counters?.get(comment);
  const stmts = expr.map((st) =>
    count !== undefined && st === COUNTER
      ? `{"counter":{"packets":${count.packets},"bytes":${count.bytes}}}`
      : statementText(st),
  );
  return `{"add":{"rule":{${OWNER},"chain":${JSON.stringify(chain)},"expr":[${stmts.join(",")}]${c}}}}`;
}

/**
 * `JSON.stringify(renderFull(ir))`, written directly for a full load: a table of 10,000 pods' policies
 * is half a megabyte of text, and writing it without an object tree to stringify and collect takes
 * 10–20 % less in the bench (test/policy/nft-render.test.ts holds the two equal).
 * With `counters`, each rule starts from the kernel's count for it.
 */
export function renderFullText(ir: PolicyIR, counters?: RuleCounters): string {
  const J = JSON.stringify;
  const table = J({ family: FAMILY, name: TABLE });
  const parts: string[] = [
    `{"add":{"table":${table}}}`,
    `{"delete":{"table":${table}}}`,
    `{"add":{"table":${table}}}`,
  ];
  for (const s of ir.sets) parts.push(`{"add":{"set":${setText(s)}}}`);
  const decl = (name: string): string => `{"add":{"chain":{${OWNER},"name":${J(name)}}}}`;
  parts.push(`{"add":{"chain":${J(FORWARD_CHAIN.chain)}}}`, decl(TO_INGRESS_CHAIN));
  for (const pc of ir.policyChains) parts.push(decl(pc.name));
  for (const ec of ir.endpointChains) parts.push(decl(ec.name));
  const m = buildMaps(ir);
  for (const mp of m.values()) parts.push(`{"add":{"map":${J(mp)}}}`);
  for (const r of [...FORWARD_CHAIN.rules, ...TO_INGRESS_RENDERED.rules])
    parts.push(addRuleText(r.chain, r.expr, r.comment, counters));
  for (const pc of ir.policyChains)
    for (const x of pc.rules)
      parts.push(
        addRuleText(
          pc.name,
          [...matchStatements(x), COUNTER, ...actionStatements(x, pc.direction)],
          x.id,
          counters,
        ),
      );
  for (const ec of ir.endpointChains)
    for (const r of endpointRules(ec)) parts.push(addRuleText(r.chain, r.expr, r.comment, counters));
  return `{"nftables":[${parts.join(",")}]}`;
}

const key = (v: unknown): string => JSON.stringify(v);

function setWithout(s: NftSet): NftSet {
  const { elem: _elem, ...rest } = s;
  return rest;
}

/**
 * The minimal transaction that turns the table rendered from `from` into the one for `to`: set
 * elements added and deleted by value, chains flushed and refilled only when their rules changed,
 * dispatch entries changed one by one, and vanished objects deleted after nothing refers to them.
 * Assumes the kernel holds exactly `from` (the caller resyncs with renderFull when unsure).
 */
export function renderDiff(from: PolicyIR, to: PolicyIR): NftDocument {
  const a = buildModel(from);
  const b = buildModel(to, { ir: from, model: a });
  const cmds: NftCommand[] = [];
  // 1. Objects that are new: sets (with their elements) and empty chains, so later rules may refer to them.
  for (const [name, s] of b.sets) if (!a.sets.has(name)) cmds.push({ add: { set: s } });
  for (const [name, c] of b.chains) if (!a.chains.has(name)) cmds.push({ add: { chain: c.chain } });
  // 2. Elements of sets both sides have. Deletes first: a merged interval may replace its parts.
  const elemDeletes: NftCommand[] = [];
  const elemAdds: NftCommand[] = [];
  for (const [name, sb] of b.sets) {
    const sa = a.sets.get(name);
    if (!sa || sa === sb) continue;
    const before = new Map((sa.elem ?? []).map((e) => [key(e), e]));
    const after = new Map((sb.elem ?? []).map((e) => [key(e), e]));
    const del = [...before].filter(([k]) => !after.has(k)).map(([, e]) => e);
    const add = [...after].filter(([k]) => !before.has(k)).map(([, e]) => e);
    const ref = { family: FAMILY, table: TABLE, name } as const;
    if (del.length) elemDeletes.push({ delete: { element: { ...ref, elem: del } } });
    if (add.length) elemAdds.push({ add: { element: { ...ref, elem: add } } });
  }
  cmds.push(...elemDeletes, ...elemAdds);
  // 3. Chains whose rules changed (or that are new): flush and refill.
  for (const [name, cb] of b.chains) {
    const ca = a.chains.get(name);
    if (ca === cb || (ca && deepEqual(ca.rules, cb.rules))) continue;
    if (ca) cmds.push({ flush: { chain: cb.chain } });
    for (const r of cb.rules) cmds.push({ add: { rule: r } });
  }
  // 4. Dispatch entries.
  for (const [name, mb] of b.maps) {
    const ma = a.maps.get(name);
    const before = new Map((ma?.elem ?? []).map(([k, v]) => [k, key(v)]));
    const after = new Map((mb.elem ?? []).map(([k, v]) => [k, v]));
    const del = [...before].filter(([k, v]) => key(after.get(k)) !== v).map(([k]) => k);
    const add = [...after].filter(([k, v]) => before.get(k) !== key(v)).map(([k, v]) => [k, v] as const);
    const ref = { family: FAMILY, table: TABLE, name } as const;
    if (del.length) cmds.push({ delete: { element: { ...ref, elem: del } } });
    if (add.length) cmds.push({ add: { element: { ...ref, elem: add } } });
  }
  // 5. Vanished chains: empty them all first (they may jump to each other), then delete them.
  const goneChains = [...a.chains].filter(([name]) => !b.chains.has(name));
  for (const [, c] of goneChains) cmds.push({ flush: { chain: c.chain } });
  for (const [, c] of goneChains) cmds.push({ delete: { chain: c.chain } });
  // 6. Vanished sets, now that no rule refers to them.
  for (const [name, s] of a.sets) if (!b.sets.has(name)) cmds.push({ delete: { set: setWithout(s) } });
  return { nftables: cmds };
}
