import t from "tap";
import { NftSets } from "../../core/netlink/nftables.js";
import { NftMsg, NFNL_SUBSYS_NFTABLES, RULE, dumpPayload } from "../../core/netlink/nft-wire.js";
import { attrMap } from "../../core/netlink/message.js";
import type { PolicyIR } from "../../policy/ir.js";
import { PREAMBLE } from "../../policy/ir.js";
import { applyNft, listTortie, type Runner } from "../../policy/nft/apply.js";
import { Unsupported, transactionOf } from "../../policy/nft/netlink.js";
import { PolicyEngine } from "../../policy/engine.js";
import { TABLE, renderDiff, renderFull } from "../../policy/nft/render.js";
import { Kit } from "../kit/kit.js";
import { fixtureIR } from "./samples/ir.js";

const EMPTY: PolicyIR = {
  node: "node1",
  preamble: PREAMBLE,
  sets: [],
  policyChains: [],
  endpointChains: [],
  endpoints: [],
  dispatch: { fromEndpoint: [], toEndpoint: [] },
};

/**
 * `nft -j list table inet tortie` without handles, objects in name order (both count and list in
 * creation order, which differs between a full load and a sequence of changes); rules keep their
 * order within a chain.
 */
async function listed(run: Runner): Promise<unknown[]> {
  const objs = (await listTortie(run)) ?? [];
  const plain = JSON.parse(
    JSON.stringify(objs, (k, v: unknown) => (k === "handle" ? undefined : v)),
  ) as Record<string, { name?: string; chain?: string }>[];
  const sortKey = (o: Record<string, { name?: string; chain?: string }>): string => {
    const [kind = "", body] = Object.entries(o)[0] ?? [];
    return `${kind} ${body?.chain ?? body?.name ?? ""}`;
  };
  return plain
    .map((o, i) => [sortKey(o), i, o] as const)
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] - y[1]))
    .map((x) => x[2]);
}

/**
 * Every rule as the kernel holds it: chain, expression bytes and userdata, with anonymous sets'
 * names (`__set<N>`, numbered per table in creation order) blanked.
 */
async function kernelRules(nl: NftSets): Promise<string[]> {
  const msgs = await nl.dump((NFNL_SUBSYS_NFTABLES << 8) | NftMsg.GETRULE, dumpPayload("inet", TABLE));
  const rules = msgs.map((m) => {
    const a = attrMap(m.payload.subarray(4));
    const exprs = (a.get(RULE.EXPRESSIONS) ?? Buffer.alloc(0))
      .toString("latin1")
      .replace(/__set\d+/g, "__set_");
    return `${a.get(RULE.CHAIN)?.toString("latin1")} ${Buffer.from(exprs, "latin1").toString("hex")} ${a.get(RULE.USERDATA)?.toString("hex")}`;
  });
  // Chains in name order (the kernel dumps them in creation order); rules keep their order in a chain.
  const chain = (r: string): string => r.slice(0, r.indexOf(" "));
  return rules
    .map((r, i) => [r, i] as const)
    .sort(([a, i], [b, j]) => (chain(a) < chain(b) ? -1 : chain(a) > chain(b) ? 1 : i - j))
    .map(([r]) => r);
}

t.test("diffs sent as nf_tables netlink batches give the table a full nft load gives", async (t) => {
  const kit = Kit.create(t);
  const ns = await kit.netns("nftnl");
  const fresh = await kit.netns("nftnlfresh");
  const run: Runner = (cmd, args, opts) => ns.exec(cmd, args, opts ?? {});
  const runFresh: Runner = (cmd, args, opts) => fresh.exec(cmd, args, opts ?? {});
  const nl = new NftSets(ns.name);
  const nlFresh = new NftSets(fresh.name);
  t.teardown(() => {
    nl.close();
    nlFresh.close();
  });

  const steps: [string, PolicyIR][] = [
    ["b", fixtureIR("b")],
    ["a", fixtureIR("a")],
    ["empty", EMPTY],
    ["a", fixtureIR("a")],
    ["b", fixtureIR("b")],
  ];
  await applyNft(run, renderFull(fixtureIR("a")));
  let prev = fixtureIR("a");
  for (const [name, ir] of steps) {
    await nl.send(transactionOf(renderDiff(prev, ir)));
    await applyNft(runFresh, renderFull(ir));
    t.same(await listed(run), await listed(runFresh), `→ ${name}: nft lists the same table`);
    t.same(
      await kernelRules(nl),
      await kernelRules(nlFresh),
      `→ ${name}: the kernel holds the same rule bytes`,
    );
    prev = ir;
  }
});

t.test(
  "the engine rewrites chains over netlink, and falls back to nft -j -f when the encoder cannot",
  async (t) => {
    const kit = Kit.create(t);
    const objects = (port: number): object[] => [
      { apiVersion: "v1", kind: "Namespace", metadata: { name: "x", labels: {} } },
      {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { namespace: "x", name: "web", labels: { app: "web" } },
        spec: { nodeName: "n1", containers: [{ name: "c" }] },
        status: { podIP: "10.244.1.2" },
      },
      {
        apiVersion: "networking.k8s.io/v1",
        kind: "NetworkPolicy",
        metadata: { namespace: "x", name: "web" },
        spec: {
          podSelector: { matchLabels: { app: "web" } },
          ingress: [{ ports: [{ port: 80, endPort: port }] }],
        },
      },
    ];
    for (const [name, encoder] of [
      ["netlink", undefined],
      [
        "fallback",
        () => {
          throw new Unsupported("test: no encoder");
        },
      ],
    ] as const) {
      const ns = await kit.netns(`eng${name}`);
      const engine = new PolicyEngine({ node: "n1", backend: "nft", netns: ns.name, nftEncoder: encoder });
      t.teardown(() => engine.close());
      for (const o of objects(81)) t.same(engine.upsert(o), []);
      t.equal((await engine.program()).kind, "full");
      for (const o of objects(90)) engine.upsert(o);
      const r = await engine.program();
      t.match(r, { kind: "incremental", chains: 1 }, `${name}: one chain rewritten`);
      if (encoder)
        t.match(r, { via: "nft", fallback: /test: no encoder/ }, "through nft, and the report says why");
      else t.match(r, { via: "netlink", fallback: undefined }, "as one netlink batch");
      const fresh = await kit.netns(`engfresh${name}`);
      await applyNft((c, a, o) => fresh.exec(c, a, o ?? {}), renderFull(engine.ir()));
      t.same(
        await listed((c, a, o) => ns.exec(c, a, o ?? {})),
        await listed((c, a, o) => fresh.exec(c, a, o ?? {})),
        `${name}: the kernel holds what a full load gives`,
      );
    }
  },
);
