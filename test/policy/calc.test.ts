/**
 * The incremental calculation against the full compiler: after any sequence of object changes the
 * calculation's IR equals `compile()` of the final objects, and replaying the final objects in
 * another order gives the same IR (felix's calc tests, as properties).
 */
import fc from "fast-check";
import t from "tap";
import { PolicyCalc } from "../../policy/calc.js";
import { compile } from "../../policy/compile.js";
import type { PolicyIR } from "../../policy/ir.js";
import { renderFull, renderFullText } from "../../policy/nft/render.js";
import { loadStateText, parseObject } from "../../policy/state.js";

type Obj = Record<string, unknown> & {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

const NSS = ["n1", "n2", "n3"];
const PODS = ["p1", "p2", "p3", "p4"];
const IPS = ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5", "10.1.0.9", "fd00::1", "fd00::2"];

const labelsArb = fc.record(
  {
    app: fc.constantFrom("x", "y"),
    role: fc.constantFrom("db", "web"),
    // A label of a pseudo-label's name: extended selectors see the pseudo-label, as in Calico.
    "projectcalico.org/namespace": fc.constant("shadowed"),
  },
  { requiredKeys: [] },
);

const podArb: fc.Arbitrary<Obj> = fc
  .record({
    ns: fc.constantFrom(...NSS),
    name: fc.constantFrom(...PODS),
    labels: labelsArb,
    node: fc.constantFrom("A", "B", undefined),
    ips: fc.uniqueArray(fc.constantFrom(...IPS), { maxLength: 2 }),
    http: fc.constantFrom(80, 81, undefined),
    sa: fc.constantFrom("default", "db"),
  })
  .map((p) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: p.ns, name: p.name, labels: p.labels },
    spec: {
      ...(p.node ? { nodeName: p.node } : {}),
      serviceAccountName: p.sa,
      containers: [{ name: "c", ports: p.http ? [{ name: "http", containerPort: p.http }] : [] }],
    },
    status: { podIPs: p.ips.map((ip) => ({ ip })) },
  }));

const nsArb: fc.Arbitrary<Obj> = fc
  .record({ name: fc.constantFrom(...NSS), team: fc.constantFrom("a", "b", undefined) })
  .map((n): Obj => ({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: n.name, labels: n.team ? { team: n.team } : {} },
  }));

const k8sPeer = fc.oneof(
  fc.constantFrom({ podSelector: { matchLabels: { app: "x" } } }, { podSelector: {} }),
  fc.constant({ namespaceSelector: { matchLabels: { team: "a" } } }),
  fc.constant({
    namespaceSelector: { matchExpressions: [{ key: "team", operator: "Exists" }] },
    podSelector: { matchExpressions: [{ key: "role", operator: "In", values: ["db"] }] },
  }),
  fc.constant({ ipBlock: { cidr: "10.0.0.0/24", except: ["10.0.0.2/31"] } }),
);
const k8sPorts = fc.constantFrom(undefined, [{ port: 80 }], [{ port: "http" }], [{ port: 80, endPort: 90 }]);

const k8sPolicyArb: fc.Arbitrary<Obj> = fc
  .record({
    ns: fc.constantFrom(...NSS),
    name: fc.constantFrom("k1", "k2"),
    sel: fc.constantFrom({}, { matchLabels: { app: "x" } }, { matchLabels: { role: "db" } }),
    from: fc.array(k8sPeer, { maxLength: 2 }),
    ports: k8sPorts,
    egress: fc.boolean(),
  })
  .map((p) => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { namespace: p.ns, name: p.name },
    spec: {
      podSelector: p.sel,
      ingress: [{ from: p.from, ...(p.ports ? { ports: p.ports } : {}) }],
      // Egress named ports: a set of every pod's named ports, not only this node's.
      ...(p.egress ? { egress: [{ to: p.from, ...(p.ports ? { ports: p.ports } : {}) }] } : {}),
    },
  }));

const calicoPolicyArb: fc.Arbitrary<Obj> = fc
  .record({
    global: fc.boolean(),
    name: fc.constantFrom("c1", "c2"),
    ns: fc.constantFrom(...NSS),
    order: fc.constantFrom(undefined, 10, 20),
    selector: fc.constantFrom("all()", "app == 'x'", "role in {'db'}", "has(app) && app != 'y'"),
    action: fc.constantFrom("Allow", "Deny", "Pass", "Log"),
    src: fc.constantFrom(
      {},
      { selector: "app == 'y'" },
      { namespaceSelector: "team == 'b'" },
      { selector: "projectcalico.org/namespace == '" + NSS[1] + "'" },
      { selector: "projectcalico.org/namespace == 'shadowed'" },
      { namespaceSelector: "projectcalico.org/name == '" + NSS[0] + "'" },
      { selector: "projectcalico.org/serviceaccount == 'db'" },
      { nets: ["10.0.0.0/30"] },
      { notNets: ["10.0.0.0/31"] },
      { serviceAccounts: { names: ["db"] } },
      { serviceAccounts: { selector: "tier == 'gold'" } },
      // Network sets: global() takes GlobalNetworkSets only; notSelector subtracts their nets too.
      { namespaceSelector: "global()" },
      { namespaceSelector: "global()", selector: "role == 'db'" },
      { notSelector: "role == 'db'" },
      // A Service's endpoints (its ports too, on the egress rule's destination side).
      { services: { name: "svc", namespace: NSS[0] } },
    ),
  })
  .map((p) => ({
    apiVersion: "projectcalico.org/v3",
    kind: p.global ? "GlobalNetworkPolicy" : "NetworkPolicy",
    metadata: p.global ? { name: p.name } : { namespace: p.ns, name: p.name },
    spec: {
      selector: p.selector,
      ...(p.order !== undefined ? { order: p.order } : {}),
      types: ["Ingress", "Egress"],
      ingress: [
        { action: p.action, protocol: "TCP", source: p.src, destination: { ports: [80, "http"] } },
        { action: "Deny", protocol: "UDP" },
      ],
      egress: [{ action: "Allow", destination: p.src }],
    },
  }));

const saArb: fc.Arbitrary<Obj> = fc
  .record({ ns: fc.constantFrom(...NSS), name: fc.constantFrom("default", "db"), gold: fc.boolean() })
  .map((a): Obj => ({
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { namespace: a.ns, name: a.name, labels: a.gold ? { tier: "gold" } : {} },
  }));

// Nets that hold pods' addresses, touch them, overlap each other, or are single addresses.
const NETS = [
  "10.0.0.0/30",
  "10.0.0.2/31",
  "10.0.0.4",
  "10.1.0.0/16",
  "10.0.0.6/31",
  "fd00::/127",
  "fd00::2",
];

const netSetArb: fc.Arbitrary<Obj> = fc
  .record({
    global: fc.boolean(),
    ns: fc.constantFrom(...NSS),
    name: fc.constantFrom("s1", "s2"),
    labels: labelsArb,
    nets: fc.uniqueArray(fc.constantFrom(...NETS), { maxLength: 3 }),
  })
  .map((n) => ({
    apiVersion: "projectcalico.org/v3",
    kind: n.global ? "GlobalNetworkSet" : "NetworkSet",
    metadata: n.global
      ? { name: n.name, labels: n.labels }
      : { namespace: n.ns, name: n.name, labels: n.labels },
    spec: { nets: n.nets },
  }));

const sliceArb: fc.Arbitrary<Obj> = fc
  .record({
    // n1's Service svc is the one the policies name: most slices are its.
    ns: fc.constantFrom("n1", "n1", ...NSS),
    name: fc.constantFrom("s1", "s2"),
    service: fc.constantFrom("svc", "svc", "other", undefined),
    v6: fc.boolean(),
    ips: fc.uniqueArray(fc.constantFrom(...IPS), { maxLength: 3 }),
    ports: fc.constantFrom([{ port: 80 }], [{ port: 53, protocol: "UDP" }, { port: 80 }], []),
  })
  .map((e): Obj => ({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      namespace: e.ns,
      name: e.name,
      labels: e.service ? { "kubernetes.io/service-name": e.service } : {},
    },
    addressType: e.v6 ? "IPv6" : "IPv4",
    endpoints: [{ addresses: e.ips.filter((ip) => ip.includes(":") === e.v6) }],
    ports: e.ports,
  }));

type Op = { op: "upsert"; obj: Obj } | { op: "remove"; kind: string; ns?: string; name: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: podArb.map((obj) => ({ op: "upsert" as const, obj })) },
  { weight: 2, arbitrary: nsArb.map((obj) => ({ op: "upsert" as const, obj })) },
  { weight: 2, arbitrary: k8sPolicyArb.map((obj) => ({ op: "upsert" as const, obj })) },
  { weight: 2, arbitrary: calicoPolicyArb.map((obj) => ({ op: "upsert" as const, obj })) },
  { weight: 1, arbitrary: saArb.map((obj) => ({ op: "upsert" as const, obj })) },
  { weight: 3, arbitrary: netSetArb.map((obj) => ({ op: "upsert" as const, obj })) },
  { weight: 2, arbitrary: sliceArb.map((obj) => ({ op: "upsert" as const, obj })) },
  {
    weight: 2,
    arbitrary: fc
      .record({
        kind: fc.constantFrom(
          "Pod",
          "Namespace",
          "NetworkPolicy",
          "GlobalNetworkPolicy",
          "ServiceAccount",
          "NetworkSet",
          "GlobalNetworkSet",
          "EndpointSlice",
          "Tier",
        ),
        ns: fc.constantFrom(...NSS),
        name: fc.constantFrom(...PODS, ...NSS, "k1", "k2", "c1", "c2", "db", "s1", "s2", "t1"),
      })
      .map((r) => ({ op: "remove" as const, ...r })),
  },
);

const idOf = (kind: string, ns: string | undefined, name: string): string =>
  kind === "Namespace" ||
  kind === "GlobalNetworkPolicy" ||
  kind === "GlobalNetworkSet" ||
  kind === "Tier" ||
  kind === "AdminNetworkPolicy" ||
  kind === "BaselineAdminNetworkPolicy"
    ? `${kind}//${name}`
    : `${kind}/${ns ?? "default"}/${name}`;

/** Applies one object to a calculation the way PolicyEngine does. */
function feed(calc: PolicyCalc, obj: Obj): void {
  const r = parseObject(obj);
  if (r.problems.length) throw new Error(JSON.stringify(r.problems));
  if (r.pod) calc.upsertPod(r.pod);
  if (r.namespace) calc.upsertNamespace(r.namespace);
  if (r.policy) calc.upsertPolicy(r.policy);
  if (r.serviceAccount) calc.upsertServiceAccount(r.serviceAccount);
  if (r.networkSet) calc.upsertNetworkSet(r.networkSet);
  if (r.tier) calc.upsertTier(r.tier);
  if (r.endpointSlice) calc.upsertEndpointSlice(r.endpointSlice);
  // As PolicyEngine does: a slice that no longer belongs to a Service counts for nothing.
  if (r.endpointSlice === null)
    calc.removeEndpointSlice(obj.metadata.namespace ?? "default", obj.metadata.name);
}

function unfeed(calc: PolicyCalc, obj: Obj): void {
  const r = parseObject(obj);
  const md = obj.metadata;
  if (r.pod) calc.removePod(md.namespace ?? "default", md.name);
  if (r.namespace) calc.removeNamespace(md.name);
  if (r.serviceAccount) calc.removeServiceAccount(md.namespace ?? "default", md.name);
  if (r.networkSet) calc.removeNetworkSet(r.networkSet.namespace, md.name);
  if (r.tier) calc.removeTier(md.name);
  if (r.endpointSlice !== undefined) calc.removeEndpointSlice(md.namespace ?? "default", md.name);
  if (r.policy) {
    const ref = r.policy.ref;
    calc.removePolicy(`${ref.apiVersion}/${ref.kind}/${ref.namespace ?? ""}/${ref.name}`);
  }
}

function fullCompile(objs: readonly Obj[], node: string | null): PolicyIR {
  const loaded = loadStateText(JSON.stringify({ apiVersion: "v1", kind: "List", items: objs }));
  if (loaded.problems.length) throw new Error(JSON.stringify(loaded.problems));
  return compile({ state: loaded.state, policies: loaded.policies, node });
}

/** One op against the calculation and the objects it holds (by identity). */
function apply(calc: PolicyCalc, objs: Map<string, Obj>, o: Op): void {
  if (o.op === "upsert") {
    // An object keeps its identity: a Namespace/GlobalNetworkPolicy ignores the namespace.
    objs.set(idOf(o.obj.kind, o.obj.metadata.namespace, o.obj.metadata.name), o.obj);
    feed(calc, o.obj);
    return;
  }
  const id = idOf(o.kind, o.ns, o.name);
  const old = objs.get(id);
  if (old) {
    objs.delete(id);
    unfeed(calc, old);
  }
}

/** Replays ops, returns the final objects (by identity) and the calculation. */
function replay(ops: readonly Op[], node: string | null, peekEvery = 3): { calc: PolicyCalc; objs: Obj[] } {
  const calc = new PolicyCalc(node);
  const objs = new Map<string, Obj>();
  ops.forEach((o, i) => {
    apply(calc, objs, o);
    // Reading the IR and the delta midway must not disturb later steps (caches, dirty tracking).
    if (i % peekEvery === 0) {
      calc.ir();
      calc.takeDelta();
    }
  });
  return { calc, objs: [...objs.values()] };
}

t.test("incremental calculation equals a full compile after any sequence of changes", (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), fc.constantFrom("A", "B", null), (ops, node) => {
      const { calc, objs } = replay(ops, node);
      const want = fullCompile(objs, node);
      const got = calc.ir();
      if (JSON.stringify(got) !== JSON.stringify(want)) t.same(got, want, "first difference");
      return JSON.stringify(got) === JSON.stringify(want);
    }),
    { numRuns: 300 },
  );
  t.pass("300 sequences");
  t.end();
});

const isNetSet = (o: Obj): boolean => o.kind === "NetworkSet" || o.kind === "GlobalNetworkSet";

/** A pod on node A in every namespace, which most policies above select, so their sets are live. */
const localPods: Op[] = NSS.map((n) => ({
  op: "upsert",
  obj: {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: n, name: "local", labels: { app: "x", role: "db" } },
    spec: { nodeName: "A", containers: [{ name: "c" }] },
    status: { podIPs: [{ ip: "10.9.9.9" }] },
  },
}));

/**
 * The calculation against a full compile with the objects of one kind (`kind`) mixed in, starting
 * from local pods so policies are live; the floor checks those objects did change some outcomes.
 */
function equalsCompileWith(
  name: string,
  extra: readonly fc.Arbitrary<Obj>[],
  isKind: (o: Obj) => boolean,
  floor: number,
): void {
  t.test(`with ${name}, the calculation still equals a full compile`, (t) => {
    let mattered = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            { weight: 2, arbitrary: opArb },
            ...extra.map((a) => ({ weight: 2, arbitrary: a.map((obj): Op => ({ op: "upsert", obj })) })),
          ),
          { maxLength: 40 },
        ),
        (ops) => {
          const { calc, objs } = replay([...localPods, ...ops], "A");
          const want = fullCompile(objs, "A");
          const got = calc.ir();
          const without = fullCompile(
            objs.filter((o) => !isKind(o)),
            "A",
          );
          if (JSON.stringify(without) !== JSON.stringify(want)) mattered++;
          if (JSON.stringify(got) !== JSON.stringify(want)) t.same(got, want, "first difference");
          return JSON.stringify(got) === JSON.stringify(want);
        },
      ),
      { numRuns: 300 },
    );
    t.ok(mattered >= floor, `in ${mattered} of 300 sequences one of them changed the outcome`);
    t.end();
  });
}

equalsCompileWith("network sets", [calicoPolicyArb, netSetArb], isNetSet, 20);

const isSlice = (o: Obj): boolean => o.kind === "EndpointSlice";

/** Policies whose rules name the Service `svc` of n1, both ways. */
const servicePolicyArb: fc.Arbitrary<Obj> = fc
  .record({ ns: fc.constantFrom(...NSS), name: fc.constantFrom("c1", "c2"), udp: fc.boolean() })
  .map((p) => ({
    apiVersion: "projectcalico.org/v3",
    kind: "NetworkPolicy",
    metadata: { namespace: p.ns, name: p.name },
    spec: {
      selector: "all()",
      types: ["Ingress", "Egress"],
      ingress: [{ action: "Allow", source: { services: { name: "svc", namespace: "n1" } } }],
      egress: [
        {
          action: "Allow",
          ...(p.udp ? { protocol: "UDP" } : {}),
          destination: { services: { name: "svc", namespace: "n1" } },
        },
      ],
    },
  }));

equalsCompileWith("Service endpoints", [servicePolicyArb, sliceArb], isSlice, 15);

const isTier = (o: Obj): boolean => o.kind === "Tier";

/** Tiers before and after the default one, or of no order; policies in them, or in a tier not defined. */
const tierArb: fc.Arbitrary<Obj> = fc
  .record({
    name: fc.constantFrom("t1", "t2"),
    order: fc.constantFrom(5, 50, 2_000_000, undefined),
    action: fc.constantFrom("Deny", "Pass", undefined),
  })
  .map((r) => ({
    apiVersion: "projectcalico.org/v3",
    kind: "Tier",
    metadata: { name: r.name },
    spec: {
      ...(r.order !== undefined ? { order: r.order } : {}),
      ...(r.action !== undefined ? { defaultAction: r.action } : {}),
    },
  }));

const tieredPolicyArb: fc.Arbitrary<Obj> = fc
  .record({
    policy: calicoPolicyArb,
    tier: fc.constantFrom("t1", "t2", "t3", "default", undefined),
    name: fc.constantFrom("c1", "c2", "c3"),
  })
  .map(({ policy, tier, name }) => ({
    ...policy,
    metadata: { ...policy.metadata, name },
    spec: { ...(policy.spec as object), ...(tier !== undefined ? { tier } : {}) },
  }));

equalsCompileWith("tiers", [tieredPolicyArb, tieredPolicyArb, tierArb], isTier, 15);

const isAdmin = (o: Obj): boolean =>
  o.kind === "AdminNetworkPolicy" || o.kind === "BaselineAdminNetworkPolicy";

const adminPeerArb = fc.constantFrom(
  { namespaces: {} },
  { namespaces: { matchLabels: { team: "a" } } },
  { pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: "x" } } } },
  {
    pods: { namespaceSelector: { matchLabels: { team: "b" } }, podSelector: { matchLabels: { role: "db" } } },
  },
);
const adminPortsArb = fc.constantFrom(
  undefined,
  [{ portNumber: { port: 80 } }],
  [{ namedPort: "http" }],
  [{ portRange: { protocol: "UDP", start: 50, end: 60 } }, { portNumber: { port: 80 } }],
);
const adminRuleArb = (field: "from" | "to", actions: readonly string[]) =>
  fc
    .record({
      action: fc.constantFrom(...actions),
      peers: fc.array(adminPeerArb, { minLength: 1, maxLength: 2 }),
      nets: fc.boolean(),
      ports: adminPortsArb,
    })
    .map((r) => ({
      action: r.action,
      [field]: [...r.peers, ...(field === "to" && r.nets ? [{ networks: ["10.0.0.0/30"] }] : [])],
      ...(r.ports ? { ports: r.ports } : {}),
    }));
const adminSubjectArb = fc.constantFrom(
  { namespaces: {} },
  { namespaces: { matchLabels: { team: "a" } } },
  { pods: { namespaceSelector: {}, podSelector: { matchLabels: { app: "x" } } } },
);
const adminArb: fc.Arbitrary<Obj> = fc
  .record({
    baseline: fc.boolean(),
    name: fc.constantFrom("a1", "a2"),
    priority: fc.constantFrom(1, 5),
    subject: adminSubjectArb,
    ingress: fc.array(adminRuleArb("from", ["Allow", "Deny", "Pass"]), { maxLength: 2 }),
    egress: fc.array(adminRuleArb("to", ["Allow", "Deny", "Pass"]), { maxLength: 2 }),
  })
  .map((a) => {
    const strip = (rules: Array<Record<string, unknown>>) =>
      a.baseline
        ? rules.map((r) => ({ ...r, action: r["action"] === "Pass" ? "Deny" : r["action"] }))
        : rules;
    return {
      apiVersion: "policy.networking.k8s.io/v1alpha1",
      kind: a.baseline ? "BaselineAdminNetworkPolicy" : "AdminNetworkPolicy",
      metadata: { name: a.baseline ? "default" : a.name },
      spec: {
        ...(a.baseline ? {} : { priority: a.priority }),
        subject: a.subject,
        ...(a.ingress.length ? { ingress: strip(a.ingress) } : {}),
        ...(a.egress.length ? { egress: strip(a.egress) } : {}),
      },
    };
  });

equalsCompileWith("admin network policies", [adminArb, adminArb, k8sPolicyArb], isAdmin, 100);

t.test("the direct text of a full transaction is its rendered objects' JSON, for any IR", (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), fc.constantFrom("A", null), (ops, node) => {
      const ir = replay(ops, node).calc.ir();
      return renderFullText(ir) === JSON.stringify(renderFull(ir));
    }),
    { numRuns: 300 },
  );
  t.pass("300 IRs");
  t.end();
});

// Policies and namespaces first, with a pod on node A in every namespace so their sets are live; then
// pods come, go, move addresses and change labels, which is what element deltas are for.
const churnArb = fc.tuple(
  fc.array(fc.oneof(k8sPolicyArb, calicoPolicyArb), { minLength: 1, maxLength: 5 }),
  fc.array(nsArb, { maxLength: 3 }),
  fc.array(
    fc.oneof(
      { weight: 5, arbitrary: podArb.map((obj): Op => ({ op: "upsert", obj })) },
      {
        weight: 1,
        arbitrary: fc
          .record({ ns: fc.constantFrom(...NSS), name: fc.constantFrom(...PODS) })
          .map((r): Op => ({ op: "remove", kind: "Pod", ...r })),
      },
      // A network set's ranges turn its sets from point edits to rebuilds and back.
      { weight: 1, arbitrary: netSetArb.map((obj): Op => ({ op: "upsert", obj })) },
      {
        weight: 1,
        arbitrary: fc
          .record({
            kind: fc.constantFrom("NetworkSet", "GlobalNetworkSet"),
            ns: fc.constantFrom(...NSS),
            name: fc.constantFrom("s1", "s2"),
          })
          .map((r): Op => ({ op: "remove", ...r })),
      },
    ),
    { minLength: 5, maxLength: 40 },
  ),
);

t.test("element deltas, applied to each set as it was at the last take, give the set as it is", (t) => {
  let verified = 0;
  let merged = 0;
  fc.assert(
    fc.property(churnArb, ([policies, namespaces, ops]) => {
      const calc = new PolicyCalc("A");
      const objs = new Map<string, Obj>();
      for (const n of NSS) {
        feed(calc, {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { namespace: n, name: "local", labels: { app: "x", role: "db" } },
          spec: { nodeName: "A", containers: [{ name: "c" }] },
          status: { podIPs: [{ ip: "10.9.9.9" }] },
        });
      }
      for (const o of [...namespaces, ...policies]) feed(calc, o);
      let seen = new Map<string, readonly unknown[]>();
      const check = (): string | null => {
        const d = calc.takeDelta();
        for (const [name, e] of d.elements ?? []) {
          const before = seen.get(name);
          const now = calc.setIR(name);
          if (!before || now?.kind !== "addr") return `${name}: a delta for a set not seen before`;
          const got = new Set(before);
          for (const x of e.del) if (!got.delete(x)) return `${name}: deletes ${x}, which it did not hold`;
          for (const x of e.add) {
            if (got.has(x)) return `${name}: adds ${x}, which it held`;
            got.add(x);
          }
          verified++;
          if (e.del.length > 0 && e.add.length > 0) merged++;
          const want = [...now.elements].sort();
          if (JSON.stringify([...got].sort()) !== JSON.stringify(want))
            return `${name}: ${JSON.stringify([...got].sort())} != ${JSON.stringify(want)}`;
        }
        seen = new Map(calc.ir().sets.map((x) => [x.name, x.elements]));
        return null;
      };
      check();
      for (const [i, o] of ops.entries()) {
        apply(calc, objs, o);
        if (i % 2 === 0) {
          const bad = check();
          if (bad) {
            t.fail(bad);
            return false;
          }
        }
      }
      return check() === null;
    }),
    { numRuns: 400 },
  );
  t.ok(verified > 100, `${verified} deltas checked`);
  t.ok(merged > 0, `${merged} of them merged or split prefixes`);
  t.end();
});

t.test("replaying the final objects in any order gives the same IR", (t) => {
  fc.assert(
    fc.property(
      fc.array(opArb, { maxLength: 30 }).chain((ops) => {
        const { objs } = replay(ops, "A");
        return fc.tuple(fc.constant(objs), fc.shuffledSubarray(objs, { minLength: objs.length }));
      }),
      ([objs, shuffled]) => {
        const a = new PolicyCalc("A");
        for (const o of objs) feed(a, o);
        const b = new PolicyCalc("A");
        for (const o of shuffled) feed(b, o);
        return JSON.stringify(a.ir()) === JSON.stringify(b.ir());
      },
    ),
    { numRuns: 200 },
  );
  t.pass("order independent");
  t.end();
});

/** Pods app=x of n1 accept only from pods app=y of n1. */
const xFromY: Obj = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { namespace: "n1", name: "k" },
  spec: {
    podSelector: { matchLabels: { app: "x" } },
    ingress: [{ from: [{ podSelector: { matchLabels: { app: "y" } } }] }],
  },
};

t.test("a remote pod's label change touches only set elements", (t) => {
  const calc = new PolicyCalc("A");
  const objs: Obj[] = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "n1" } },
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace: "n1", name: "p1", labels: { app: "x" } },
      spec: { nodeName: "A" },
      status: { podIP: "10.0.0.1" },
    },
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace: "n1", name: "p2", labels: { app: "z" } },
      spec: { nodeName: "B" },
      status: { podIP: "10.0.0.7" },
    },
    xFromY,
  ];
  for (const o of objs) feed(calc, o);
  calc.ir();
  calc.takeDelta();
  feed(calc, { ...objs[2], metadata: { namespace: "n1", name: "p2", labels: { app: "y" } } } as Obj);
  const d = calc.takeDelta();
  t.equal(d.sets.size, 1, "one set changed");
  t.equal(d.chains.size, 0, "no chain changed");
  t.equal(d.endpoints.size, 0, "no dispatch entry changed");
  t.match(calc.setIR([...d.sets][0] ?? "")?.elements, ["10.0.0.7/32"]);
  t.end();
});

t.test("a pod that joins a built set and leaves again takes its address with it", (t) => {
  const calc = new PolicyCalc("A");
  const pod = (name: string, app: string, ip: string, node: string): Obj => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: "n1", name, labels: { app } },
    spec: { nodeName: node },
    status: { podIP: ip },
  });
  const objs: Obj[] = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "n1" } },
    pod("p1", "x", "10.0.0.1", "A"),
    pod("p2", "y", "10.0.0.8", "B"),
    pod("p3", "z", "10.0.0.7", "B"),
    xFromY,
  ];
  for (const o of objs) feed(calc, o);
  const elements = (): readonly string[] => {
    const set = calc.ir().sets.find((s) => s.kind === "addr" && s.definition.includes("app"));
    calc.takeDelta();
    return set?.kind === "addr" ? set.elements : [];
  };
  t.same(elements(), ["10.0.0.8/32"]);
  // p3 joins (next to p2: one merged interval) and leaves, one change at a time against the built set.
  feed(calc, pod("p3", "y", "10.0.0.7", "B"));
  t.same(elements(), ["10.0.0.7/32", "10.0.0.8/32"]);
  feed(calc, pod("p3", "z", "10.0.0.7", "B"));
  t.same(elements(), ["10.0.0.8/32"], "its address left with it");
  feed(calc, pod("p2", "z", "10.0.0.8", "B"));
  t.same(elements(), [], "and the last member's too");
  t.end();
});

t.test("a set of every pod's named ports made again sees pods that came while there was none", (t) => {
  const calc = new PolicyCalc("A");
  const pod = (name: string, node: string, ip: string): Obj => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: "n1", name, labels: { app: "x" } },
    spec: { nodeName: node, containers: [{ name: "c", ports: [{ name: "http", containerPort: 8080 }] }] },
    status: { podIP: ip },
  });
  const egress: Obj = {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { namespace: "n1", name: "e" },
    spec: { podSelector: {}, policyTypes: ["Egress"], egress: [{ ports: [{ port: "http" }] }] },
  };
  const objs = [
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "n1" } },
    pod("p1", "A", "10.0.0.1"),
  ];
  for (const o of [...objs, egress]) feed(calc, o);
  calc.ir();
  unfeed(calc, egress);
  calc.ir();
  const late = pod("p2", "B", "10.0.0.2");
  feed(calc, late);
  feed(calc, egress);
  const want = fullCompile([...objs, late, egress], "A");
  t.same(calc.ir(), want);
  const elements = calc
    .ir()
    .sets.flatMap((s) => (s.kind === "named-port" ? s.elements.map((e) => e.addr) : []));
  t.ok(elements.includes("10.0.0.2"), "the pod that came in between is in the set");
  t.end();
});

t.test("a policy edit that keeps its peers rewrites its chain and leaves its sets alone", (t) => {
  const calc = new PolicyCalc("A");
  const pod = (name: string, labels: Record<string, string>, node: string, ip: string): Obj => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: "n1", name, labels },
    spec: { nodeName: node, containers: [{ name: "c", ports: [] }] },
    status: { podIPs: [{ ip }] },
  });
  const policy = (endPort: number): Obj => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { namespace: "n1", name: "web" },
    spec: {
      podSelector: { matchLabels: { app: "x" } },
      ingress: [{ from: [{ podSelector: { matchLabels: { role: "db" } } }], ports: [{ port: 80, endPort }] }],
    },
  });
  feed(calc, pod("local", { app: "x" }, "A", "10.0.0.1"));
  feed(calc, pod("peer", { role: "db" }, "B", "10.0.0.2"));
  feed(calc, policy(90));
  const before = calc.ir();
  calc.takeDelta();
  feed(calc, policy(95));
  const d = calc.takeDelta();
  t.same([...d.sets], [], "no set touched: the peer set keeps its members");
  t.equal(d.chains.size, 1, "only the policy's ingress chain");
  const after = calc.ir();
  t.same(after.sets, before.sets);
  t.not(
    JSON.stringify(after.policyChains),
    JSON.stringify(before.policyChains),
    "the chain has the new ports",
  );
  t.end();
});

t.test("network sets: ranges and pods' points share a set, and namespace labels pick the sets", (t) => {
  const calc = new PolicyCalc("A");
  const pod = (ns: string, name: string, app: string, ip: string, node = "B"): Obj => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: ns, name, labels: { app } },
    spec: { nodeName: node },
    status: { podIP: ip },
  });
  const netSet = (ns: string, name: string, labels: Record<string, string>, nets: string[]): Obj => ({
    apiVersion: "projectcalico.org/v3",
    kind: "NetworkSet",
    metadata: { namespace: ns, name, labels },
    spec: { nets },
  });
  const ns = (name: string, labels: Record<string, string>): Obj => ({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, labels },
  });
  const gnp: Obj = {
    apiVersion: "projectcalico.org/v3",
    kind: "GlobalNetworkPolicy",
    metadata: { name: "from-y" },
    spec: {
      selector: "app == 'x'",
      ingress: [
        { action: "Allow", source: { selector: "app == 'y'" } },
        { action: "Allow", source: { namespaceSelector: "team == 'b'", selector: "app == 'z'" } },
      ],
    },
  };
  const objs = new Map<string, Obj>();
  const put = (o: Obj): void => {
    objs.set(idOf(o.kind, o.metadata.namespace, o.metadata.name), o);
    feed(calc, o);
  };
  /** The elements of the set whose definition names `what`, checked against a full compile. */
  const elements = (what: string): readonly string[] => {
    const ir = calc.ir();
    calc.takeDelta();
    t.same(ir, fullCompile([...objs.values()], "A"), `equal to a full compile (${what})`);
    const set = ir.sets.find((s) => s.kind === "addr" && s.family === 4 && s.definition.includes(what));
    return set?.kind === "addr" ? set.elements : [];
  };
  for (const o of [
    ns("n1", {}),
    ns("n2", {}),
    pod("n1", "local", "x", "10.9.9.9", "A"),
    pod("n1", "p", "y", "10.0.0.2"),
    netSet("n1", "s", { app: "y" }, ["10.0.0.0/30", "10.0.0.8/31"]),
    netSet("n2", "t", { app: "z" }, ["192.168.7.0/24"]),
    gnp,
  ])
    put(o);
  t.same(elements('app == "y"'), ["10.0.0.0/30", "10.0.0.8/31"], "a pod inside a net adds nothing");
  // The pod leaves the selection while the set is built: the net around its address stays whole.
  put(pod("n1", "p", "w", "10.0.0.2"));
  t.same(elements('app == "y"'), ["10.0.0.0/30", "10.0.0.8/31"], "a pod leaving does not split a net");
  put(pod("n1", "p", "y", "10.0.0.4"));
  t.same(elements('app == "y"'), ["10.0.0.0/30", "10.0.0.4/32", "10.0.0.8/31"]);
  put(pod("n1", "q", "y", "10.0.0.5"));
  t.same(elements('app == "y"'), ["10.0.0.0/30", "10.0.0.4/31", "10.0.0.8/31"], "pods merge with nets");
  calc.removeNetworkSet("n1", "s");
  objs.delete(idOf("NetworkSet", "n1", "s"));
  t.same(elements('app == "y"'), ["10.0.0.4/31"], "a removed network set takes its nets along");
  // A namespace label decides whether a namespaceSelector takes its network sets.
  t.same(elements("team"), [], "n2 is not team b");
  put(ns("n2", { team: "b" }));
  t.same(elements("team"), ["192.168.7.0/24"], "n2 became team b");
  put(ns("n2", { team: "c" }));
  t.same(elements("team"), [], "and stopped being");
  t.end();
});
