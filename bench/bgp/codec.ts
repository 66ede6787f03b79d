/**
 * Codec micro-benchmark: encode 1,000,000 IPv4 /26 prefixes into 4096-byte UPDATEs, then frame
 * and decode them back as a session would (64 KB reads, one AttributeCache), and report rates and
 * heap. Run: `npx tsc -p . && node --expose-gc dist/bench/bgp/codec.js [count]`.
 */
import {
  Afi,
  AttributeCache,
  decodeUpdate,
  encodeAnnouncements,
  Framer,
  makeContext,
  MessageType,
  Prefixes,
  type PathAttributes,
  type UpdateMessage,
} from "../../bgp/wire/index.js";

const count = Number(process.argv[2] ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error("run with node --expose-gc");
  process.exit(2);
}
const heap = (): number => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

const ctx = makeContext({ asn4: true, ebgp: true });
const attrs: PathAttributes = {
  origin: 0,
  asPath: [{ type: 2, asns: [65001, 65002] }],
  nextHop: "192.0.2.1",
  med: 0,
  communities: [0xfde90001],
};

// 1M consecutive /26s from 10.0.0.0.
const lengths = new Uint8Array(count).fill(26);
const words = new Uint32Array(count);
for (let i = 0; i < count; i++) words[i] = (0x0a000000 + i * 64) >>> 0;
const prefixes = Prefixes.fromArrays(Afi.IPV4, lengths, words, null);

let t0 = process.hrtime.bigint();
const msgs = encodeAnnouncements(attrs, prefixes, ctx);
const encodeMs = ms(t0);
const stream = Buffer.concat(msgs);
const chunks: Buffer[] = [];
for (let off = 0; off < stream.length; off += 65536) chunks.push(stream.subarray(off, off + 65536));

function decodeAll(keep: UpdateMessage[] | null, rib: Map<number | string, PathAttributes> | null): number {
  const framer = new Framer();
  const cache = new AttributeCache();
  let n = 0;
  for (const c of chunks) {
    for (const f of framer.push(c)) {
      if (f.type !== MessageType.UPDATE) continue;
      const u = decodeUpdate(f.body, ctx, cache);
      n += u.nlri.count;
      if (keep) keep.push(u);
      if (rib) for (let i = 0; i < u.nlri.count; i++) rib.set(u.nlri.key(i), u.attributes);
    }
  }
  return n;
}

decodeAll(null, null); // warm-up
t0 = process.hrtime.bigint();
const decoded = decodeAll(null, null);
const decodeMs = ms(t0);
if (decoded !== count) throw new Error(`decoded ${decoded} of ${count}`);

const base = heap();
const kept: UpdateMessage[] = [];
decodeAll(kept, null);
const keptBytes = heap() - base;
kept.length = 0;

const base2 = heap();
const rib = new Map<number | string, PathAttributes>();
t0 = process.hrtime.bigint();
decodeAll(null, rib);
const ribMs = ms(t0);
const ribBytes = heap() - base2;
if (rib.size !== count) throw new Error(`map holds ${rib.size}`);

const fmt = (x: number): string => x.toFixed(0);
console.log(
  `codec: ${count} IPv4 /26 prefixes in ${msgs.length} UPDATEs (${(stream.length / 1e6).toFixed(1)} MB)`,
);
console.log(`encode: ${fmt(encodeMs)} ms (${fmt(count / (encodeMs / 1000))} prefixes/s)`);
console.log(`frame+decode: ${fmt(decodeMs)} ms (${fmt(count / (decodeMs / 1000))} prefixes/s)`);
console.log(`heap holding every decoded UPDATE: ${(keptBytes / count).toFixed(1)} B/prefix`);
console.log(
  `frame+decode+Map<key, shared attributes>: ${fmt(ribMs)} ms, ${(ribBytes / count).toFixed(1)} B/prefix`,
);
