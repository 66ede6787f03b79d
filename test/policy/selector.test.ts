import fc from "fast-check";
import t from "tap";
import {
  type Selector,
  SelectorSyntaxError,
  fromLabelSelector,
  matches,
  parseSelector,
  printSelector,
} from "../../policy/selector.js";

const L = { app: "web", tier: "front", "k8s.io/name": "w" };

t.test("the Calico expression language matches as documented", async (t) => {
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ["all()", {}, true],
    ["", {}, true],
    ["app == 'web'", L, true],
    ['app == "db"', L, false],
    ["app == 'web'", {}, false],
    ["app != 'db'", L, true],
    ["app != 'db'", {}, true],
    ["app != 'web'", L, false],
    ["app in {'web', 'db'}", L, true],
    ["app in {'db'}", L, false],
    ["app in {'web'}", {}, false],
    ["app not in {'db'}", L, true],
    ["app not in {'db'}", {}, true],
    ["app not in {'web'}", L, false],
    ["has(tier)", L, true],
    ["has(tier)", {}, false],
    ["!has(tier)", {}, true],
    ["app == 'web' && tier == 'back'", L, false],
    ["app == 'db' || tier == 'front'", L, true],
    ["!(app == 'db' || tier == 'back')", L, true],
    ["app == 'db' || app == 'web' && tier == 'front'", L, true],
    ["(app == 'db' || app == 'web') && tier == 'back'", L, false],
    ["k8s.io/name == 'w'", L, true],
    ["!!has(app)", L, true],
    ["app in {}", L, false],
    ["app starts with 'we'", L, true],
    ["app starts with 'eb'", L, false],
    ["app ends with 'eb'", L, true],
    ["app contains 'e'", L, true],
    ["app contains 'z'", L, false],
    ["missing contains ''", L, false],
    ["!(tier starts with 'f')", L, false],
  ];
  for (const [src, labels, want] of cases)
    t.equal(matches(parseSelector(src), labels), want, `${src} on ${JSON.stringify(labels)}`);
});

t.test("&& binds tighter than ||, and ! tighter than &&", async (t) => {
  t.same(parseSelector("a == '1' || b == '2' && c == '3'"), {
    op: "or",
    exprs: [
      { op: "eq", key: "a", value: "1" },
      {
        op: "and",
        exprs: [
          { op: "eq", key: "b", value: "2" },
          { op: "eq", key: "c", value: "3" },
        ],
      },
    ],
  });
  t.same(parseSelector("!has(a) && b == '2'"), {
    op: "and",
    exprs: [
      { op: "not", expr: { op: "has", key: "a" } },
      { op: "eq", key: "b", value: "2" },
    ],
  });
});

t.test("syntax errors carry the offset", async (t) => {
  for (const [src, offset] of [
    ["app ==", 6],
    ["app = 'x'", 4],
    ["has(app", 7],
    ["app == 'x' &&", 13],
    ["app in {'a' 'b'}", 12],
    ["app == 'x' extra", 11],
    ["app == 'unterminated", 7],
    ["app not 'x'", 8],
    ["app starts 'x'", 11],
    ["app == 'x' @", 11],
  ] as const) {
    try {
      parseSelector(src);
      t.fail(`${src} parsed`);
    } catch (err) {
      t.ok(err instanceof SelectorSyntaxError, src);
      t.equal((err as SelectorSyntaxError).offset, offset, `${src}: offset`);
    }
  }
});

t.test("Kubernetes LabelSelector: matchLabels AND matchExpressions; empty matches all", async (t) => {
  const sel = fromLabelSelector({
    matchLabels: { app: "web" },
    matchExpressions: [
      { key: "tier", operator: "In", values: ["front", "mid"] },
      { key: "env", operator: "NotIn", values: ["prod"] },
      { key: "team", operator: "Exists" },
      { key: "legacy", operator: "DoesNotExist" },
    ],
  });
  t.ok(matches(sel, { app: "web", tier: "front", team: "a" }), "NotIn holds when the key is absent");
  t.notOk(matches(sel, { app: "web", tier: "front", team: "a", env: "prod" }));
  t.notOk(matches(sel, { app: "web", tier: "back", team: "a" }));
  t.notOk(matches(sel, { app: "web", tier: "front" }), "Exists");
  t.notOk(matches(sel, { app: "web", tier: "front", team: "a", legacy: "" }), "DoesNotExist");
  t.notOk(matches(sel, { tier: "front", team: "a" }), "matchLabels");
  t.ok(matches(fromLabelSelector({}), {}), "empty selector selects everything");
});

const key = fc.constantFrom("app", "tier", "k8s.io/name", "role", "in", "not");
const value = fc.constantFrom("web", "db", "", "a.b-c_d", "x");
const labels = fc.dictionary(key, value, { maxKeys: 4 });
const selector: fc.Arbitrary<Selector> = fc.letrec<{ s: Selector }>((tie) => ({
  s: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant<Selector>({ op: "all" }),
    key.map((k): Selector => ({ op: "has", key: k })),
    fc.tuple(key, value).map(([k, v]): Selector => ({ op: "eq", key: k, value: v })),
    fc.tuple(key, value).map(([k, v]): Selector => ({ op: "ne", key: k, value: v })),
    fc
      .tuple(fc.constantFrom("startswith", "endswith", "contains"), key, value)
      .map(([op, k, v]): Selector => ({ op, key: k, value: v })),
    fc
      .tuple(key, fc.array(value, { maxLength: 3 }))
      .map(([k, vs]): Selector => ({ op: "in", key: k, values: vs })),
    fc
      .tuple(key, fc.array(value, { maxLength: 3 }))
      .map(([k, vs]): Selector => ({ op: "notin", key: k, values: vs })),
    tie("s").map((e): Selector => ({ op: "not", expr: e })),
    fc.array(tie("s"), { minLength: 2, maxLength: 3 }).map((es): Selector => ({ op: "and", exprs: es })),
    fc.array(tie("s"), { minLength: 2, maxLength: 3 }).map((es): Selector => ({ op: "or", exprs: es })),
  ),
})).s;

t.test("print then parse keeps the meaning and is a fixed point", async (t) => {
  fc.assert(
    fc.property(selector, labels, (s, l) => {
      const text = printSelector(s);
      const back = parseSelector(text);
      return matches(back, l) === matches(s, l) && printSelector(back) === text;
    }),
    { numRuns: 500 },
  );
  t.pass("500 random selectors round-trip");
});
