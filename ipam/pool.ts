import { ValidationError, type FieldProblem } from "../core/errors.js";
import { cidrOverlaps, familyBits, formatCidr, parseCidr, type Cidr, type Family } from "./addr.js";

export type EncapMode = "Never" | "Always" | "CrossSubnet";
const ENCAP_MODES: readonly EncapMode[] = ["Never", "Always", "CrossSubnet"];

/** The spec of an IPPool (tortie.io/v1), shaped like Calico's so its manifests map one to one. */
export interface IPPoolSpec {
  readonly cidr: string;
  /** Prefix length of the blocks carved from the pool: 26 (IPv4) or 122 (IPv6) unless set. */
  readonly blockSize?: number;
  /** Which nodes may claim blocks from this pool; Calico selector syntax, default `all()`. */
  readonly nodeSelector?: string;
  readonly natOutgoing?: boolean;
  readonly disabled?: boolean;
  /** Carried for the dataplane (felix); IPAM does not interpret them. */
  readonly vxlanMode?: EncapMode;
  readonly ipipMode?: EncapMode;
}

/** A validated pool with defaults applied and its CIDR parsed. */
export interface IPPool {
  readonly name: string;
  readonly cidr: Cidr;
  readonly family: Family;
  readonly blockSize: number;
  readonly nodeSelector: string;
  readonly natOutgoing: boolean;
  readonly disabled: boolean;
  readonly vxlanMode: EncapMode;
  readonly ipipMode: EncapMode;
}

export const DEFAULT_BLOCK_SIZE: Readonly<Record<Family, number>> = { 4: 26, 6: 122 };
/** Calico's bounds: a block holds 1..4096 addresses, and IPv6 blocks are at least /116. */
const BLOCK_BOUNDS: Readonly<Record<Family, readonly [number, number]>> = { 4: [20, 32], 6: [116, 128] };

function encap(v: unknown, field: string, object: string, problems: FieldProblem[]): EncapMode {
  if (v === undefined) return "Never";
  if (typeof v === "string" && (ENCAP_MODES as readonly string[]).includes(v)) return v as EncapMode;
  problems.push({ object, path: `spec.${field}`, message: `must be one of ${ENCAP_MODES.join(", ")}` });
  return "Never";
}

/** Validates a pool spec (from a manifest, the datastore or a test) into an IPPool; throws ValidationError. */
export function parsePool(name: string, spec: unknown): IPPool {
  const object = `IPPool ${name}`;
  const problems: FieldProblem[] = [];
  const s = (typeof spec === "object" && spec !== null ? spec : {}) as Record<string, unknown>;
  let cidr: Cidr = { family: 4, base: 0n, prefix: 32 };
  if (typeof s["cidr"] !== "string") problems.push({ object, path: "spec.cidr", message: "is required" });
  else {
    try {
      cidr = parseCidr(s["cidr"]);
    } catch (e) {
      problems.push({ object, path: "spec.cidr", message: (e as Error).message });
    }
  }
  const family = cidr.family;
  let blockSize = DEFAULT_BLOCK_SIZE[family];
  if (s["blockSize"] !== undefined) {
    const [lo, hi] = BLOCK_BOUNDS[family];
    const b = s["blockSize"];
    if (typeof b !== "number" || !Number.isInteger(b) || b < lo || b > hi)
      problems.push({
        object,
        path: "spec.blockSize",
        message: `must be an integer from ${lo} to ${hi} for IPv${family}`,
      });
    else blockSize = b;
  }
  if (blockSize < cidr.prefix && problems.length === 0)
    problems.push({
      object,
      path: "spec.blockSize",
      message: `/${blockSize} blocks do not fit in ${formatCidr(cidr)} (prefix /${cidr.prefix})`,
    });
  const nodeSelector = s["nodeSelector"] ?? "all()";
  if (typeof nodeSelector !== "string")
    problems.push({ object, path: "spec.nodeSelector", message: "must be a string" });
  else {
    try {
      parseSelector(nodeSelector);
    } catch (e) {
      problems.push({ object, path: "spec.nodeSelector", message: (e as Error).message });
    }
  }
  for (const f of ["natOutgoing", "disabled"] as const)
    if (s[f] !== undefined && typeof s[f] !== "boolean")
      problems.push({ object, path: `spec.${f}`, message: "must be true or false" });
  const pool: IPPool = {
    name,
    cidr,
    family,
    blockSize,
    nodeSelector: typeof nodeSelector === "string" ? nodeSelector : "all()",
    natOutgoing: s["natOutgoing"] === true,
    disabled: s["disabled"] === true,
    vxlanMode: encap(s["vxlanMode"], "vxlanMode", object, problems),
    ipipMode: encap(s["ipipMode"], "ipipMode", object, problems),
  };
  if (problems.length > 0) throw new ValidationError(problems);
  return pool;
}

/** Two pools may not overlap: an address must belong to exactly one pool. */
export function checkPoolsDisjoint(pools: readonly IPPool[]): void {
  const problems: FieldProblem[] = [];
  for (let i = 0; i < pools.length; i++)
    for (let j = i + 1; j < pools.length; j++) {
      const a = pools[i];
      const b = pools[j];
      if (a && b && cidrOverlaps(a.cidr, b.cidr))
        problems.push({
          object: `IPPool ${b.name}`,
          path: "spec.cidr",
          message: `${formatCidr(b.cidr)} overlaps IPPool ${a.name} (${formatCidr(a.cidr)})`,
        });
    }
  if (problems.length > 0) throw new ValidationError(problems);
}

/** Number of blocks a pool is carved into. */
export function blockCount(p: IPPool): bigint {
  return 1n << BigInt(p.blockSize - p.cidr.prefix);
}

/** The i-th block of a pool. */
export function nthBlock(p: IPPool, i: bigint): Cidr {
  return {
    family: p.family,
    base: p.cidr.base + (i << BigInt(familyBits(p.family) - p.blockSize)),
    prefix: p.blockSize,
  };
}

// --- node selectors -------------------------------------------------------
// The subset of Calico's selector language that pools use in practice:
// all(), has(k), !has(k), k == 'v', k != 'v', k in {'a','b'}, k not in {...}, joined by &&.

type Term =
  | { op: "all" }
  | { op: "has"; key: string; negate: boolean }
  | { op: "eq"; key: string; value: string; negate: boolean }
  | { op: "in"; key: string; values: readonly string[]; negate: boolean };

const KEY = String.raw`[A-Za-z0-9_./-]+`;
const VAL = String.raw`(?:'([^']*)'|"([^"]*)")`;

export function parseSelector(sel: string): readonly Term[] {
  const text = sel.trim();
  if (text === "" || text === "all()") return [{ op: "all" }];
  return text.split("&&").map((raw): Term => {
    const part = raw.trim();
    let m = new RegExp(`^(!)?\\s*has\\(\\s*(${KEY})\\s*\\)$`).exec(part);
    if (m) return { op: "has", key: m[2] ?? "", negate: m[1] === "!" };
    m = new RegExp(`^(${KEY})\\s*(==|!=)\\s*${VAL}$`).exec(part);
    if (m) return { op: "eq", key: m[1] ?? "", value: m[3] ?? m[4] ?? "", negate: m[2] === "!=" };
    m = new RegExp(`^(${KEY})\\s+(not\\s+)?in\\s*\\{(.*)\\}$`).exec(part);
    if (m) {
      const values = (m[3] ?? "")
        .split(",")
        .map((v) => v.trim())
        .filter((v) => v !== "")
        .map((v) => {
          const q = new RegExp(`^${VAL}$`).exec(v);
          if (!q) throw new Error(`bad value ${v} in selector term "${part}"`);
          return q[1] ?? q[2] ?? "";
        });
      return { op: "in", key: m[1] ?? "", values, negate: m[2] !== undefined };
    }
    if (part === "all()") return { op: "all" };
    throw new Error(
      `unsupported selector term "${part}" (supported: all(), has(k), !has(k), k == 'v', k != 'v', k in {...}, joined by &&)`,
    );
  });
}

export function selectorMatches(sel: string, labels: Readonly<Record<string, string>>): boolean {
  return parseSelector(sel).every((t) => {
    switch (t.op) {
      case "all":
        return true;
      case "has":
        return t.key in labels !== t.negate;
      case "eq":
        return (labels[t.key] === t.value) !== t.negate;
      case "in": {
        const v = labels[t.key];
        return (v !== undefined && t.values.includes(v)) !== t.negate;
      }
    }
  });
}
