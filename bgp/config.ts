import { Ajv, type ErrorObject } from "ajv";
import addFormatsModule from "ajv-formats";
import ipaddr from "ipaddr.js";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { UserError, ValidationError, errorMessage, type FieldProblem } from "../core/errors.js";
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
        },
      },
    },
    originate: { type: "array", items: { type: "string" } },
    multipath: { type: "boolean" },
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
  /** `originate` as RIB keys, in file order. */
  readonly originate: readonly PrefixKey[];
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
  (config.originate ?? []).forEach((text, i) => {
    const p = parsePrefix(text);
    if ("error" in p) problems.push({ object, path: `originate[${i}]`, message: p.error });
    else originate.push(p.key);
  });
  if (problems.length > 0) throw new ValidationError(problems.slice(0, 1));
  return { config: { ...config, originate: config.originate ?? [] }, originate };
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
