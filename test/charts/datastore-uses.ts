/**
 * Which datastore operations on which kinds the shipped code performs, read
 * from the code itself with the TypeScript type checker: every call of
 * get/list/watch/create/update/delete whose first parameter is named `kind`
 * (the Datastore interface, Store, IPAM's port onto it) and every
 * `new Informer(ds, kind)` (list + watch). The kind argument's *type* says
 * which kinds: a literal or a union of literals, also through a type
 * parameter's constraint. A call whose kind is any KindName cannot be pinned
 * down; outside the few files that only forward a caller's kind (FORWARDERS)
 * it is reported, so new code cannot slip past the RBAC check unseen.
 */
import { join, relative } from "node:path";
import ts from "typescript";
import { KIND_NAMES, type KindName } from "../../datastore/kinds.js";

export type Op = "get" | "list" | "watch" | "create" | "update" | "delete";
const OPS = new Set<string>(["get", "list", "watch", "create", "update", "delete"]);

/** What runs with the chart's service account: the agent, the CNI plugin, the CLI inside the pod. */
export const SHIPPED = ["core", "cli", "bgp", "policy", "felix", "ipam", "datastore", "cni"];

/**
 * Files whose datastore calls pass on a kind their caller chose: the backends, Store, the Informer and
 * IPAM's adapter and in-memory store. Their callers are scanned instead.
 */
export const FORWARDERS = new Set([
  "datastore/store.ts",
  "datastore/informer.ts",
  "datastore/kubernetes.ts",
  "datastore/etcd.ts",
  "datastore/file.ts",
  "ipam/open.ts",
  "ipam/memstore.ts",
]);

/**
 * In-memory copies of what Informers delivered (the agent's ClusterCache): reading them sends nothing to
 * the API server, so their get/list methods are not datastore calls.
 */
export const IN_MEMORY = new Set(["felix/calc/cache.ts"]);

export interface Use {
  readonly kind: KindName;
  readonly op: Op;
  readonly at: string;
}

export interface Scan {
  readonly uses: Use[];
  /** Calls whose kinds the types do not pin down, outside FORWARDERS: "file:line: text (type)". */
  readonly unresolved: string[];
  readonly files: number;
}

const isKind = (s: string): s is KindName => (KIND_NAMES as readonly string[]).includes(s);

function literalKinds(checker: ts.TypeChecker, type: ts.Type): string[] | undefined {
  const t = type.flags & ts.TypeFlags.TypeParameter ? checker.getBaseConstraintOfType(type) : type;
  if (!t) return undefined;
  const members = t.isUnion() ? t.types : [t];
  const out: string[] = [];
  for (const m of members) {
    if (!m.isStringLiteral()) return undefined;
    out.push(m.value);
  }
  return out;
}

export function scanDatastoreUses(repo: string): Scan {
  const configPath = join(repo, "tsconfig.json");
  const parsed = ts.getParsedCommandLineOfConfigFile(
    configPath,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!parsed) throw new Error(`cannot read ${configPath}`);
  const roots = parsed.fileNames.filter((f) => {
    const rel = relative(repo, f);
    return SHIPPED.includes(rel.split("/")[0] ?? "") && !rel.endsWith(".d.ts");
  });
  const program = ts.createProgram(roots, { ...parsed.options, noEmit: true, incremental: false });
  const checker = program.getTypeChecker();
  const uses: Use[] = [];
  const unresolved: string[] = [];

  for (const sf of program.getSourceFiles()) {
    const rel = relative(repo, sf.fileName);
    if (!roots.includes(sf.fileName)) continue;
    const where = (n: ts.Node) => `${rel}:${sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1}`;
    const record = (n: ts.Node, arg: ts.Expression | undefined, ops: Op[]) => {
      if (!arg) return;
      if (FORWARDERS.has(rel)) return;
      const kinds = literalKinds(checker, checker.getTypeAtLocation(arg));
      // Every kind at once is KindName itself (or a parameter bounded by it): not pinned down.
      if (kinds && kinds.every(isKind) && kinds.length < KIND_NAMES.length) {
        for (const kind of kinds) for (const op of ops) uses.push({ kind, op, at: where(n) });
        return;
      }
      if (kinds && !kinds.some(isKind)) return; // string literals that are not kinds: not a datastore call
      unresolved.push(
        `${where(n)}: ${n.getText(sf).split("\n")[0] ?? ""} (kind: ${checker.typeToString(checker.getTypeAtLocation(arg))})`,
      );
    };
    const visit = (n: ts.Node): void => {
      if (
        ts.isCallExpression(n) &&
        ts.isPropertyAccessExpression(n.expression) &&
        OPS.has(n.expression.name.text)
      ) {
        const decl = checker.getResolvedSignature(n)?.getDeclaration();
        const first = decl && "parameters" in decl ? decl.parameters[0] : undefined;
        const inMemory = decl !== undefined && IN_MEMORY.has(relative(repo, decl.getSourceFile().fileName));
        if (!inMemory && first && ts.isIdentifier(first.name) && first.name.text === "kind")
          record(n, n.arguments[0], [n.expression.name.text as Op]);
      } else if (ts.isNewExpression(n)) {
        const sym = checker.getSymbolAtLocation(n.expression);
        const target = sym && sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
        const declFile = target?.declarations?.[0]?.getSourceFile().fileName;
        if (target?.name === "Informer" && declFile && relative(repo, declFile) === "datastore/informer.ts")
          record(n, n.arguments?.[1], ["list", "watch"]);
      }
      ts.forEachChild(n, visit);
    };
    visit(sf);
  }
  return { uses, unresolved, files: roots.length };
}
