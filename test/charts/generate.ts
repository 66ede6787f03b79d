/**
 * The chart's generated files, from the schemas the code validates with:
 * `crds/<plural>.tortie.io.yaml` (datastore/crd.ts) and `values.schema.json`,
 * whose pool, BGP configuration, peer and filter entries are those kinds' spec
 * schemas. `node dist/test/charts/generate.js` rewrites them; with `--check` it
 * only says which differ (chart.test.ts checks the same, so a schema change
 * without a regenerated chart fails the tests).
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { format } from "prettier";
import { stringify } from "yaml";
import { customResourceDefinitions } from "../../datastore/crd.js";
import { forAjv, type JsonSchema } from "../../datastore/schema/builder.js";
import { SCHEMAS } from "../../datastore/schema/resources.js";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
export const CHART = join(REPO, "charts", "tortie");

const HEADER = "# Generated from datastore/crd.ts by `node dist/test/charts/generate.js`: do not edit.\n";

async function pretty(text: string, parser: "yaml" | "json"): Promise<string> {
  return await format(text, { parser, printWidth: 110 });
}

/** crds/ file name -> text, one file per CRD. */
export async function crdFiles(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const crd of customResourceDefinitions())
    out.set(`${crd.metadata.name}.yaml`, await pretty(HEADER + stringify(crd, { lineWidth: 0 }), "yaml"));
  return out;
}

// Loose on purpose: the point is a typo caught by `helm install`; the API server's CRD schema and tortie's
// own validation (ipaddr.js) are the exact checks.
const CIDR_PATTERN = "^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)/[0-9]{1,3}$";
const IP_PATTERN = "^([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$";

type ValuesSchema = Omit<JsonSchema, "type" | "properties" | "items" | "additionalProperties" | "anyOf"> & {
  type?: string | string[];
  properties?: Record<string, ValuesSchema>;
  items?: ValuesSchema;
  additionalProperties?: ValuesSchema | boolean;
  anyOf?: ValuesSchema[];
  $schema?: string;
  title?: string;
};

/**
 * A code schema as plain JSON Schema (draft-07) for helm: unknown fields
 * rejected as tortie rejects them, no Kubernetes extensions, and the `cidr` /
 * `ip` formats (tortie's, unknown to helm) as patterns.
 */
export function forValues(json: JsonSchema): ValuesSchema {
  const walk = (s: JsonSchema): ValuesSchema => {
    const {
      "x-kubernetes-preserve-unknown-fields": _p,
      "x-kubernetes-int-or-string": _i,
      nullable,
      format: fmt,
      properties,
      items,
      additionalProperties,
      anyOf,
      type,
      ...rest
    } = s;
    const out: ValuesSchema = { ...rest };
    if (type) out.type = nullable ? [type, "null"] : type;
    if (fmt === "cidr") out.pattern = CIDR_PATTERN;
    else if (fmt === "ip") out.pattern = IP_PATTERN;
    else if (fmt) out.format = fmt;
    if (properties)
      out.properties = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, walk(v)]));
    if (items) out.items = walk(items);
    if (typeof additionalProperties === "object") out.additionalProperties = walk(additionalProperties);
    else if (additionalProperties !== undefined) out.additionalProperties = additionalProperties;
    if (anyOf) out.anyOf = anyOf.map(walk);
    return out;
  };
  return walk(forAjv(json));
}

const str = (description: string, extra: Partial<ValuesSchema> = {}): ValuesSchema => ({
  type: "string",
  description,
  ...extra,
});
const closed = (
  description: string,
  properties: Record<string, ValuesSchema>,
  required: string[] = [],
): ValuesSchema => ({
  type: "object",
  description,
  properties,
  ...(required.length > 0 ? { required } : {}),
  additionalProperties: false,
});
const named = (what: string, spec: JsonSchema): ValuesSchema => ({
  type: "array",
  description: `${what} objects to create: a name and the spec`,
  items: closed(
    what,
    { name: str("metadata.name", { pattern: "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$" }), spec: forValues(spec) },
    ["name", "spec"],
  ),
});
/** Kubernetes' own shapes the chart passes through (resources, tolerations, securityContext). */
const kube = (description: string, type: "object" | "array" = "object"): ValuesSchema => ({
  type,
  description,
});

export function valuesSchema(): ValuesSchema {
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    title: "tortie chart values",
    type: "object",
    additionalProperties: false,
    required: ["image", "datastore", "backend", "listen", "cni", "bgpConfiguration"],
    properties: {
      image: closed(
        "the agent's image, built from the repository's Dockerfile",
        {
          repository: str("image repository", { minLength: 1 }),
          tag: str("image tag", { minLength: 1 }),
          pullPolicy: { type: "string", enum: ["Always", "IfNotPresent", "Never"] },
        },
        ["repository", "tag"],
      ),
      imagePullSecrets: kube("pull secrets for the image", "array"),
      datastore: str("kubernetes, or etcd:http://HOST:PORT[/PREFIX]", {
        pattern: "^(kubernetes|etcd:https?://.+)$",
      }),
      backend: { type: "string", enum: ["nft", "iptables"], description: "the policy dataplane" },
      resyncInterval: { type: "integer", minimum: 1, description: "seconds between full resyncs" },
      logLevel: { type: "string", enum: ["trace", "debug", "info", "warn", "error", "fatal"] },
      listen: closed(
        "the agent's HTTP endpoint (/liveness, /readiness, /metrics)",
        {
          host: str("address to listen on", { pattern: IP_PATTERN }),
          port: { type: "integer", minimum: 1, maximum: 65535 },
        },
        ["host", "port"],
      ),
      metrics: closed("Prometheus", {
        scrapeAnnotations: { type: "boolean", description: "add prometheus.io/* annotations to the pods" },
      }),
      nodeIP: str("this node's BGP address as ADDR/LEN; empty: autodetected", {
        pattern: `^$|${CIDR_PATTERN}`,
      }),
      cni: closed(
        "the CNI plugin's installation on each host",
        {
          binDir: str("the host's CNI bin directory", { pattern: "^/" }),
          confDir: str("the host's CNI network configuration directory", { pattern: "^/" }),
          installDir: str("where Node.js and tortie are copied on the host", { pattern: "^/" }),
          mtu: { type: "integer", minimum: 576, maximum: 65535 },
          network: str("the conflist's network name", { minLength: 1 }),
        },
        ["binDir", "confDir", "installDir"],
      ),
      ipPools: named("IPPool", SCHEMAS.IPPool.spec.json),
      bgpConfiguration: forValues(SCHEMAS.BGPConfiguration.spec.json),
      bgpPeers: named("BGPPeer", SCHEMAS.BGPPeer.spec.json),
      bgpFilters: named("BGPFilter", SCHEMAS.BGPFilter.spec.json),
      routeReflectors: {
        type: "array",
        description: "nodes that are route reflectors (NOTES.txt prints how to annotate them)",
        items: closed(
          "a route reflector",
          {
            node: str("the node's name", { minLength: 1 }),
            clusterId: str("the cluster id, an IPv4 address", { pattern: "^[0-9]{1,3}(\\.[0-9]{1,3}){3}$" }),
          },
          ["node", "clusterId"],
        ),
      },
      securityContext: kube("the agent container's securityContext"),
      resources: kube("the agent container's resources"),
      tolerations: kube("the pods' tolerations", "array"),
      nodeSelector: { type: "object", additionalProperties: { type: "string" } },
      priorityClassName: str("the pods' priority class"),
      terminationGracePeriodSeconds: { type: "integer", minimum: 1 },
      podAnnotations: { type: "object", additionalProperties: { type: "string" } },
    },
  };
}

export async function valuesSchemaText(): Promise<string> {
  return await pretty(JSON.stringify(valuesSchema()), "json");
}

/** Every generated file (path relative to the chart) and its text. */
export async function generatedFiles(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [name, text] of await crdFiles()) out.set(join("crds", name), text);
  out.set("values.schema.json", await valuesSchemaText());
  return out;
}

/** Files that differ from what would be generated, and crds/ files nothing generates. */
export async function staleFiles(): Promise<string[]> {
  const want = await generatedFiles();
  const stale: string[] = [];
  for (const [rel, text] of want) {
    let have: string | undefined;
    try {
      have = readFileSync(join(CHART, rel), "utf8");
    } catch {
      have = undefined;
    }
    if (have !== text) stale.push(rel);
  }
  for (const f of readdirSync(join(CHART, "crds")))
    if (!want.has(join("crds", f))) stale.push(join("crds", f));
  return stale;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--check")) {
    const stale = await staleFiles();
    for (const f of stale) process.stderr.write(`charts/tortie/${f} is not what the code generates\n`);
    process.exit(stale.length > 0 ? 1 : 0);
  }
  for (const [rel, text] of await generatedFiles()) {
    writeFileSync(join(CHART, rel), text);
    process.stdout.write(`wrote charts/tortie/${rel}\n`);
  }
}
