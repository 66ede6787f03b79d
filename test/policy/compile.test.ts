import fc from "fast-check";
import t from "tap";
import { parseAllDocuments } from "yaml";
import { hostIfName } from "../../core/ifname.js";
import {
  type Interval,
  intervalsToCidrs,
  normalise,
  parseCidr,
  subtract,
  canonicalCidr,
  toPrefixes,
  union,
} from "../../policy/cidr.js";
import { compile, endpointChainName, policyChainName } from "../../policy/compile.js";
import { IREvaluator, type Packet } from "../../policy/evaluate.js";
import type { ClusterState, PolicyIR } from "../../policy/ir.js";
import { loadStateText } from "../../policy/state.js";

const STATE = `
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {env: prod}}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, labels: {app: web}}
spec: {nodeName: n1, containers: [{ports: [{name: http, containerPort: 8080}]}]}
status: {podIPs: [{ip: 10.0.0.5}, {ip: "fd00::5"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: prod, labels: {app: api}}
spec: {nodeName: n2, containers: [{ports: [{name: http, containerPort: 9090}]}]}
status: {podIP: 10.0.1.7}
---
apiVersion: v1
kind: Pod
metadata: {name: pending, namespace: prod, labels: {app: web}}
spec: {nodeName: n1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: api}}}, {ipBlock: {cidr: 192.168.0.0/16, except: [192.168.1.0/24]}}]
    ports: [{port: 80}, {port: http}]
  egress:
  - to: [{podSelector: {}}]
---
apiVersion: tortie.io/v1
kind: GlobalNetworkPolicy
metadata: {name: log-all}
spec:
  order: 1
  selector: all()
  ingress: [{action: Log}, {action: Pass}]
`;

function build(text = STATE, node: string | null = "n1"): PolicyIR {
  const l = loadStateText(text);
  if (l.problems.length) throw new Error(JSON.stringify(l.problems));
  return compile({ state: l.state, policies: l.policies, node });
}

t.test("the IR for one node: endpoints, dispatch, chains and sets", async (t) => {
  const ir = build();
  t.equal(ir.node, "n1");
  t.same(ir.preamble, { established: "accept", related: "accept", invalid: "drop" });
  const ifName = hostIfName("prod", "web");
  t.same(
    ir.endpoints,
    [
      {
        namespace: "prod",
        pod: "web",
        ifName,
        ipv4: ["10.0.0.5"],
        ipv6: ["fd00::5"],
        ingressChain: endpointChainName(ifName, "ingress"),
        egressChain: endpointChainName(ifName, "egress"),
      },
    ],
    "only local pods with an IP are endpoints",
  );
  t.same(ir.dispatch.fromEndpoint, [{ ifName, chain: `tee-${ifName.slice(4)}` }]);
  t.same(ir.dispatch.toEndpoint, [{ ifName, chain: `tei-${ifName.slice(4)}` }]);
  const ingress = ir.endpointChains.find((c) => c.direction === "ingress");
  const webRef = {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    namespace: "prod",
    name: "web",
  } as const;
  const logRef = {
    apiVersion: "tortie.io/v1",
    kind: "GlobalNetworkPolicy",
    namespace: null,
    name: "log-all",
  } as const;
  t.same(ingress, {
    name: `tei-${ifName.slice(4)}`,
    endpoint: { namespace: "prod", pod: "web" },
    direction: "ingress",
    extended: [policyChainName(logRef, "ingress")],
    kubernetes: [policyChainName(webRef, "ingress")],
    endAction: "deny",
    endActionAfterPass: "deny",
  });
  const egress = ir.endpointChains.find((c) => c.direction === "egress");
  t.same([egress?.extended, egress?.endAction, egress?.endActionAfterPass], [[], "deny", "deny"]);

  const web = ir.policyChains.find((c) => c.name === policyChainName(webRef, "ingress"));
  t.ok(web, "policy chain exists");
  // spec.ingress[0]: two families x (numeric, named) = 4 IR rules; IPv6 has no ipBlock but pod peers.
  t.same(
    web?.rules.map((r) => [r.id, r.family, r.origin.ruleIndex, r.origin.part, r.action]),
    [
      [`${web?.name}:0.0`, 4, 0, 0, "allow"],
      [`${web?.name}:0.1`, 4, 0, 1, "allow"],
      [`${web?.name}:0.2`, 6, 0, 2, "allow"],
      [`${web?.name}:0.3`, 6, 0, 3, "allow"],
    ],
  );
  const r0 = web?.rules[0];
  t.same(r0?.match.protocol, { proto: 6, negate: false });
  t.same(r0?.match.dstPorts, [{ ports: [80], negate: false }]);
  const peers4 = ir.sets.find((s) => s.name === r0?.match.src?.[0]?.set);
  t.same(peers4?.kind === "addr" ? peers4.elements : null, [
    "10.0.1.7/32",
    "192.168.0.0/24",
    "192.168.2.0/23",
    "192.168.4.0/22",
    "192.168.8.0/21",
    "192.168.16.0/20",
    "192.168.32.0/19",
    "192.168.64.0/18",
    "192.168.128.0/17",
  ]);
  const named4 = ir.sets.find((s) => s.name === web?.rules[1]?.match.dstNamedPorts?.[0]?.set);
  t.same(
    named4?.kind === "named-port" ? named4.elements : null,
    [{ addr: "10.0.0.5", proto: 6, port: 8080 }],
    "an ingress rule's named ports: this node's endpoints only (the destination is always one of them)",
  );
  const everywhere = build(STATE, null).sets.find(
    (s) => s.kind === "named-port" && s.family === 4 && s.definition === named4?.definition,
  );
  t.same(
    everywhere?.kind === "named-port" ? everywhere.elements : null,
    [
      { addr: "10.0.0.5", proto: 6, port: 8080 },
      { addr: "10.0.1.7", proto: 6, port: 9090 },
    ],
    "with every pod local (explain's view), every pod's named ports",
  );
  const names = ir.sets.map((s) => s.name);
  t.same(names, [...names].sort(), "sets sorted by name");
  for (const s of ir.sets) t.match(s.name, /^t[sn][46]-[0-9a-f]{16}$/);
  for (const c of [...ir.policyChains, ...ir.endpointChains])
    t.ok(c.name.length <= 28, `${c.name} fits iptables`);
  const log = ir.policyChains.find((c) => c.name === policyChainName(logRef, "ingress"));
  t.same(
    log?.rules.map((r) => [r.action, r.family, r.logPrefix ?? null]),
    [
      ["log", null, `tortie ${log?.name.slice(4, 16)} `],
      ["pass", null, null],
    ],
  );
});

t.test("compilation is deterministic and independent of input order", async (t) => {
  const docs = STATE.split("\n---\n");
  const a = build();
  const b = build([...docs].reverse().join("\n---\n"));
  t.same(JSON.stringify(b), JSON.stringify(a));
  t.equal(build(STATE, null).endpoints.length, 2, "node null compiles every pod with an IP");
});

t.test("a pod relabel changes only set elements; a policy edit only its own chain", async (t) => {
  const before = build();
  const relabeled = build(STATE.replace("labels: {app: api}", "labels: {app: other}"));
  t.same(relabeled.policyChains, before.policyChains, "chains unchanged");
  t.same(relabeled.endpointChains, before.endpointChains);
  t.same(
    relabeled.sets.map((s) => s.name),
    before.sets.map((s) => s.name),
    "same set names",
  );
  const changed = relabeled.sets.filter((s, i) => JSON.stringify(s) !== JSON.stringify(before.sets[i]));
  t.same(
    changed.map((s) => s.definition),
    ['peers ipBlock(192.168.0.0/16 except 192.168.1.0/24) | pods(ns=prod; app == "api")'],
  );

  const edited = build(
    STATE.replace("ingress: [{action: Log}, {action: Pass}]", "ingress: [{action: Pass}]"),
  );
  const diff = edited.policyChains.filter(
    (c, i) => JSON.stringify(c) !== JSON.stringify(before.policyChains[i]),
  );
  t.same(
    diff.map((c) => c.policy.name),
    ["log-all"],
  );
  t.same(edited.endpointChains, before.endpointChains);
});

t.test("pods that are not selected get allow-by-default chains", async (t) => {
  const ir = build(
    STATE.replace(
      "labels: {app: web}}\nspec: {nodeName: n1, containers",
      "labels: {app: db}}\nspec: {nodeName: n1, containers",
    ),
  );
  const eg = ir.endpointChains.find((c) => c.direction === "egress");
  t.same([eg?.extended, eg?.kubernetes, eg?.endAction], [[], [], "allow"]);
  const ing = ir.endpointChains.find((c) => c.direction === "ingress");
  t.same([ing?.kubernetes, ing?.endAction, ing?.endActionAfterPass], [[], "deny", "allow"]);
  t.notOk(
    ir.policyChains.some((c) => c.policy.name === "web"),
    "no chain for a policy that selects no local pod",
  );
});

t.test("CIDR arithmetic: canonical networks, subtraction and the minimal prefix cover", async (t) => {
  t.equal(canonicalCidr("10.1.2.3/16"), "10.1.0.0/16");
  t.equal(canonicalCidr("fd00::1:2/64"), "fd00::/64");
  t.equal(canonicalCidr("10.0.0.0"), null);
  t.equal(canonicalCidr("010.0.0.0/8"), null);
  t.equal(canonicalCidr("10.0.0.0/33"), null);
  const iv = (c: string) => {
    const r = parseCidr(c);
    if (!r) throw new Error(c);
    return r;
  };
  t.same(intervalsToCidrs(subtract([iv("10.0.0.0/24")], [iv("10.0.0.128/25")])), ["10.0.0.0/25"]);
  t.same(
    intervalsToCidrs([iv("10.0.0.0/25"), iv("10.0.0.128/25")]),
    ["10.0.0.0/24"],
    "adjacent prefixes merge",
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 24, max: 32 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 26, max: 32 })), {
        maxLength: 4,
      }),
      fc.integer({ min: 0, max: 255 }),
      (base, len, excepts, probe) => {
        const outer = iv(`10.0.0.${base}/${len}`);
        const minus = excepts.map(([a, l]) => iv(`10.0.0.${a}/${l}`));
        const cidrs = intervalsToCidrs(subtract([outer], minus)).map(iv);
        const v = (10n << 24n) + BigInt(probe);
        const want = outer.lo <= v && v <= outer.hi && !minus.some((m) => m.lo <= v && v <= m.hi);
        const got = cidrs.some((c) => c.lo <= v && v <= c.hi);
        return want === got;
      },
    ),
    { numRuns: 300 },
  );
});

t.test("IPv4 prefix cover over the whole address space, and union of interval lists", async (t) => {
  t.same(toPrefixes({ family: 4, lo: 0n, hi: 0xffffffffn }), ["0.0.0.0/0"]);
  t.same(toPrefixes({ family: 4, lo: 0xffffffffn, hi: 0xffffffffn }), ["255.255.255.255/32"]);
  t.same(toPrefixes({ family: 4, lo: 0x80000000n, hi: 0xffffffffn }), ["128.0.0.0/1"]);
  // The cover as a plain reference: from the start, the largest aligned block that fits, in BigInt.
  const reference = (lo: bigint, hi: bigint): string[] => {
    const out: string[] = [];
    while (lo <= hi) {
      let size = 0n;
      while (size < 32n && lo % (1n << (size + 1n)) === 0n && lo + (1n << (size + 1n)) - 1n <= hi) size++;
      const n = Number(lo);
      out.push(`${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}/${32n - size}`);
      lo += 1n << size;
    }
    return out;
  };
  const addr = fc.oneof(
    fc.bigInt({ min: 0n, max: 0xffffffffn }),
    fc.constantFrom(0n, 0x7fffffffn, 0x80000000n, 0xfffffffen, 0xffffffffn),
  );
  fc.assert(
    fc.property(addr, addr, (a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      t.same(toPrefixes({ family: 4, lo, hi }), reference(lo, hi));
    }),
    { numRuns: 300 },
  );
  const ivList = fc.array(
    fc
      .tuple(fc.bigInt({ min: 0n, max: 300n }), fc.bigInt({ min: 0n, max: 8n }))
      .map(([lo, n]): Interval => ({ family: 4, lo, hi: lo + n })),
    { maxLength: 8 },
  );
  // normalise as a plain reference: every covered address, then runs of consecutive ones. IPv4
  // merges in doubles and IPv6 in BigInts, so both families are checked.
  const runs = (ivs: readonly Interval[], family: 4 | 6): Interval[] => {
    const covered = new Set<bigint>();
    for (const iv of ivs) for (let x = iv.lo; x <= iv.hi; x++) covered.add(x);
    const out: Interval[] = [];
    for (const x of [...covered].sort((a, b) => (a < b ? -1 : 1))) {
      const last = out[out.length - 1];
      if (last && last.hi + 1n === x) out[out.length - 1] = { family, lo: last.lo, hi: x };
      else out.push({ family, lo: x, hi: x });
    }
    return out;
  };
  fc.assert(
    fc.property(ivList, fc.constantFrom(4 as const, 6 as const), (list, family) => {
      const ivs = list.map((iv) => ({ ...iv, family }));
      t.same(normalise(ivs), runs(ivs, family));
    }),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.array(ivList, { maxLength: 4 }), (lists) => {
      t.same(union(lists), normalise(lists.flat()));
      t.same(union(lists.map(normalise)), normalise(lists.flat()));
    }),
    { numRuns: 300 },
  );
});

t.test("state type sanity: ClusterState is what the loader returns", async (t) => {
  const s: ClusterState = loadStateText(STATE).state;
  t.equal(s.pods.length, 3);
});

t.test("IPv6, ICMP and family-specific rules through the IR evaluator", async (t) => {
  const ir = build(
    `${STATE}
---
apiVersion: tortie.io/v1
kind: NetworkPolicy
metadata: {name: icmp, namespace: prod}
spec:
  order: 0.5
  selector: app == 'web'
  ingress:
  - action: Allow
    protocol: ICMP
    icmp: {type: 8, code: 0}
  - action: Deny
    protocol: ICMPv6
    notICMP: {type: 128}
  - action: Allow
    protocol: UDP
    source: {nets: ["fd00:1::/64"]}
`,
    "n1",
  );
  const ev = new IREvaluator(ir);
  const web = hostIfName("prod", "web");
  const verdict = (p: Packet) => ev.evaluate(null, web, p).ingress;
  const ping = verdict({
    family: 4,
    src: "192.168.7.1",
    dst: "10.0.0.5",
    proto: 1,
    icmpType: 8,
    icmpCode: 0,
  });
  t.equal(ping.action, "allow", "echo request allowed");
  t.equal(ping.decision.by === "rule" ? ping.decision.rule.origin.ruleIndex : -1, 0);
  t.equal(
    verdict({ family: 4, src: "192.168.7.1", dst: "10.0.0.5", proto: 1, icmpType: 13, icmpCode: 0 }).action,
    "deny",
  );
  const v6ping = verdict({
    family: 6,
    src: "fd00::9",
    dst: "fd00::5",
    proto: 58,
    icmpType: 128,
    icmpCode: 0,
  });
  t.equal(v6ping.action, "deny", "ICMPv6 echo is not denied by rule 1 (notICMP) but falls to isolation");
  t.equal(v6ping.decision.by, "default");
  const v6other = verdict({ family: 6, src: "fd00::9", dst: "fd00::5", proto: 58, icmpType: 135 });
  t.equal(v6other.decision.by === "rule" ? v6other.decision.rule.origin.ruleIndex : -1, 1, "rule 1 denies");
  t.equal(verdict({ family: 6, src: "fd00:1::7", dst: "fd00::5", proto: 17, dstPort: 53 }).action, "allow");
  t.equal(
    verdict({ family: 4, src: "10.0.1.7", dst: "10.0.0.5", proto: 17, dstPort: 53 }).action,
    "deny",
    "nets are IPv6 only",
  );
  // The Kubernetes policy's ipBlock is IPv4 only; its pod peer (api) has no IPv6 address.
  t.equal(verdict({ family: 4, src: "192.168.2.9", dst: "10.0.0.5", proto: 6, dstPort: 80 }).action, "allow");
  t.equal(
    verdict({ family: 4, src: "192.168.1.9", dst: "10.0.0.5", proto: 6, dstPort: 80 }).action,
    "deny",
    "except",
  );
  t.equal(
    verdict({ family: 4, src: "10.0.1.7", dst: "10.0.0.5", proto: 6, dstPort: 8080 }).action,
    "allow",
    "named port",
  );
  t.equal(verdict({ family: 6, src: "fd00::7", dst: "fd00::5", proto: 6, dstPort: 80 }).action, "deny");
  t.same(
    verdict({ family: 6, src: "fd00::7", dst: "fd00::5", proto: 6, dstPort: 80 }).logged.length,
    1,
    "Log rule hit",
  );
});

t.test("a JSON state file (a v1 List) loads exactly like the YAML one", async (t) => {
  const items = parseAllDocuments(STATE).map((d) => d.toJS() as unknown);
  const fromJson = loadStateText(JSON.stringify({ apiVersion: "v1", kind: "List", items }));
  const fromYaml = loadStateText(STATE);
  t.same(fromJson.state, fromYaml.state);
  t.same(fromJson.policies, fromYaml.policies);
  t.same(fromJson.problems, []);
  t.same(loadStateText(JSON.stringify(items)).policies, fromYaml.policies, "a JSON array of objects too");
});

t.test("the IR holds exactly the sets its rules reference", async (t) => {
  // Source nets are IPv4 only and destination nets IPv6 only: no family can match, no rule, no set.
  const ir = build(`${STATE}
---
apiVersion: tortie.io/v1
kind: GlobalNetworkPolicy
metadata: {name: impossible}
spec:
  selector: all()
  ingress:
  - action: Deny
    source: {nets: [10.0.0.0/8]}
    destination: {nets: ["fd00::/8"]}
`);
  const used = new Set(
    ir.policyChains.flatMap((c) =>
      c.rules.flatMap((r) =>
        [...(r.match.src ?? []), ...(r.match.dst ?? []), ...(r.match.dstNamedPorts ?? [])].map((m) => m.set),
      ),
    ),
  );
  t.same(
    ir.sets.map((s) => s.name).filter((n) => !used.has(n)),
    [],
    "no unreferenced set",
  );
  t.same(
    ir.policyChains.find((c) => c.policy.name === "impossible")?.rules,
    [],
    "a rule no family can match compiles to nothing",
  );
});
