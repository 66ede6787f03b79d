import t from "tap";
import { ipv4Key, type PrefixKey } from "../../../bgp/rib/prefix.js";
import {
  RouteAttrsTable,
  decodeRoutes,
  encodeRoutes,
  type ExportSession,
  type RouteAttrs,
} from "../../../bgp/session/routes.js";
import {
  AsSegmentType,
  AttributeCache,
  Origin,
  afiSafiKey,
  Afi,
  Safi,
  makeContext,
} from "../../../bgp/wire/index.js";

// encodeRoutes reuses the UPDATEs it encoded last for a route: what a session sees must still be
// exactly what a fresh encode for that session gives.

const families = new Set([afiSafiKey(Afi.IPV4, Safi.UNICAST)]);

function session(partial: Partial<ExportSession> & { asn4?: boolean } = {}): ExportSession {
  const { asn4 = true, ...rest } = partial;
  return {
    context: makeContext({ asn4, ebgp: rest.ebgp ?? false }),
    families,
    localAs: 65000,
    ebgp: false,
    localAddress: "10.0.0.1",
    ...rest,
  };
}

const table = new RouteAttrsTable();
const reflected: RouteAttrs = table.get(
  {
    origin: Origin.IGP,
    asPath: [{ type: AsSegmentType.AS_SEQUENCE, asns: [4200000001] }],
    originatorId: "10.0.0.7",
    clusterList: ["10.0.0.1"],
  },
  ["10.0.0.7"],
);
const keys: PrefixKey[] = [ipv4Key(0x0a010000, 26), ipv4Key(0x0a010040, 26)];

/** The same route as a distinct object (one per call): nothing cached for it. */
const fresh = (): RouteAttrs => ({ ...reflected });
const withAttrs = (r: RouteAttrs, ks: readonly PrefixKey[] = keys) => ks.map((k) => [k, r] as const);
const asns = (r: RouteAttrs | undefined): number[] => (r?.attributes.asPath ?? []).flatMap((s) => s.asns);

const bytes = (ms: readonly Buffer[]): string => Buffer.concat(ms).toString("hex");

function decoded(ms: readonly Buffer[], s: ExportSession) {
  return ms.map((m) => decodeRoutes(m.subarray(19), s.context, new AttributeCache(), new RouteAttrsTable()));
}

t.test("the same route to two sessions alike: the same bytes as a fresh encode", async (t) => {
  const a = encodeRoutes(session(), withAttrs(reflected), []);
  const b = encodeRoutes(session({ localAddress: "10.0.0.2" }), withAttrs(reflected), []);
  const c = encodeRoutes(session(), withAttrs(fresh()), []);
  t.equal(bytes(a.messages), bytes(c.messages));
  t.equal(bytes(b.messages), bytes(c.messages), "keeps its own next hop: the local address does not matter");
  const [u] = decoded(a.messages, session());
  t.same(u?.announced[0]?.keys, keys);
  t.same(u?.announced[0]?.attrs.nextHop, ["10.0.0.7"]);
});

t.test("a session that encodes differently never gets the other's bytes", async (t) => {
  const four = encodeRoutes(session(), withAttrs(reflected), []);
  const two = encodeRoutes(session({ asn4: false }), withAttrs(reflected), []);
  t.not(bytes(two.messages), bytes(four.messages));
  t.equal(
    bytes(two.messages),
    bytes(encodeRoutes(session({ asn4: false }), withAttrs(fresh()), []).messages),
  );
  const [u] = decoded(two.messages, session({ asn4: false }));
  // A 4-octet AS on a 2-octet session travels as AS_TRANS (RFC 6793), the real one in AS4_PATH.
  t.same(asns(u?.announced[0]?.attrs), [4200000001]);
});

t.test("other prefixes with the same attributes: encoded for those prefixes", async (t) => {
  encodeRoutes(session(), withAttrs(reflected), []);
  const one = encodeRoutes(session(), [[keys[0] as PrefixKey, reflected]], []);
  const [u] = decoded(one.messages, session());
  t.same(u?.announced[0]?.keys, [keys[0]]);
});

t.test("an eBGP session: our AS in front and our next hop, not the reflected route's", async (t) => {
  encodeRoutes(session(), withAttrs(reflected), []);
  const e = session({ ebgp: true, localAddress: "192.0.2.1" });
  const out = encodeRoutes(e, withAttrs(table.get(reflected.attributes, [])), []);
  const [u] = decoded(out.messages, e);
  t.same(asns(u?.announced[0]?.attrs), [65000, 4200000001]);
  t.same(u?.announced[0]?.attrs.nextHop, ["192.0.2.1"]);
});
