import fc from "fast-check";
import t from "tap";
import { formatPrefix, ipv4Key, parsePrefix, prefixBytes, type PrefixKey } from "../../../bgp/rib/prefix.js";
import { PrefixMap } from "../../../bgp/rib/prefix-map.js";
import { AdjRibOut, Interner, LOCAL_SOURCE, LocRib, type Candidate } from "../../../bgp/rib/rib.js";

t.test("prefix keys: parse, format and NLRI bytes", async (t) => {
  const ok = (s: string): PrefixKey => {
    const p = parsePrefix(s);
    if ("error" in p) throw new Error(p.error);
    return p.key;
  };
  t.equal(ok("10.0.0.0/26"), ipv4Key(0x0a000000, 26));
  t.equal(formatPrefix(ok("10.1.2.64/26")), "10.1.2.64/26");
  t.equal(formatPrefix(ok("0.0.0.0/0")), "0.0.0.0/0");
  t.equal(formatPrefix(ok("255.255.255.255/32")), "255.255.255.255/32");
  t.equal(ok("2001:DB8::/32"), "2001:db8::/32");
  t.equal(formatPrefix(ok("::/0")), "::/0");
  t.same(prefixBytes(ok("10.1.2.64/26")), { len: 26, bytes: Uint8Array.of(10, 1, 2, 64) });
  t.same(prefixBytes(ok("10.0.0.0/8")), { len: 8, bytes: Uint8Array.of(10) });
  t.same(prefixBytes(ok("2001:db8::/32")), { len: 32, bytes: Uint8Array.of(0x20, 0x01, 0x0d, 0xb8) });
  t.match(parsePrefix("10.0.0.1/24"), { error: /host bits set \(did you mean 10\.0\.0\.0\/24\?\)/ });
  t.match(parsePrefix("10.0.0.0/33"), { error: /not a prefix/ });
  t.match(parsePrefix("banana"), { error: /not a prefix/ });
  t.match(parsePrefix("2001:db8::1/64"), { error: /host bits/ });
});

t.test("IPv4 keys round-trip for every address and length", async (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }), (addr, len) => {
      const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
      const net = (addr & mask) >>> 0;
      const text = formatPrefix(ipv4Key(net, len));
      const back = parsePrefix(text);
      return "key" in back && back.key === ipv4Key(net, len);
    }),
  );
  t.pass();
});

interface A {
  readonly len: number;
}
const cmp = (a: Candidate<A>, b: Candidate<A>): number =>
  a.source === LOCAL_SOURCE || b.source === LOCAL_SOURCE
    ? a.source - b.source
    : a.attrs.len - b.attrs.len || a.source - b.source;

t.test("Loc-RIB: best path, replacement, withdraw, flush of a source", async (t) => {
  const rib = new LocRib<A>(cmp);
  const changes: string[] = [];
  rib.onChange((k, best) => changes.push(`${formatPrefix(k)}=${best ? best.source : "-"}`));
  rib.addSource(LOCAL_SOURCE);
  rib.addSource(1);
  rib.addSource(2);
  const k = ipv4Key(0x0a000000, 24);
  const long = { len: 3 };
  const short = { len: 1 };
  rib.announce(1, k, long);
  t.same(rib.bestOf(k), { source: 1, attrs: long });
  rib.announce(2, k, short);
  t.same(rib.bestOf(k), { source: 2, attrs: short }, "shorter path wins");
  rib.announce(2, k, short);
  t.equal(changes.length, 2, "re-announcing the same attrs is not a change");
  rib.announce(LOCAL_SOURCE, k, long);
  t.equal(rib.bestOf(k)?.source, LOCAL_SOURCE, "our own route wins");
  rib.withdraw(LOCAL_SOURCE, k);
  t.equal(rib.bestOf(k)?.source, 2);
  rib.withdraw(1, ipv4Key(0x0b000000, 24));
  t.equal(changes.length, 4, "withdrawing an unknown route changes nothing");
  t.equal(rib.flush(2), 1);
  t.equal(rib.bestOf(k)?.source, 1, "a flushed source falls back to the next path");
  rib.removeSource(1);
  t.equal(rib.bestOf(k), undefined);
  t.equal(rib.size, 0);
  t.same(changes, [
    "10.0.0.0/24=1",
    "10.0.0.0/24=2",
    "10.0.0.0/24=0",
    "10.0.0.0/24=2",
    "10.0.0.0/24=1",
    "10.0.0.0/24=-",
  ]);
  t.throws(() => rib.announce(9, k, long), /not registered/);
});

t.test("Loc-RIB agrees with a brute-force oracle over random operations", async (t) => {
  const op = fc.record({
    source: fc.integer({ min: 0, max: 3 }),
    prefix: fc.integer({ min: 0, max: 7 }),
    len: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
  });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const rib = new LocRib<A>(cmp);
      for (let s = 0; s <= 3; s++) rib.addSource(s);
      const model = new Map<number, Map<number, A>>();
      for (const o of ops) {
        const k = ipv4Key(o.prefix << 8, 24);
        const m = model.get(k) ?? new Map<number, A>();
        model.set(k, m);
        if (o.len === undefined) {
          rib.withdraw(o.source, k);
          m.delete(o.source);
        } else {
          const a = { len: o.len };
          rib.announce(o.source, k, a);
          m.set(o.source, a);
        }
      }
      for (const [k, m] of model) {
        const cands = [...m].map(([source, attrs]) => ({ source, attrs })).sort(cmp);
        const want = cands[0];
        const got = rib.bestOf(k);
        if (want?.source !== got?.source || want?.attrs !== got?.attrs) return false;
      }
      return true;
    }),
  );
  t.pass();
});

t.test("Adj-RIB-Out emits only real changes", async (t) => {
  const out = new AdjRibOut<A>();
  const a = { len: 1 };
  const b = { len: 2 };
  t.equal(out.update(1, a), a);
  t.equal(out.update(1, a), undefined);
  t.equal(out.update(1, b), b);
  t.equal(out.update(1, undefined), null);
  t.equal(out.update(1, undefined), undefined);
  t.equal(out.size, 0);
});

t.test("Interner shares equal attribute sets and forgets unused ones", async (t) => {
  const i = new Interner<{ v: number }>();
  const x = i.intern("k", () => ({ v: 1 }));
  const y = i.intern("k", () => ({ v: 2 }));
  t.equal(x, y);
  i.release("k");
  t.equal(i.size, 1);
  i.release("k");
  t.equal(i.size, 0);
});

t.test("PrefixMap behaves as a Map over IPv4 and IPv6 keys", async (t) => {
  const key = fc.oneof(
    fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }))
      .map(([a, l]) => ipv4Key(a, l) as PrefixKey),
    fc.constantFrom<PrefixKey>("2001:db8::/32", "::/0", "fd00::/8"),
  );
  const op = fc.record({ k: key, v: fc.option(fc.integer(), { nil: undefined }) });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const m = new PrefixMap<number>();
      const o = new Map<PrefixKey, number>();
      for (const { k, v } of ops) {
        if (v === undefined) {
          if (m.delete(k) !== o.delete(k)) return false;
        } else {
          m.set(k, v);
          o.set(k, v);
        }
        if (m.get(k) !== o.get(k) || m.size !== o.size) return false;
      }
      const got = [...m.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      const want = [...o.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      return JSON.stringify(got) === JSON.stringify(want);
    }),
  );
  t.pass();
});
