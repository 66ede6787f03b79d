import t, { type Test } from "tap";
import {
  AS_TRANS,
  BgpError,
  buildCease,
  buildOpen,
  decodeNotification,
  decodeOpen,
  decodeRouteRefresh,
  encodeNotification,
  encodeOpen,
  encodeRouteRefresh,
  negotiate,
  notificationFor,
  openAs,
  shutdownCommunication,
  validateOpen,
  afiSafiKey,
  type Capability,
} from "../../../bgp/wire/index.js";

const allCaps: Capability[] = [
  { kind: "multiprotocol", afi: 1, safi: 1 },
  { kind: "multiprotocol", afi: 2, safi: 1 },
  { kind: "route-refresh" },
  { kind: "extended-message" },
  {
    kind: "graceful-restart",
    restartState: true,
    notification: true,
    restartTime: 120,
    families: [
      { afi: 1, safi: 1, forwardingState: true },
      { afi: 2, safi: 1, forwardingState: false },
    ],
  },
  { kind: "four-octet-as", asn: 4200000001 },
  {
    kind: "add-path",
    families: [
      { afi: 1, safi: 1, sendReceive: 1 },
      { afi: 2, safi: 1, sendReceive: 3 },
    ],
  },
  { kind: "unknown", code: 73, value: Buffer.from("06686f73746e6100", "hex") },
];

const body = (msg: Buffer): Buffer => msg.subarray(19);

t.test("OPEN with every capability round-trips", async (t) => {
  const open = buildOpen({ asn: 4200000001, holdTime: 90, bgpId: "192.0.2.1", capabilities: allCaps });
  t.equal(open.myAs, AS_TRANS, "a 4-octet AS is sent as AS_TRANS");
  const wire = encodeOpen(open);
  const back = decodeOpen(body(wire));
  t.same(back, open);
  t.equal(openAs(back), 4200000001);
  for (const c of allCaps) {
    const one = buildOpen({ asn: 65001, holdTime: 0, bgpId: "10.0.0.1", capabilities: [c] });
    t.same(decodeOpen(body(encodeOpen(one))), one, `capability ${c.kind}`);
  }
});

t.test("a known OPEN byte for byte (bird2-style: caps in one parameter)", async (t) => {
  // version 4, AS 65001, hold 240, id 10.0.0.2, one Capabilities parameter holding MP ipv4/unicast,
  // route refresh and 4-octet AS 65001.
  const b = Buffer.from(
    "04fde900f00a000002" + "10" + "020e" + "010400010001" + "0200" + "41040000fde9",
    "hex",
  );
  const open = decodeOpen(b);
  t.equal(open.holdTime, 240);
  t.equal(open.bgpId, "10.0.0.2");
  t.same(open.capabilities, [
    { kind: "multiprotocol", afi: 1, safi: 1 },
    { kind: "route-refresh" },
    { kind: "four-octet-as", asn: 65001 },
  ]);
});

t.test("RFC 9072 extended optional parameters are decoded and used when caps exceed 255 bytes", async (t) => {
  const many: Capability[] = [];
  for (let i = 0; i < 70; i++) many.push({ kind: "multiprotocol", afi: 1, safi: i + 1 });
  const open = buildOpen({ asn: 65001, holdTime: 90, bgpId: "10.0.0.1", capabilities: many });
  const wire = encodeOpen(open);
  t.equal(wire[19 + 9], 255);
  t.equal(wire[19 + 10], 255);
  t.same(decodeOpen(body(wire)), open);
});

function openErr(t: Test, f: () => unknown, subcode: number, data = ""): void {
  try {
    f();
    t.fail("expected BgpError");
  } catch (e) {
    t.ok(e instanceof BgpError, String(e));
    t.equal((e as BgpError).code, 2);
    t.equal((e as BgpError).subcode, subcode, (e as Error).message);
    t.equal((e as BgpError).data.toString("hex"), data);
  }
}

t.test("OPEN errors of RFC 4271 §6.2", async (t) => {
  const good = body(encodeOpen(buildOpen({ asn: 65001, holdTime: 90, bgpId: "10.0.0.1" })));
  const v3 = Buffer.from(good);
  v3[0] = 3;
  openErr(t, () => decodeOpen(v3), 1, "0004");
  const hold2 = Buffer.from(good);
  hold2.writeUInt16BE(2, 3);
  openErr(t, () => decodeOpen(hold2), 6);
  const hold1 = Buffer.from(good);
  hold1.writeUInt16BE(1, 3);
  openErr(t, () => decodeOpen(hold1), 6);
  const id0 = Buffer.from(good);
  id0.writeUInt32BE(0, 5);
  openErr(t, () => decodeOpen(id0), 3);
  const param1 = Buffer.concat([good.subarray(0, 9), Buffer.from([3, 1, 1, 0])]);
  openErr(t, () => decodeOpen(param1), 4);
  const badCap = Buffer.concat([good.subarray(0, 9), Buffer.from([4, 2, 2, 65, 0])]);
  openErr(t, () => decodeOpen(badCap), 0);
  const overrun = Buffer.concat([good.subarray(0, 9), Buffer.from([4, 2, 9, 65, 0])]);
  openErr(t, () => decodeOpen(overrun), 0);

  const open = decodeOpen(good);
  openErr(t, () => validateOpen(open, { peerAs: 65002 }), 2);
  openErr(t, () => validateOpen(open, { localBgpId: "10.0.0.1", localAs: 65001 }), 3);
  t.doesNotThrow(() => validateOpen(open, { localBgpId: "10.0.0.1", localAs: 65002, peerAs: 65001 }));
  openErr(t, () => validateOpen(open, { minHoldTime: 120 }), 6);
  openErr(
    t,
    () => validateOpen(open, { requiredCapabilities: [{ kind: "multiprotocol", afi: 2, safi: 1 }] }),
    7,
    "010400020001",
  );
});

t.test("negotiate combines two OPENs", async (t) => {
  const a = buildOpen({ asn: 65001, holdTime: 90, bgpId: "10.0.0.1", capabilities: allCaps.slice(0, 7) });
  const b = buildOpen({
    asn: 65002,
    holdTime: 30,
    bgpId: "10.0.0.2",
    capabilities: [
      { kind: "multiprotocol", afi: 1, safi: 1 },
      { kind: "route-refresh" },
      { kind: "add-path", families: [{ afi: 1, safi: 1, sendReceive: 2 }] },
    ],
  });
  const n = negotiate(a, b);
  t.equal(n.holdTime, 30);
  t.equal(n.peerAs, 65002);
  t.ok(n.context.asn4);
  t.notOk(n.context.extendedMessage);
  t.ok(n.context.ebgp);
  t.same([...n.families], [afiSafiKey(1, 1)]);
  t.same([...n.context.addPathReceive], [afiSafiKey(1, 1)]);
  t.same([...n.context.addPathSend], []);
  t.ok(n.routeRefresh);
  const old = { ...b, capabilities: [] };
  const n2 = negotiate(a, old);
  t.notOk(n2.context.asn4, "a peer without the capability is an OLD speaker");
  t.same([...n2.families], [afiSafiKey(1, 1)], "no Multiprotocol means IPv4 unicast");
});

t.test("NOTIFICATION, Cease with shutdown communication, ROUTE-REFRESH", async (t) => {
  const n = buildCease(2, "upgrading to 2.1 — back in 5'");
  const back = decodeNotification(body(encodeNotification(n)));
  t.same(back, n);
  t.equal(shutdownCommunication(back), "upgrading to 2.1 — back in 5'");
  const long = buildCease(4, "é".repeat(200));
  t.ok(long.data.length <= 256);
  t.equal(shutdownCommunication(long), "é".repeat(127), "truncated at a character boundary");
  t.equal(
    shutdownCommunication({ kind: "notification", code: 6, subcode: 2, data: Buffer.from([9, 0x41]) }),
    undefined,
  );
  t.same(buildCease(3, "ignored").data, Buffer.alloc(0), "only shutdown and reset carry a communication");
  const err = new BgpError(3, 5, "x", { data: Buffer.from([1, 2]) });
  t.same(notificationFor(err), { kind: "notification", code: 3, subcode: 5, data: Buffer.from([1, 2]) });

  const rr = { kind: "route-refresh" as const, afi: 2, safi: 1, subtype: 0 };
  t.same(decodeRouteRefresh(body(encodeRouteRefresh(rr))), rr);
  try {
    decodeRouteRefresh(Buffer.from([0, 1, 0, 1, 9]));
    t.fail("expected error");
  } catch (e) {
    t.equal((e as BgpError).code, 7);
    t.equal((e as BgpError).subcode, 1);
    t.equal((e as BgpError).data.length, 24, "the complete message");
  }
});
