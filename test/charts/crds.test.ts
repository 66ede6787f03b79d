import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parse } from "yaml";
import { CRD_KINDS, customResourceDefinition, customResourceDefinitions } from "../../datastore/crd.js";
import { KINDS } from "../../datastore/kinds.js";
import { crdProblems } from "./crd-check.js";
import { CHART, crdFiles, staleFiles } from "./generate.js";

const dir = join(CHART, "crds");

t.test(
  "crds/ and values.schema.json are what the code generates (node dist/test/charts/generate.js)",
  async (t) => {
    t.same(await staleFiles(), [], "no stale or extra generated file");
    t.same(readdirSync(dir).sort(), [...(await crdFiles()).keys()].sort(), "one file per tortie.io kind");
  },
);

t.test("every committed CRD is the code's CRD for its kind, schema included", async (t) => {
  t.equal(CRD_KINDS.length, Object.values(KINDS).filter((k) => k.group === "tortie.io").length);
  for (const kind of CRD_KINDS) {
    const info = KINDS[kind];
    const file = join(dir, `${info.plural}.tortie.io.yaml`);
    const committed = parse(readFileSync(file, "utf8")) as unknown;
    t.same(committed, customResourceDefinition(kind), `${kind}: ${file} equals datastore/crd.ts`);
  }
});

t.test(
  "every CRD validates as an apiextensions.k8s.io/v1 CustomResourceDefinition with a structural schema",
  async (t) => {
    for (const f of readdirSync(dir)) {
      const crd = parse(readFileSync(join(dir, f), "utf8")) as unknown;
      t.same(crdProblems(crd), [], f);
    }
    t.equal(customResourceDefinitions().length, readdirSync(dir).length);
  },
);

/** Sets (or, with undefined, deletes) the value at a dotted path; `S.` abbreviates the IPPool schema's spec. */
function edit(c: unknown, path: string, value: unknown): void {
  const full = path.replace(/^S\./, "spec.versions.0.schema.openAPIV3Schema.properties.spec.");
  const keys = full.split(".");
  const last = keys.pop() ?? "";
  let o = c as Record<string, unknown>;
  for (const k of keys) o = o[k] as Record<string, unknown>;
  if (value === undefined) delete o[last];
  else o[last] = value;
}

t.test("the CRD check catches what the API server rejects", async (t) => {
  const good = customResourceDefinition("IPPool");
  t.same(crdProblems(good), [], "the real one passes");
  const cases: [string, unknown, RegExp][] = [
    ["S.properties.cidr.type", undefined, /properties\.cidr: must have a type/],
    ["S.additionalProperties", false, /additionalProperties: must not be false(.|\n)*mutually exclusive/],
    ["S.properties.cidr.format", "cidrr", /not a format the API server knows/],
    ["S.properties.x", { type: "array" }, /an array must say its items/],
    [
      "S.anyOf",
      [{ properties: { y: { type: "string" } } }],
      /anyOf\[0\]\.properties\.y\.type: must not be set/,
    ],
    ["S.allOf", [{ properties: { y: {} } }], /allOf\[0\]\.properties\.y: not specified outside allOf/],
    [
      "spec.versions.0.schema.openAPIV3Schema.properties.metadata.properties",
      { labels: { type: "object" } },
      /only name and generateName/,
    ],
    ["S.properties.cidr.$ref", "#/x", /\$ref: not allowed/],
    ["S.properties.cidr.uniqueItems", true, /uniqueItems: must not be true/],
    ["metadata.name", "ippool.tortie.io", /metadata\.name/],
    ["spec.versions.0.storage", false, /exactly one must be the storage version/],
    ["spec.names.plural", "IPPools", /DNS-1035/],
    ["spec.scope", "Global", /spec\.scope/],
    ["S.properties.vxlanMode.enum", [1], /is not a string/],
    ["S.required", ["nope"], /"nope" is not one of its properties/],
    ["spec.versions.0.schema", undefined, /openAPIV3Schema: is required/],
  ];
  for (const [path, value, want] of cases) {
    const c = structuredClone(good);
    edit(c, path, value);
    t.match(crdProblems(c).join("\n"), want, `${path} = ${JSON.stringify(value)}`);
  }
});
