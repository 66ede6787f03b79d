/**
 * Label selectors: the Calico expression language and Kubernetes LabelSelectors share one AST.
 */

/** The selector AST. `all` matches everything (an empty Kubernetes selector, Calico `all()`). */
export type Selector =
  | { readonly op: "all" }
  | { readonly op: "has"; readonly key: string }
  | { readonly op: "eq"; readonly key: string; readonly value: string }
  | { readonly op: "ne"; readonly key: string; readonly value: string }
  | { readonly op: "startswith" | "endswith" | "contains"; readonly key: string; readonly value: string }
  | { readonly op: "in"; readonly key: string; readonly values: readonly string[] }
  | { readonly op: "notin"; readonly key: string; readonly values: readonly string[] }
  | { readonly op: "not"; readonly expr: Selector }
  | { readonly op: "and"; readonly exprs: readonly Selector[] }
  | { readonly op: "or"; readonly exprs: readonly Selector[] };

export type Labels = Readonly<Record<string, string>>;

export const ALL: Selector = { op: "all" };

/** Calico semantics: a missing label is unequal to every value and in no set. */
export function matches(sel: Selector, labels: Labels): boolean {
  switch (sel.op) {
    case "all":
      return true;
    case "has":
      return Object.hasOwn(labels, sel.key);
    case "eq":
      return Object.hasOwn(labels, sel.key) && labels[sel.key] === sel.value;
    case "ne":
      return !(Object.hasOwn(labels, sel.key) && labels[sel.key] === sel.value);
    case "startswith":
      return Object.hasOwn(labels, sel.key) && (labels[sel.key] ?? "").startsWith(sel.value);
    case "endswith":
      return Object.hasOwn(labels, sel.key) && (labels[sel.key] ?? "").endsWith(sel.value);
    case "contains":
      return Object.hasOwn(labels, sel.key) && (labels[sel.key] ?? "").includes(sel.value);
    case "in":
      return Object.hasOwn(labels, sel.key) && sel.values.includes(labels[sel.key] ?? "");
    case "notin":
      return !(Object.hasOwn(labels, sel.key) && sel.values.includes(labels[sel.key] ?? ""));
    case "not":
      return !matches(sel.expr, labels);
    case "and":
      return sel.exprs.every((e) => matches(e, labels));
    case "or":
      return sel.exprs.some((e) => matches(e, labels));
  }
}

/** Thrown by parseSelector with the offset of the problem. */
export class SelectorSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = "SelectorSyntaxError";
  }
}

type Token =
  | { t: "ident"; v: string; at: number }
  | { t: "string"; v: string; at: number }
  | { t: "op"; v: "==" | "!=" | "!" | "&&" | "||" | "(" | ")" | "{" | "}" | ","; at: number }
  | { t: "end"; at: number };

const KEY_CHARS = /[A-Za-z0-9_./-]/;

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] ?? "";
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const two = src.slice(i, i + 2);
    if (two === "==" || two === "!=" || two === "&&" || two === "||") {
      out.push({ t: "op", v: two, at: i });
      i += 2;
      continue;
    }
    if (c === "!" || c === "(" || c === ")" || c === "{" || c === "}" || c === ",") {
      out.push({ t: "op", v: c, at: i });
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const end = src.indexOf(c, i + 1);
      if (end < 0) throw new SelectorSyntaxError("unterminated string", i);
      out.push({ t: "string", v: src.slice(i + 1, end), at: i });
      i = end + 1;
      continue;
    }
    if (KEY_CHARS.test(c)) {
      const start = i;
      while (i < src.length && KEY_CHARS.test(src[i] ?? "")) i++;
      out.push({ t: "ident", v: src.slice(start, i), at: start });
      continue;
    }
    throw new SelectorSyntaxError(`unexpected character '${c}'`, i);
  }
  out.push({ t: "end", at: src.length });
  return out;
}

/**
 * Parses the Calico selector expression language: `k == "v"`, `k != "v"`, `k in {"a","b"}`,
 * `k not in {...}`, `k contains "s"`, `k starts with "s"`, `k ends with "s"`, `has(k)`, `!e`,
 * `e && e`, `e || e`, `(e)`, `all()`. Precedence: `!` binds
 * tightest, then `&&`, then `||`. An empty or blank string is `all()`, as Calico treats it.
 */
export function parseSelector(src: string): Selector {
  const toks = tokenize(src);
  let p = 0;
  const peek = (): Token => toks[p] ?? { t: "end", at: src.length };
  const next = (): Token => {
    const tok = peek();
    p++;
    return tok;
  };
  const isOp = (tok: Token, v: string): boolean => tok.t === "op" && tok.v === v;
  const expectOp = (v: string): void => {
    const tok = next();
    if (!isOp(tok, v)) throw new SelectorSyntaxError(`expected '${v}'`, tok.at);
  };
  const expectString = (): string => {
    const tok = next();
    if (tok.t !== "string") throw new SelectorSyntaxError("expected a quoted string", tok.at);
    return tok.v;
  };

  const parseOr = (): Selector => {
    const exprs = [parseAnd()];
    while (isOp(peek(), "||")) {
      next();
      exprs.push(parseAnd());
    }
    return exprs.length === 1 ? (exprs[0] as Selector) : { op: "or", exprs };
  };
  const parseAnd = (): Selector => {
    const exprs = [parseUnary()];
    while (isOp(peek(), "&&")) {
      next();
      exprs.push(parseUnary());
    }
    return exprs.length === 1 ? (exprs[0] as Selector) : { op: "and", exprs };
  };
  const parseSet = (): string[] => {
    expectOp("{");
    const values: string[] = [];
    if (isOp(peek(), "}")) {
      next();
      return values;
    }
    for (;;) {
      values.push(expectString());
      const tok = next();
      if (isOp(tok, "}")) return values;
      if (!isOp(tok, ",")) throw new SelectorSyntaxError("expected ',' or '}'", tok.at);
    }
  };
  const parseUnary = (): Selector => {
    const tok = next();
    if (isOp(tok, "!")) return { op: "not", expr: parseUnary() };
    if (isOp(tok, "(")) {
      const e = parseOr();
      expectOp(")");
      return e;
    }
    if (tok.t !== "ident") throw new SelectorSyntaxError("expected a label key, has(), all() or '('", tok.at);
    if ((tok.v === "has" || tok.v === "all") && isOp(peek(), "(")) {
      next();
      if (tok.v === "all") {
        expectOp(")");
        return ALL;
      }
      const key = next();
      if (key.t !== "ident") throw new SelectorSyntaxError("expected a label key", key.at);
      expectOp(")");
      return { op: "has", key: key.v };
    }
    const op = next();
    if (isOp(op, "==")) return { op: "eq", key: tok.v, value: expectString() };
    if (isOp(op, "!=")) return { op: "ne", key: tok.v, value: expectString() };
    if (op.t === "ident" && op.v === "in") return { op: "in", key: tok.v, values: parseSet() };
    if (op.t === "ident" && op.v === "contains") return { op: "contains", key: tok.v, value: expectString() };
    if (op.t === "ident" && (op.v === "starts" || op.v === "ends")) {
      const w = next();
      if (!(w.t === "ident" && w.v === "with")) throw new SelectorSyntaxError("expected 'with'", w.at);
      return { op: op.v === "starts" ? "startswith" : "endswith", key: tok.v, value: expectString() };
    }
    if (op.t === "ident" && op.v === "not") {
      const inTok = next();
      if (!(inTok.t === "ident" && inTok.v === "in"))
        throw new SelectorSyntaxError("expected 'in'", inTok.at);
      return { op: "notin", key: tok.v, values: parseSet() };
    }
    throw new SelectorSyntaxError("expected ==, !=, in, not in, contains, starts with or ends with", op.at);
  };

  if (peek().t === "end") return ALL;
  const sel = parseOr();
  const rest = peek();
  if (rest.t !== "end") throw new SelectorSyntaxError("unexpected trailing input", rest.at);
  return sel;
}

const quote = (s: string): string => (s.includes('"') ? `'${s}'` : `"${s}"`);

/** Canonical text; `parseSelector(printSelector(s))` is deep-equal to `s`. */
export function printSelector(sel: Selector): string {
  const inner = (s: Selector, parentPrec: number): string => {
    switch (s.op) {
      case "all":
        return "all()";
      case "has":
        return `has(${s.key})`;
      case "eq":
        return `${s.key} == ${quote(s.value)}`;
      case "ne":
        return `${s.key} != ${quote(s.value)}`;
      case "startswith":
        return `${s.key} starts with ${quote(s.value)}`;
      case "endswith":
        return `${s.key} ends with ${quote(s.value)}`;
      case "contains":
        return `${s.key} contains ${quote(s.value)}`;
      case "in":
        return `${s.key} in {${s.values.map(quote).join(", ")}}`;
      case "notin":
        return `${s.key} not in {${s.values.map(quote).join(", ")}}`;
      case "not":
        return `!${inner(s.expr, 3)}`;
      case "and": {
        const txt = s.exprs.map((e) => inner(e, 2)).join(" && ");
        return parentPrec > 2 ? `(${txt})` : txt;
      }
      case "or": {
        const txt = s.exprs.map((e) => inner(e, 1)).join(" || ");
        return parentPrec > 1 ? `(${txt})` : txt;
      }
    }
  };
  return inner(s0(sel), 0);
}

// Nested and/or of the same kind print flat and reparse flat; normalise before printing.
function s0(sel: Selector): Selector {
  switch (sel.op) {
    case "not":
      return { op: "not", expr: s0(sel.expr) };
    case "and":
    case "or": {
      const flat: Selector[] = [];
      for (const e of sel.exprs.map(s0)) {
        if (e.op === sel.op) flat.push(...e.exprs);
        else flat.push(e);
      }
      if (flat.length === 1) return flat[0] as Selector;
      if (flat.length === 0) return sel.op === "and" ? ALL : { op: "not", expr: ALL };
      return { op: sel.op, exprs: flat };
    }
    case "all":
    case "has":
    case "eq":
    case "ne":
    case "startswith":
    case "endswith":
    case "contains":
    case "in":
    case "notin":
      return sel;
  }
}

export function and(...exprs: Selector[]): Selector {
  const kept = exprs.filter((e) => e.op !== "all");
  if (kept.length === 0) return ALL;
  return s0({ op: "and", exprs: kept });
}

/** A Kubernetes metav1.LabelSelector, as written in YAML. */
export interface LabelSelectorSpec {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: ReadonlyArray<{
    readonly key: string;
    readonly operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    readonly values?: readonly string[];
  }>;
}

/**
 * Kubernetes semantics: matchLabels and matchExpressions are ANDed; an empty selector matches
 * everything. NotIn matches objects without the key, as the API reference says.
 */
export function fromLabelSelector(ls: LabelSelectorSpec): Selector {
  const parts: Selector[] = [];
  for (const [key, value] of Object.entries(ls.matchLabels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)))
    parts.push({ op: "eq", key, value });
  for (const e of ls.matchExpressions ?? []) {
    switch (e.operator) {
      case "In":
        parts.push({ op: "in", key: e.key, values: [...(e.values ?? [])] });
        break;
      case "NotIn":
        parts.push({ op: "notin", key: e.key, values: [...(e.values ?? [])] });
        break;
      case "Exists":
        parts.push({ op: "has", key: e.key });
        break;
      case "DoesNotExist":
        parts.push({ op: "not", expr: { op: "has", key: e.key } });
        break;
    }
  }
  return and(...parts);
}
