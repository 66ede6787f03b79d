/**
 * The label index may only narrow: for any objects, changes and selectors, its candidates hold every
 * object the selector matches. Keys are indexed lazily (on a selector's first question), so the
 * questions come between the changes, not only at the end.
 */
import fc from "fast-check";
import t from "tap";
import { LabelIndex } from "../../policy/labelindex.js";
import { type Labels, matches, parseSelector } from "../../policy/selector.js";

const IDS = ["a", "b", "c", "d", "e"];
const labelsArb: fc.Arbitrary<Labels> = fc.dictionary(
  fc.constantFrom("app", "tier", "ns"),
  fc.constantFrom("x", "y", "z"),
  { maxKeys: 3 },
);
const SELECTORS = [
  "app == 'x'",
  "app in {'x', 'y'}",
  "has(tier)",
  "ns == 'x'",
  "app == 'x' && tier == 'y'",
  "app == 'y' || ns == 'z'",
  "app != 'x'",
  "!has(ns)",
  "ns starts with 'x'",
].map(parseSelector);

type Op =
  | { op: "set"; id: string; labels: Labels; extra: Labels }
  | { op: "delete"; id: string }
  | { op: "ask"; sel: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("set" as const),
    id: fc.constantFrom(...IDS),
    labels: labelsArb,
    // A pseudo-label hides a label of its name, as Calico's do.
    extra: fc.dictionary(fc.constant("ns"), fc.constantFrom("x", "z"), { maxKeys: 1 }),
  }),
  fc.record({ op: fc.constant("delete" as const), id: fc.constantFrom(...IDS) }),
  fc.record({ op: fc.constant("ask" as const), sel: fc.nat({ max: SELECTORS.length - 1 }) }),
);

t.test("candidates hold every match, whenever a key was first asked about", (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
      const index = new LabelIndex();
      const views = new Map<string, Labels>();
      for (const o of [...ops, ...SELECTORS.map((_, sel) => ({ op: "ask" as const, sel }))]) {
        if (o.op === "set") {
          index.set(o.id, o.labels, o.extra);
          views.set(o.id, { ...o.labels, ...o.extra });
        } else if (o.op === "delete") {
          index.delete(o.id);
          views.delete(o.id);
        } else {
          const sel = SELECTORS[o.sel];
          if (!sel) continue;
          const cands = index.candidates(sel);
          if (cands === null) continue;
          for (const [id, view] of views) if (matches(sel, view) && !cands.has(id)) return false;
          for (const id of cands) if (!views.has(id)) return false;
        }
      }
      return index.size === views.size;
    }),
    { numRuns: 500 },
  );
  t.pass("500 sequences");
  t.end();
});
