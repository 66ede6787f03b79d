import t from "tap";
import { compile } from "../../policy/compile.js";
import { PolicyEngine } from "../../policy/engine.js";
import { renderFull, renderFullText } from "../../policy/nft/render.js";
import { applyNft } from "../../policy/nft/apply.js";
import { loadStateText } from "../../policy/state.js";
import { hostIfName } from "../../core/ifname.js";
import { Kit } from "../kit/kit.js";
import { canonicalTable } from "./harness/canonical.js";

const ns = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: "v1",
  kind: "Namespace",
  metadata: { name, labels },
});
const pod = (namespace: string, name: string, ip: string, labels: Record<string, string>, node = "n1") => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { namespace, name, labels },
  spec: { nodeName: node, containers: [{ name: "c", ports: [{ name: "http", containerPort: 8080 }] }] },
  status: { podIP: ip },
});
const allowFrom = (role: string) => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { namespace: "x", name: "web" },
  spec: {
    podSelector: { matchLabels: { app: "web" } },
    ingress: [{ from: [{ podSelector: { matchLabels: { role } } }], ports: [{ port: "http" }] }],
  },
});

function fullIR(objs: readonly object[], node: string) {
  const loaded = loadStateText(JSON.stringify({ apiVersion: "v1", kind: "List", items: objs }));
  return compile({ state: loaded.state, policies: loaded.policies, node });
}

for (const backend of ["nft", "iptables"] as const)
  t.test(`PolicyEngine (${backend}) in a namespace`, async (t) => {
    const kit = Kit.create(t);
    const netns = await kit.netns(`eng-${backend}`);
    const engine = new PolicyEngine({ node: "n1", backend, netns: netns.name });
    t.teardown(() => engine.close());
    const objs: object[] = [
      ns("x"),
      pod("x", "web", "10.0.0.1", { app: "web" }),
      pod("x", "cli", "10.0.0.2", { role: "client" }),
      pod("x", "far", "10.0.1.9", { role: "other" }, "n2"),
      allowFrom("client"),
    ];
    for (const o of objs) t.same(engine.upsert(o), [], "valid objects are accepted");
    const first = await engine.program();
    t.equal(first.kind, "full", "the first program() is a full load");
    t.same(engine.ir(), fullIR(objs, "n1"), "engine IR = full compile");
    const st = engine.stats();
    t.equal(st.policies, 1);
    t.ok(st.sets >= 1 && st.setElements >= 1 && st.rules >= 1, `stats ${JSON.stringify(st)}`);

    const kernel = async (): Promise<string> =>
      backend === "nft"
        ? netns.exec("nft", ["list", "table", "inet", "tortie"])
        : [
            ...(await netns.exec("iptables-save", ["-t", "filter"]))
              .split("\n")
              .filter((l) => !l.startsWith("#")),
            ...(await netns.exec("ipset", ["save"]))
              .split("\n")
              .map((l) => l.replace(/ initval 0x[0-9a-f]+/, ""))
              .sort(),
          ].join("\n");
    t.match(await kernel(), /10\.0\.0\.2/, "the client's address is in a set");

    // A remote pod takes the selected label: only set elements change.
    objs[3] = pod("x", "far", "10.0.1.9", { role: "client" }, "n2");
    engine.upsert(objs[3]);
    const relabel = await engine.program();
    t.equal(relabel.kind, "incremental");
    t.ok(relabel.setElements > 0, "set elements changed");
    t.equal(relabel.chains, 0, "no chain rewritten for a label change");
    t.match(await kernel(), /10\.0\.1\.9/, "the relabelled pod's address is in the set");
    t.same(engine.ir(), fullIR(objs, "n1"));

    // A bad object is rejected with its field and disturbs nothing.
    const before = await kernel();
    const bad = engine.upsert({
      ...allowFrom("client"),
      spec: { podSelector: {}, ingress: [{ ports: [{ port: 80, endPort: 70 }] }] },
    });
    t.match(bad, [{ object: "NetworkPolicy x/web", path: "spec.ingress[0].ports[0].endPort" }]);
    await engine.program();
    t.equal(await kernel(), before, "a rejected object changes nothing in the kernel");

    // Calls that overlap are written one after the other, each against what the previous wrote.
    objs[3] = pod("x", "far", "10.0.1.10", { role: "client" }, "n2");
    engine.upsert(objs[3]);
    const overlapping = [engine.program(), engine.program()];
    objs[3] = pod("x", "far", "10.0.1.11", { role: "client" }, "n2");
    engine.upsert(objs[3]);
    overlapping.push(engine.program());
    await Promise.all(overlapping);
    t.match(await kernel(), /10\.0\.1\.11/, "the last address is in the kernel");
    t.notMatch(await kernel(), /10\.0\.1\.(9|10)\b/, "earlier addresses are gone");
    t.same(engine.ir(), fullIR(objs, "n1"));

    // Policy change, then removal.
    objs[4] = allowFrom("other");
    engine.upsert(objs[4]);
    const pc = await engine.program();
    t.ok(pc.chains >= 1 || backend === "iptables", "a policy change rewrites chains");
    t.same(engine.ir(), fullIR(objs, "n1"));
    engine.remove("NetworkPolicy", "x", "web");
    await engine.program();
    t.same(engine.ir(), fullIR(objs.slice(0, 4), "n1"), "removed policy is gone");
    t.equal(engine.stats().policies, 0);

    // setLocalEndpoints overrides spec.nodeName.
    engine.upsert(objs[4]);
    engine.setLocalEndpoints([
      { namespace: "x", pod: "far", ifName: hostIfName("x", "far"), ips: ["10.0.1.9"] },
    ]);
    await engine.program();
    const ir = engine.ir();
    t.same(
      ir.endpoints.map((e) => `${e.namespace}/${e.pod}`),
      ["x/far"],
      "only the listed endpoint is local",
    );

    if (backend === "nft") {
      // Drift: someone flushes a chain; resync repairs it without a flush of the table first.
      const list = ["-j", "list", "table", "inet", "tortie"];
      const good = canonicalTable(await netns.exec("nft", list));
      await netns.exec("nft", ["flush", "chain", "inet", "tortie", "forward"]);
      const r = await engine.resync();
      t.equal(r.kind, "full");
      t.same(canonicalTable(await netns.exec("nft", list)), good, "resync repairs drift");
      // Per-rule counters survive a resync: counts loaded as traffic would have made them stay.
      const now = engine.ir();
      const epDefault = `${now.endpointChains[0]?.name ?? "?"}:default`;
      const counts = new Map([
        ["tortie:established", { packets: 3, bytes: 300 }],
        [epDefault, { packets: 7, bytes: 700 }],
      ]);
      await applyNft((c, a, o) => netns.exec(c, a, o ?? {}), renderFullText(now, counts));
      await engine.resync();
      const counted = new Map<string, unknown>();
      for (const o of (
        JSON.parse(await netns.exec("nft", list)) as { nftables: Array<Record<string, unknown>> }
      ).nftables) {
        const rule = o["rule"] as { comment?: string; expr: Array<Record<string, unknown>> } | undefined;
        if (rule?.comment) counted.set(rule.comment, rule.expr.find((e) => "counter" in e)?.["counter"]);
      }
      t.same(
        counted.get("tortie:established"),
        { packets: 3, bytes: 300 },
        "a base chain rule keeps its count",
      );
      t.same(counted.get(epDefault), { packets: 7, bytes: 700 }, "an endpoint rule keeps its count");
      t.same(canonicalTable(await netns.exec("nft", list)), good, "and the table is as it was");
      // What the engine built incrementally equals a full render loaded into a fresh namespace.
      const fresh = await kit.netns("eng-fresh");
      await applyNft((c, a, o) => fresh.exec(c, a, o ?? {}), renderFull(ir));
      t.same(good, canonicalTable(await fresh.exec("nft", list)));
    }
  });
