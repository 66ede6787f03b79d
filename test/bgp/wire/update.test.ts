import t from "tap";
import {
  Afi,
  AS_TRANS,
  AttributeCache,
  decodeUpdate,
  encodeAnnouncements,
  encodeAttributes,
  encodeEndOfRib,
  encodeUpdate,
  encodeWithdrawals,
  endOfRib,
  ErrorAction,
  formatAttributes,
  makeContext,
  Prefixes,
  routeChanges,
  type PathAttributes,
  type UpdateMessage,
  type WireContext,
} from "../../../bgp/wire/index.js";

const body = (m: Buffer): Buffer => m.subarray(19);
const ctx4 = makeContext();
const ctx2 = makeContext({ asn4: false });

const full: PathAttributes = {
  origin: 0,
  asPath: [
    { type: 3, asns: [65010, 65011] },
    { type: 2, asns: [65001, 4200000001, 65002] },
    { type: 1, asns: [65100, 65101] },
  ],
  nextHop: "192.0.2.1",
  med: 50,
  localPref: 200,
  atomicAggregate: true,
  aggregator: { asn: 4200000002, address: "192.0.2.9" },
  communities: [0xfde80001, 0xffffff01],
  originatorId: "10.0.0.9",
  clusterList: ["10.0.0.1", "10.0.0.2"],
  extendedCommunities: [0x0002fde800000064n, 0x0102c0000201fde9n],
  largeCommunities: [{ globalAdmin: 4200000001, localData1: 1, localData2: 2 }],
  unknown: [{ flags: 0xe0, code: 99, value: Buffer.from("cafe", "hex") }],
};

function plain(u: UpdateMessage): unknown {
  return JSON.parse(
    JSON.stringify(u, (_k, v: unknown) => (typeof v === "bigint" ? v.toString(16) : v)),
  ) as unknown;
}

t.test("every attribute round-trips on a 4-octet session", async (t) => {
  const nlri = Prefixes.from(Afi.IPV4, ["10.1.0.0/16", "10.2.3.0/24", "0.0.0.0/0", "10.9.9.9/32"]);
  const withdrawn = Prefixes.from(Afi.IPV4, ["172.16.0.0/12"]);
  const u = decodeUpdate(body(encodeUpdate({ attributes: full, nlri, withdrawn }, ctx4)), ctx4);
  t.same(u.errors, []);
  t.notOk(u.treatAsWithdraw);
  t.same(plain({ ...u, attributes: u.attributes }), plain({ ...u, attributes: full }));
  t.same(u.attributes, full);
  t.same(u.nlri.toArray(), nlri.toArray());
  t.same(u.withdrawn.toArray(), withdrawn.toArray());
  t.same(formatAttributes(u.attributes).AS_PATH, "(65010 65011) 65001 4200000001 65002 {65100,65101}");
});

t.test(
  "a 2-octet session: AS_TRANS on the wire, AS4_PATH/AS4_AGGREGATOR merged back (RFC 6793)",
  async (t) => {
    const wire = body(
      encodeUpdate({ attributes: full, nlri: Prefixes.from(Afi.IPV4, ["10.0.0.0/8"]) }, ctx2),
    );
    t.ok(wire.includes(Buffer.from([0x5b, 0xa0])), "AS_TRANS 23456 appears");
    const u = decodeUpdate(wire, ctx2);
    t.same(u.errors, []);
    t.same(u.attributes.asPath, full.asPath);
    t.same(u.attributes.aggregator, full.aggregator);

    // A path from an OLD speaker where NEW speakers prepended only part (AS4_PATH shorter).
    const old: PathAttributes = {
      origin: 0,
      nextHop: "192.0.2.1",
      asPath: [{ type: 2, asns: [65001, 65002, AS_TRANS, 65003] }],
    };
    const as4 = Buffer.from("c0110a0202fa56ea01" + "0000fdeb", "hex"); // AS4_PATH: SEQ [4200000001, 65003]
    as4[3] = 2;
    const attrs = Buffer.concat([encodeAttributes(old, ctx2), as4]);
    const b = Buffer.alloc(4 + attrs.length + 2);
    b.writeUInt16BE(attrs.length, 2);
    attrs.copy(b, 4);
    b[4 + attrs.length] = 8;
    b[5 + attrs.length] = 10;
    const m = decodeUpdate(b, ctx2);
    t.same(m.attributes.asPath, [{ type: 2, asns: [65001, 65002, 4200000001, 65003] }]);

    // AS4_PATH longer than AS_PATH is ignored.
    const old2 = { ...old, asPath: [{ type: 2 as const, asns: [AS_TRANS] }] };
    const attrs2 = Buffer.concat([encodeAttributes(old2, ctx2), as4]);
    const b2 = Buffer.alloc(4 + attrs2.length);
    b2.writeUInt16BE(attrs2.length, 2);
    attrs2.copy(b2, 4);
    t.same(decodeUpdate(b2, ctx2).attributes.asPath, [{ type: 2, asns: [AS_TRANS] }]);

    // On a 4-octet session AS4_PATH is discarded.
    const attrs3 = Buffer.concat([
      encodeAttributes({ ...old, asPath: [{ type: 2, asns: [1, 2] }] }, ctx4),
      as4,
    ]);
    const b3 = Buffer.alloc(4 + attrs3.length);
    b3.writeUInt16BE(attrs3.length, 2);
    attrs3.copy(b3, 4);
    const u3 = decodeUpdate(b3, ctx4);
    t.equal(u3.errors.length, 1);
    t.equal(u3.errors[0]?.action, ErrorAction.AttributeDiscard);
    t.same(u3.attributes.asPath, [{ type: 2, asns: [1, 2] }]);
  },
);

t.test("IPv6 in MP_REACH/MP_UNREACH, global and global+link-local next hops, ADD-PATH", async (t) => {
  const ctx: WireContext = makeContext({
    addPathReceive: new Set([513, 257]),
    addPathSend: new Set([513, 257]),
  });
  const nlri = Prefixes.from(Afi.IPV6, [
    { prefix: "2001:db8::/32", pathId: 1 },
    { prefix: "2001:db8:1:2::/64", pathId: 7 },
    { prefix: "::/0", pathId: 2 },
  ]);
  const withdrawn = Prefixes.from(Afi.IPV6, [{ prefix: "2001:db8:ff::/48", pathId: 9 }]);
  for (const nextHop of [["2001:db8::1"], ["2001:db8::1", "fe80::1"]]) {
    const attrs = {
      origin: 2 as const,
      asPath: [],
      mpReach: { afi: 2, safi: 1, nextHop, nlri },
      mpUnreach: { afi: 2, safi: 1, withdrawn },
    };
    const u = decodeUpdate(body(encodeUpdate({ attributes: attrs }, ctx)), ctx);
    t.same(u.errors, []);
    t.same(u.mpReach?.nextHop, nextHop);
    t.same(u.mpReach?.nlri.toArray(), nlri.toArray());
    t.same(u.mpUnreach?.withdrawn.toArray(), withdrawn.toArray());
    t.same(u.attributes, { origin: 2, asPath: [] });
    const ch = routeChanges(u);
    t.equal(ch.announce.length, 1);
    t.equal(ch.withdraw.length, 1);
  }
  const v4 = Prefixes.from(Afi.IPV4, [{ prefix: "10.0.0.0/8", pathId: 5 }]);
  const u4 = decodeUpdate(
    body(encodeUpdate({ attributes: { origin: 0, asPath: [], nextHop: "1.1.1.1" }, nlri: v4 }, ctx)),
    ctx,
  );
  t.same(u4.nlri.toArray(), [{ prefix: "10.0.0.0/8", pathId: 5 }]);
});

t.test("End-of-RIB markers are built and recognised", async (t) => {
  const v4 = decodeUpdate(body(encodeEndOfRib(1, 1, ctx4)), ctx4);
  t.same(endOfRib(v4), { afi: 1, safi: 1 });
  t.equal(encodeEndOfRib(1, 1, ctx4).length, 23);
  const v6 = decodeUpdate(body(encodeEndOfRib(2, 1, ctx4)), ctx4);
  t.same(endOfRib(v6), { afi: 2, safi: 1 });
  const notEor = decodeUpdate(
    body(encodeUpdate({ withdrawn: Prefixes.from(Afi.IPV4, ["10.0.0.0/8"]) }, ctx4)),
    ctx4,
  );
  t.equal(endOfRib(notEor), undefined);
});

t.test("packing 10k prefixes into UPDATEs of at most 4096 bytes, and withdrawing them", async (t) => {
  const list: string[] = [];
  for (let i = 0; i < 10000; i++) list.push(`10.${(i >> 2) & 255}.${i >> 10}.${(i & 3) * 64}/26`);
  const p = Prefixes.from(Afi.IPV4, list);
  const attrs: PathAttributes = { origin: 0, asPath: [{ type: 2, asns: [65001] }], nextHop: "192.0.2.1" };
  const msgs = encodeAnnouncements(attrs, p, ctx4);
  t.ok(msgs.every((m) => m.length <= 4096));
  t.ok(msgs.length <= Math.ceil((10000 * 5) / 4000) + 1, `${msgs.length} messages`);
  const cache = new AttributeCache();
  const got: string[] = [];
  let shared: PathAttributes | undefined;
  for (const m of msgs) {
    const u = decodeUpdate(body(m), ctx4, cache);
    shared ??= u.attributes;
    t.equal(u.attributes, shared, "one attribute object for every UPDATE");
    for (let i = 0; i < u.nlri.count; i++) got.push(u.nlri.prefix(i));
  }
  t.same(
    got,
    p.toArray().map((e) => e.prefix),
  );
  t.equal(cache.hits, msgs.length - 1);
  const w = encodeWithdrawals(p, ctx4);
  t.ok(w.every((m) => m.length <= 4096));
  let n = 0;
  for (const m of w) n += decodeUpdate(body(m), ctx4).withdrawn.count;
  t.equal(n, 10000);
  const v6 = Prefixes.from(
    Afi.IPV6,
    list.slice(0, 2000).map((_, i) => `2001:db8:${i.toString(16)}::/48`),
  );
  const m6 = encodeAnnouncements({ origin: 0, asPath: [] }, v6, ctx4, { safi: 1, nextHop: ["2001:db8::1"] });
  t.ok(m6.every((m) => m.length <= 4096));
  let n6 = 0;
  for (const m of m6) n6 += decodeUpdate(body(m), ctx4).mpReach?.nlri.count ?? 0;
  t.equal(n6, 2000);
  let w6 = 0;
  for (const m of encodeWithdrawals(v6, ctx4))
    w6 += decodeUpdate(body(m), ctx4).mpUnreach?.withdrawn.count ?? 0;
  t.equal(w6, 2000);
});

t.test("IPv4 prefix keys are numbers, distinct per length", async (t) => {
  const p = Prefixes.from(Afi.IPV4, ["10.0.0.0/8", "10.0.0.0/9", "10.1.2.3/24"]);
  t.equal(typeof p.key(0), "number");
  t.not(p.key(0), p.key(1));
  t.equal(p.prefix(2), "10.1.2.0/24", "host bits cleared");
});

t.test("each attribute alone round-trips on both AS sizes", async (t) => {
  const one: PathAttributes[] = [
    { origin: 1 },
    { origin: 2 },
    { asPath: [{ type: 2, asns: [1, 65535, 70000] }] },
    { asPath: [] },
    { asPath: [{ type: 1, asns: [64512, 4200000000] }] },
    {
      asPath: [
        { type: 3, asns: [64512] },
        { type: 4, asns: [64513, 64514] },
        { type: 2, asns: [65001] },
      ],
    },
    { nextHop: "198.51.100.7" },
    { med: 0 },
    { med: 0xffffffff },
    { localPref: 100 },
    { atomicAggregate: true },
    { aggregator: { asn: 65001, address: "10.0.0.1" } },
    { aggregator: { asn: 4200000001, address: "10.0.0.1" } },
    { communities: [0xffff029a] },
    { originatorId: "10.9.9.9" },
    { clusterList: ["10.0.0.1"] },
    { extendedCommunities: [0xffffffffffffffffn] },
    { largeCommunities: [{ globalAdmin: 0, localData1: 0xffffffff, localData2: 7 }] },
    { unknown: [{ flags: 0xe0, code: 200, value: Buffer.alloc(300, 7) }] },
  ];
  for (const ctx of [ctx4, ctx2]) {
    for (const a of one) {
      const u = decodeUpdate(body(encodeUpdate({ attributes: a }, ctx)), ctx);
      t.same(u.errors, [], JSON.stringify(Object.keys(a)));
      t.same(u.attributes, a, `${Object.keys(a).join()} asn4=${ctx.asn4}`);
    }
  }
  const withUnknown = encodeUpdate(
    { attributes: { unknown: [{ flags: 0xc0, code: 99, value: Buffer.from([1]) }] } },
    ctx4,
  );
  t.equal(
    (withUnknown[23] ?? 0) & 0x20,
    0x20,
    "an unknown transitive attribute is passed on with Partial set",
  );
  const u = decodeUpdate(
    body(
      encodeUpdate(
        { attributes: { localPref: 5, originatorId: "1.1.1.1", clusterList: ["2.2.2.2"] } },
        makeContext({ ebgp: true }),
      ),
    ),
    ctx4,
  );
  t.same(u.attributes, {}, "LOCAL_PREF, ORIGINATOR_ID, CLUSTER_LIST are not sent to eBGP");
});
