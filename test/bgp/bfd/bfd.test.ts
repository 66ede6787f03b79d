import t from "tap";
import {
  BfdDiag,
  BfdState,
  decodeControl,
  encodeControl,
  type ControlPacket,
} from "../../../bgp/bfd/packet.js";
import {
  DEFAULT_TIMERS,
  detectionTimeMs,
  expire,
  jittered,
  newSession,
  packetFor,
  receive,
  txIntervalMs,
  type SessionVars,
} from "../../../bgp/bfd/session.js";

const base: Omit<ControlPacket, "version" | "length"> = {
  diag: BfdDiag.None,
  state: BfdState.Up,
  poll: true,
  final: false,
  controlPlaneIndependent: false,
  authPresent: false,
  demand: false,
  multipoint: false,
  detectMult: 3,
  myDiscriminator: 1,
  yourDiscriminator: 2,
  desiredMinTxInterval: 300_000,
  requiredMinRxInterval: 300_000,
  requiredMinEchoRxInterval: 0,
};

t.test("the control packet is laid out as RFC 5880 §4.1 draws it", async (t) => {
  const b = encodeControl(base);
  // Vers 1 | Diag 0; Sta Up(3) with P; mult 3; length 24; discriminators; 300 ms in µs.
  t.equal(b.toString("hex"), "20e00318" + "00000001" + "00000002" + "000493e0" + "000493e0" + "00000000");
  t.same(decodeControl(b), { ...base, version: 1, length: 24 });
  const diag = encodeControl({
    ...base,
    diag: BfdDiag.ControlDetectionTimeExpired,
    poll: false,
    final: true,
  });
  t.equal(diag[0], 0x21);
  t.equal(diag[1], 0xd0, "Up with F");
});

t.test("packets RFC 5880 §6.8.6 discards", async (t) => {
  const good = encodeControl(base);
  const with_ = (i: number, v: number): Buffer => {
    const b = Buffer.from(good);
    b[i] = v;
    return b;
  };
  t.same(decodeControl(good.subarray(0, 20)), { discard: "short packet" });
  t.same(decodeControl(with_(0, 0x40)), { discard: "bad version" });
  t.same(decodeControl(with_(3, 23)), { discard: "bad length" });
  t.same(decodeControl(with_(3, 40)), { discard: "bad length" }, "longer than what arrived");
  t.same(decodeControl(with_(2, 0)), { discard: "zero detect multiplier" });
  t.same(decodeControl(with_(1, 0xc1)), { discard: "multipoint set" });
  t.same(decodeControl(with_(1, 0xc4)), { discard: "authentication not configured" });
  const zero = Buffer.from(good);
  zero.writeUInt32BE(0, 4);
  t.same(decodeControl(zero), { discard: "zero my discriminator" });
});

/** Delivers `from`'s next packet to `to`, through the wire format. */
function deliver(from: SessionVars, to: SessionVars, now: number, final = false) {
  const p = decodeControl(encodeControl(packetFor(from, final)));
  if ("discard" in p) throw new Error(p.discard);
  return receive(to, p, now);
}

t.test("three-way handshake, then fast timers through a Poll Sequence", async (t) => {
  let a = newSession(11, DEFAULT_TIMERS);
  let b = newSession(22, { minTxMs: 100, minRxMs: 200, multiplier: 5 });
  t.equal(txIntervalMs(a), 1000, "slow while not Up");
  b = deliver(a, b, 0)?.next ?? b;
  t.equal(b.state, BfdState.Init, "B heard A Down: Init");
  t.equal(b.remoteDiscr, 11);
  a = deliver(b, a, 1)?.next ?? a;
  t.equal(a.state, BfdState.Up, "A heard B Init: Up");
  t.ok(a.polling, "A announces its faster rate with a Poll");
  t.equal(a.desiredMinTxMs, 300);
  const rb = deliver(a, b, 2);
  b = rb?.next ?? b;
  t.equal(b.state, BfdState.Up, "B heard A Up: Up");
  t.ok(rb?.sendFinal, "B answers the Poll with Final");
  const ra = deliver(b, a, 3, true);
  a = ra?.next ?? a;
  t.notOk(a.polling, "the Final ends A's Poll Sequence");
  t.equal(txIntervalMs(a), 300, "A sends at max(its 300, B's required 200)");
  t.equal(detectionTimeMs(a), 5 * 300, "B's multiplier x max(A's required RX, B's desired TX)");
  t.equal(txIntervalMs(b), 300, "B sends no faster than A can receive");
});

t.test("detection time, AdminDown and a peer that went Down", async (t) => {
  let a = newSession(1, DEFAULT_TIMERS);
  let b = newSession(2, DEFAULT_TIMERS);
  b = deliver(a, b, 0)?.next ?? b;
  a = deliver(b, a, 0)?.next ?? a;
  b = deliver(a, b, 0)?.next ?? b;
  t.equal(a.state, BfdState.Up);
  t.equal(b.state, BfdState.Up);
  const detect = detectionTimeMs(a);
  t.equal(expire(a, detect - 1), a, "not yet");
  const dead = expire(a, detect);
  t.equal(dead.state, BfdState.Down);
  t.equal(dead.localDiag, BfdDiag.ControlDetectionTimeExpired);
  t.equal(dead.remoteDiscr, 0, "the peer's discriminator is forgotten");
  t.equal(txIntervalMs(dead), 1000, "back to slow");
  const admin = receive(a, { ...decoded(packetFor(b, false)), state: BfdState.AdminDown }, 5);
  t.equal(admin?.next.state, BfdState.Down);
  t.equal(admin?.next.localDiag, BfdDiag.NeighborSignaledSessionDown);
  const down = receive(a, { ...decoded(packetFor(b, false)), state: BfdState.Down }, 5);
  t.equal(down?.next.state, BfdState.Down, "Up hears Down: Down");
  t.equal(down?.next.localDiag, BfdDiag.NeighborSignaledSessionDown);
});

t.test("packets for another session or without a discriminator while up are not taken", async (t) => {
  const a = newSession(7, DEFAULT_TIMERS);
  const p = { ...base, version: 1, length: 24 };
  t.equal(receive(a, { ...p, yourDiscriminator: 0, state: BfdState.Up }, 0), undefined);
  t.equal(receive(a, { ...p, yourDiscriminator: 8 }, 0), undefined);
  t.ok(receive(a, { ...p, yourDiscriminator: 0, state: BfdState.Down }, 0), "Down with 0 starts a session");
});

t.test("jitter stays within 75-100 % (90 % with a multiplier of 1)", async (t) => {
  t.equal(jittered(1000, 3, 0), 750);
  t.equal(jittered(1000, 3, 1), 1000);
  t.equal(jittered(1000, 1, 1), 900);
});

function decoded(p: Omit<ControlPacket, "version" | "length">): ControlPacket {
  const d = decodeControl(encodeControl(p));
  if ("discard" in d) throw new Error(d.discard);
  return d;
}
