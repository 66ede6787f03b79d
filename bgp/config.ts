import { Ajv, type ErrorObject } from "ajv";
import addFormatsModule from "ajv-formats";
import ipaddr from "ipaddr.js";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { UserError, ValidationError, errorMessage, type FieldProblem } from "../core/errors.js";
import { compileFilters, prefixCidr, type BgpFilter, type CompiledFilter } from "./policy/filter.js";
import type { Pool } from "./policy/route-policy.js";
import { parsePrefix, type PrefixKey } from "./rib/prefix.js";

/** `tortie bgp run --config FILE`: the file's shape, as users write it. */
export interface BgpPeerConfig {
  readonly address: string;
  readonly asn: number;
  readonly port?: number;
  readonly passive?: boolean;
  readonly holdTime?: number;
  readonly keepalive?: number;
  /** Source address for our connection to this peer. */
  readonly localAddress?: string;
  readonly connectRetryTime?: number;
  readonly delayOpenTime?: number;
  /** RFC 4456: this peer is a client of ours (needs clusterId). */
  readonly routeReflectorClient?: boolean;
  /** Calico's nextHopMode: Auto (ours to eBGP, the route's own to iBGP), Self, Keep. */
  readonly nextHopMode?: "Auto" | "Self" | "Keep";
  /** Names of `filters`, evaluated in order before the defaults. */
  readonly filters?: readonly string[];
  /** RFC 2385 TCP-MD5 key. */
  readonly password?: string;
  /** RFC 5082 GTSM: the peer is at most this many hops away (1 = directly connected). */
  readonly ttlSecurity?: number;
  /**
   * RFC 5880/5881 single-hop BFD: the session goes down within `minRx` x `multiplier` ms of a
   * dead path instead of waiting for the hold time. `true` = 300 ms x 3.
   */
  readonly bfd?: boolean | { readonly minTx?: number; readonly minRx?: number; readonly multiplier?: number };
}

export interface BgpConfig {
  readonly routerId: string;
  readonly asn: number;
  readonly listen: { readonly address: string; readonly port: number };
  readonly holdTime?: number;
  readonly peers: readonly BgpPeerConfig[];
  readonly originate: readonly string[];
  /** ECMP: forward over every path tied with the best up to the IGP cost step. */
  readonly multipath?: boolean;
  /** Compare MED between paths from different neighbour ASes too. */
  readonly alwaysCompareMed?: boolean;
  readonly filters?: readonly BgpFilter[];
  /** IP pools: with them, iBGP imports only prefixes inside a pool and eBGP only what a filter accepts. */
  readonly pools?: readonly string[];
  /** Advertised from this speaker as Calico's BGPConfiguration does. */
  readonly serviceClusterIPs?: readonly { readonly cidr: string }[];
  readonly serviceExternalIPs?: readonly { readonly cidr: string }[];
  readonly serviceLoadBalancerIPs?: readonly { readonly cidr: string }[];
  /** `tortie bgp run` only: install learned best routes into this namespace's kernel table. */
  readonly kernel?: { readonly table?: number; readonly protocol?: number };
  /** RFC 4456: this speaker reflects routes between its `routeReflectorClient` peers and the rest. */
  readonly clusterId?: string;
  /** RFC 4724, both roles; absent: no Graceful Restart capability is sent. */
  readonly gracefulRestart?: { readonly restartTime?: number };
}

const asn = { type: "integer", minimum: 1, maximum: 4294967295 } as const;
const holdTime = {
  type: "integer",
  minimum: 0,
  maximum: 65535,
  not: { enum: [1, 2] },
} as const;

const cidrList = {
  type: "array",
  items: {
    type: "object",
    additionalProperties: false,
    required: ["cidr"],
    properties: { cidr: { type: "string" } },
  },
} as const;
const strings = { type: "array", items: { type: "string" } } as const;
const ruleSchema = {
  type: "object",
  additionalProperties: false,
  required: ["action"],
  properties: {
    action: { enum: ["Accept", "Reject"] },
    matchOperator: { enum: ["Equal", "NotEqual", "In", "NotIn"] },
    cidr: { type: "string" },
    prefixLength: {
      type: "object",
      additionalProperties: false,
      properties: {
        min: { type: "integer", minimum: 0, maximum: 128 },
        max: { type: "integer", minimum: 0, maximum: 128 },
      },
    },
    source: { enum: ["RemotePeers"] },
    communities: strings,
    largeCommunities: strings,
    asPathRegex: { type: "string" },
    peerType: { enum: ["eBGP", "iBGP"] },
    addCommunities: strings,
    addLargeCommunities: strings,
    prepend: { type: "integer", minimum: 1, maximum: 16 },
    localPref: { type: "integer", minimum: 0, maximum: 4294967295 },
  },
} as const;
const filterSchema = {
  type: "object",
  additionalProperties: false,
  required: ["name"],
  properties: {
    name: { type: "string", minLength: 1 },
    exportV4: { type: "array", items: ruleSchema },
    importV4: { type: "array", items: ruleSchema },
    exportV6: { type: "array", items: ruleSchema },
    importV6: { type: "array", items: ruleSchema },
  },
} as const;

const schema = {
  type: "object",
  additionalProperties: false,
  required: ["routerId", "asn", "listen", "peers"],
  properties: {
    routerId: { type: "string", format: "ipv4" },
    asn,
    holdTime,
    listen: {
      type: "object",
      additionalProperties: false,
      required: ["address", "port"],
      properties: {
        address: { type: "string", anyOf: [{ format: "ipv4" }, { format: "ipv6" }] },
        port: { type: "integer", minimum: 0, maximum: 65535 },
      },
    },
    peers: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["address", "asn"],
        properties: {
          address: { type: "string", anyOf: [{ format: "ipv4" }, { format: "ipv6" }] },
          asn,
          port: { type: "integer", minimum: 1, maximum: 65535 },
          passive: { type: "boolean" },
          holdTime,
          keepalive: { type: "integer", minimum: 1, maximum: 21845 },
          localAddress: { type: "string", anyOf: [{ format: "ipv4" }, { format: "ipv6" }] },
          connectRetryTime: { type: "integer", minimum: 1, maximum: 65535 },
          delayOpenTime: { type: "integer", minimum: 0, maximum: 65535 },
          routeReflectorClient: { type: "boolean" },
          nextHopMode: { enum: ["Auto", "Self", "Keep"] },
          filters: { type: "array", items: { type: "string" } },
          password: { type: "string", minLength: 1, maxLength: 80 },
          ttlSecurity: { type: "integer", minimum: 1, maximum: 254 },
          bfd: {
            anyOf: [
              { type: "boolean" },
              {
                type: "object",
                additionalProperties: false,
                properties: {
                  minTx: { type: "integer", minimum: 10, maximum: 60000 },
                  minRx: { type: "integer", minimum: 10, maximum: 60000 },
                  multiplier: { type: "integer", minimum: 1, maximum: 255 },
                },
              },
            ],
          },
        },
      },
    },
    originate: { type: "array", items: { type: "string" } },
    multipath: { type: "boolean" },
    filters: { type: "array", items: filterSchema },
    pools: { type: "array", items: { type: "string" } },
    serviceClusterIPs: cidrList,
    serviceExternalIPs: cidrList,
    serviceLoadBalancerIPs: cidrList,
    clusterId: { type: "string", format: "ipv4" },
    kernel: {
      type: "object",
      additionalProperties: false,
      properties: {
        table: { type: "integer", minimum: 1, maximum: 4294967295, not: { enum: [255] } },
        protocol: { type: "integer", minimum: 5, maximum: 255 },
      },
    },
    gracefulRestart: {
      type: "object",
      additionalProperties: false,
      properties: { restartTime: { type: "integer", minimum: 1, maximum: 4095 } },
    },
    alwaysCompareMed: { type: "boolean" },
  },
} as const;

// ajv-formats is CommonJS with a default export; under NodeNext it arrives as the module object.
const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;
const ajv = new Ajv({ allErrors: false, strict: true });
addFormats(ajv);
const validate = ajv.compile(schema);

/** `/peers/0/asn` → `peers[0].asn` */
function fieldPath(e: ErrorObject): string {
  let path = e.instancePath
    .split("/")
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join("")
    .replace(/^\./, "");
  if (e.keyword === "required")
    path = path ? `${path}.${String(e.params["missingProperty"])}` : String(e.params["missingProperty"]);
  if (e.keyword === "additionalProperties") {
    const extra = String(e.params["additionalProperty"]);
    path = path ? `${path}.${extra}` : extra;
  }
  return path || "(top level)";
}

function describe(e: ErrorObject): string {
  switch (e.keyword) {
    case "required":
      return "is required";
    case "additionalProperties":
      return "is not a known field";
    case "anyOf":
      return "must be an IPv4 or IPv6 address";
    case "not":
      return e.instancePath.endsWith("/table")
        ? "must not be 255 (the kernel's local table)"
        : "must be 0 or at least 3 (RFC 4271 §4.2)";
    default:
      return e.message ?? "is invalid";
  }
}

export interface ParsedConfig {
  readonly config: BgpConfig;
  /** `originate` and the service ranges as RIB keys, in file order. */
  readonly originate: readonly PrefixKey[];
  /** Compiled `filters` by name (optional so a ParsedConfig built by hand stays valid). */
  readonly filters?: ReadonlyMap<string, CompiledFilter>;
  /** Undefined: no pools configured (import defaults of a plain speaker). */
  readonly pools?: readonly Pool[] | undefined;
}

/** Validates a parsed document; throws ValidationError naming the first bad field. */
export function checkConfig(doc: unknown, object = "bgp config"): ParsedConfig {
  if (!validate(doc)) {
    const errs = validate.errors ?? [];
    // anyOf reports each branch first; the anyOf error itself says it best.
    const e = errs.find((x) => x.keyword === "anyOf") ?? errs[0];
    const problem: FieldProblem = e
      ? { object, path: fieldPath(e), message: describe(e) }
      : { object, path: "(top level)", message: "is invalid" };
    throw new ValidationError([problem]);
  }
  const config = doc as unknown as BgpConfig;
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  config.peers.forEach((p, i) => {
    const addr = ipaddr.parse(p.address).toNormalizedString();
    if (seen.has(addr))
      problems.push({ object, path: `peers[${i}].address`, message: `${p.address} is listed twice` });
    seen.add(addr);
    if (p.keepalive !== undefined && (p.holdTime ?? config.holdTime ?? 90) === 0)
      problems.push({ object, path: `peers[${i}].keepalive`, message: "makes no sense with holdTime 0" });
  });
  const originate: PrefixKey[] = [];
  const prefix = (text: string, path: string): PrefixKey | undefined => {
    const p = parsePrefix(text);
    if ("error" in p) problems.push({ object, path, message: p.error });
    return "key" in p ? p.key : undefined;
  };
  (config.originate ?? []).forEach((text, i) => {
    const k = prefix(text, `originate[${i}]`);
    if (k !== undefined) originate.push(k);
  });
  for (const field of ["serviceClusterIPs", "serviceExternalIPs", "serviceLoadBalancerIPs"] as const) {
    (config[field] ?? []).forEach((r, i) => {
      const k = prefix(r.cidr, `${field}[${i}].cidr`);
      if (k !== undefined && !originate.includes(k)) originate.push(k);
    });
  }
  const pools =
    config.pools === undefined
      ? undefined
      : config.pools.flatMap((text, i) => {
          const k = prefix(text, `pools[${i}]`);
          return k === undefined ? [] : [{ prefix: prefixCidr(k) }];
        });
  const compiled = compileFilters(config.filters ?? [], object);
  problems.push(...compiled.problems);
  config.peers.forEach((p, i) => {
    (p.filters ?? []).forEach((name, j) => {
      if (!compiled.filters.has(name))
        problems.push({ object, path: `peers[${i}].filters[${j}]`, message: `no filter named ${name}` });
    });
    if (p.routeReflectorClient && config.clusterId === undefined)
      problems.push({
        object,
        path: `peers[${i}].routeReflectorClient`,
        message: "needs clusterId (RFC 4456)",
      });
    if (p.routeReflectorClient && p.asn !== config.asn)
      problems.push({
        object,
        path: `peers[${i}].routeReflectorClient`,
        message: "a client must be an iBGP peer",
      });
  });
  if (problems.length > 0) throw new ValidationError(problems.slice(0, 1));
  return {
    config: { ...config, originate: config.originate ?? [] },
    originate,
    filters: compiled.filters,
    pools,
  };
}

export function loadConfig(file: string): ParsedConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UserError(`bgp config ${file}: cannot read: ${errorMessage(err)}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UserError(`bgp config ${file}: not valid YAML: ${errorMessage(err).split("\n")[0] ?? ""}`);
  }
  return checkConfig(doc, `bgp config ${file}`);
}
