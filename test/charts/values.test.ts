import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import t from "tap";
import { parse } from "yaml";
import type { KindName } from "../../datastore/kinds.js";
import type { StoredObject } from "../../datastore/types.js";
import { validateObject } from "../../datastore/validate.js";
import { CHART } from "./generate.js";

/**
 * The values files against values.schema.json, as helm checks them on install, lint and template; and the
 * tortie.io objects templates/resources.yaml makes of them (name + spec, written as given) against
 * tortie's own validation, which is stricter than a JSON schema (an IPv4 pool's block size, host bits).
 */

interface Named {
  name: string;
  spec: Record<string, unknown>;
}
interface Values {
  ipPools: Named[];
  bgpConfiguration: Record<string, unknown>;
  bgpPeers: Named[];
  bgpFilters: Named[];
  [k: string]: unknown;
}

const schema = JSON.parse(readFileSync(join(CHART, "values.schema.json"), "utf8")) as object;
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const check = ajv.compile(schema);
const load = (f: string) => parse(readFileSync(join(CHART, f), "utf8")) as Values;
const errors = (v: unknown) =>
  check(v) ? [] : (check.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ""}`);

/** What templates/resources.yaml renders from the values. */
function objectsOf(v: Values): { kind: KindName; obj: StoredObject }[] {
  const mk = (kind: KindName, name: string, spec: Record<string, unknown>) => ({
    kind,
    obj: { apiVersion: "tortie.io/v1", kind, metadata: { name }, spec } as StoredObject,
  });
  return [
    ...v.ipPools.map((p) => mk("IPPool", p.name, p.spec)),
    mk("BGPConfiguration", "default", v.bgpConfiguration),
    ...v.bgpPeers.map((p) => mk("BGPPeer", p.name, p.spec)),
    ...v.bgpFilters.map((p) => mk("BGPFilter", p.name, p.spec)),
  ];
}

for (const file of ["values.yaml", "examples/full-values.yaml"]) {
  t.test(
    `${file} validates against values.schema.json, and its objects against tortie's validation`,
    async (t) => {
      const v = load(file);
      t.same(errors(v), [], "values.schema.json");
      const objs = objectsOf(v);
      t.ok(objs.length >= 2, `${objs.length} objects`);
      for (const { kind, obj } of objs) t.same(validateObject(kind, obj), [], `${kind} ${obj.metadata.name}`);
    },
  );
}

t.test("the full example sets every top-level value the schema knows", async (t) => {
  const props = Object.keys((schema as { properties: object }).properties).sort();
  t.same(Object.keys(load("examples/full-values.yaml")).sort(), props);
  t.same(Object.keys(load("values.yaml")).sort(), props, "and values.yaml documents each");
});

t.test("values.schema.json rejects mistakes, naming the value", async (t) => {
  const base = load("values.yaml");
  const cases: [string, (v: Values) => void, RegExp][] = [
    ["unknown backend", (v) => (v.backend = "ebpf"), /\/backend must be equal to one of the allowed values/],
    ["unknown top-level value", (v) => (v.backendd = "nft"), /must NOT have additional properties/],
    ["file datastore", (v) => (v.datastore = "file:/var/lib/tortie"), /\/datastore must match pattern/],
    [
      "pool without cidr",
      (v) => delete v.ipPools[0]!.spec.cidr,
      /\/ipPools\/0\/spec must have required property 'cidr'/,
    ],
    [
      "pool typo",
      (v) => (v.ipPools[0]!.spec.natOutGoing = true),
      /\/ipPools\/0\/spec must NOT have additional/,
    ],
    [
      "pool cidr",
      (v) => (v.ipPools[0]!.spec.cidr = "192.168.0.0"),
      /\/ipPools\/0\/spec\/cidr must match pattern/,
    ],
    ["AS number", (v) => (v.bgpConfiguration.asNumber = 0), /\/bgpConfiguration\/asNumber must be >= 1/],
    [
      "peer",
      (v) => v.bgpPeers.push({ name: "p", spec: { peerIP: "192.0.2.1", asNumber: "x" } }),
      /\/bgpPeers\/0\/spec\/asNumber must be integer/,
    ],
    [
      "listen host",
      (v) => ((v.listen as { host: string }).host = "localhost"),
      /\/listen\/host must match pattern/,
    ],
    [
      "route reflector",
      (v) => (v.routeReflectors = [{ node: "n" }]),
      /\/routeReflectors\/0 must have required property 'clusterId'/,
    ],
  ];
  for (const [name, mutate, want] of cases) {
    const v = structuredClone(base);
    mutate(v);
    t.match(errors(v).join("\n"), want, name);
  }
});

t.test("tortie's validation catches what a JSON schema cannot, in a values pool", async (t) => {
  const v = load("values.yaml");
  v.ipPools[0]!.spec.blockSize = 120;
  t.same(errors(v), [], "the values schema accepts blockSize 120 for an IPv4 pool…");
  const [pool] = objectsOf(v);
  t.match(
    validateObject(pool!.kind, pool!.obj),
    [{ path: "spec.blockSize", message: /20\.\.32/ }],
    "…tortie does not",
  );
});
