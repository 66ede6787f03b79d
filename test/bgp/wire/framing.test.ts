import fc from "fast-check";
import t, { type Test } from "tap";
import {
  BgpError,
  buildCease,
  encodeKeepalive,
  encodeNotification,
  encodeOpen,
  encodeRouteRefresh,
  Framer,
  frameMessage,
  buildOpen,
  type Frame,
} from "../../../bgp/wire/index.js";

function stream(): Buffer {
  return Buffer.concat([
    encodeOpen(
      buildOpen({ asn: 65001, holdTime: 90, bgpId: "10.0.0.1", capabilities: [{ kind: "route-refresh" }] }),
    ),
    encodeKeepalive(),
    encodeRouteRefresh({ kind: "route-refresh", afi: 1, safi: 1, subtype: 0 }),
    frameMessage(2, Buffer.from([0, 0, 0, 0])),
    encodeNotification(buildCease(2, "maintenance")),
  ]);
}

const plain = (fs: Frame[]): string => fs.map((f) => `${f.type}:${f.body.toString("hex")}`).join(" ");

function frameAll(chunks: Buffer[], extended = false): Frame[] {
  const f = new Framer();
  f.setExtendedMessage(extended);
  const out: Frame[] = [];
  for (const c of chunks) out.push(...f.push(c).map((x) => ({ type: x.type, body: Buffer.from(x.body) })));
  if (f.buffered !== 0) throw new Error(`${f.buffered} bytes left over`);
  return out;
}

t.test("a stream in one chunk yields every message", async (t) => {
  const fs = frameAll([stream()]);
  t.same(
    fs.map((f) => f.type),
    [1, 4, 5, 2, 3],
  );
  t.equal(plain(fs), plain(frameAll([stream(), Buffer.alloc(0)])), "an empty chunk changes nothing");
});

t.test("split at every offset, and at every pair of offsets, yields the same messages", async (t) => {
  const s = stream();
  const want = plain(frameAll([s]));
  const bad: string[] = [];
  for (let i = 0; i <= s.length; i++) {
    if (plain(frameAll([s.subarray(0, i), s.subarray(i)])) !== want) bad.push(`${i}`);
  }
  for (let i = 0; i <= s.length; i++) {
    for (let j = i; j <= s.length; j++) {
      if (plain(frameAll([s.subarray(0, i), s.subarray(i, j), s.subarray(j)])) !== want)
        bad.push(`${i},${j}`);
    }
  }
  t.same(bad, [], "no split point changes the result");
  const oneByte = [...s].map((b) => Buffer.from([b]));
  t.same(plain(frameAll(oneByte)), want, "a byte at a time");
});

t.test("property: any chunking of a stream yields the same messages", async (t) => {
  const s = stream();
  const want = plain(frameAll([s]));
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: s.length - 1 }), { maxLength: 20 }), (cuts) => {
        const sorted = [0, ...cuts.sort((a, b) => a - b), s.length];
        const chunks = sorted.slice(1).map((end, i) => s.subarray(sorted[i], end));
        return plain(frameAll(chunks)) === want;
      }),
      { numRuns: 200 },
    ),
  );
});

function headerError(
  t: Test,
  bytes: Buffer,
  code: number,
  subcode: number,
  data: string,
  extended = false,
): void {
  const f = new Framer();
  f.setExtendedMessage(extended);
  try {
    f.push(bytes);
    t.fail("expected a BgpError");
  } catch (e) {
    t.ok(e instanceof BgpError);
    const err = e as BgpError;
    t.equal(err.code, code);
    t.equal(err.subcode, subcode);
    t.equal(err.data.toString("hex"), data);
  }
  t.throws(() => f.push(encodeKeepalive()), BgpError, "a failed framer stays failed");
}

t.test("header errors carry RFC 4271 §6.1 codes and data", async (t) => {
  const ka = encodeKeepalive();
  const badMarker = Buffer.from(ka);
  badMarker[3] = 0;
  headerError(t, badMarker, 1, 1, "");
  const shortLen = Buffer.from(ka);
  shortLen.writeUInt16BE(18, 16);
  headerError(t, shortLen, 1, 2, "0012");
  const kaLong = Buffer.concat([ka, Buffer.alloc(1)]);
  kaLong.writeUInt16BE(20, 16);
  headerError(t, kaLong, 1, 2, "0014");
  const badType = Buffer.from(ka);
  badType[18] = 9;
  headerError(t, badType, 1, 3, "09");
  const big = frameMessage(2, Buffer.alloc(5000));
  headerError(t, big, 1, 2, "139b");
  const bigOpen = frameMessage(1, Buffer.alloc(5000));
  headerError(t, bigOpen, 1, 2, "139b", true);
  const f = new Framer();
  f.setExtendedMessage(true);
  t.equal(f.push(big).length, 1, "5019-byte UPDATE accepted after Extended Message");
});

t.test("a 65535-byte extended UPDATE fed a byte at a time is framed once, whole", async (t) => {
  const big = frameMessage(2, Buffer.alloc(65535 - 19, 0x5a));
  const f = new Framer();
  f.setExtendedMessage(true);
  let frames: Frame[] = [];
  for (let i = 0; i < big.length; i++) {
    const got = f.push(big.subarray(i, i + 1));
    if (got.length > 0) frames = frames.concat(got);
    if (i < big.length - 1 && got.length > 0) break;
  }
  t.equal(frames.length, 1);
  t.equal(frames[0]?.body.length, 65535 - 19);
  t.ok(frames[0]?.body.every((b) => b === 0x5a));
  t.equal(f.buffered, 0);
});
