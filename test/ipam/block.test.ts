import fc from "fast-check";
import t from "tap";
import { parseAddr, parseCidr } from "../../ipam/addr.js";
import {
  allocate,
  allocatedEntries,
  assign,
  blockDataProblems,
  isEmpty,
  newBlock,
  release,
  releaseByHandle,
  usedCount,
  type BlockData,
} from "../../ipam/block.js";
import { AddressInUseError, IpamError } from "../../ipam/errors.js";
import { reservedOrdinals, parseReservations } from "../../ipam/select.js";

const attrs = (handle: string) => ({ handle, node: "node1", namespace: "default", pod: handle });

t.test("a /26 has 64 ordinals and hands them out in order", async (t) => {
  const b = newBlock(parseCidr("10.0.0.64/26"), "node1");
  t.equal(b.allocations.length, 64);
  t.equal(b.affinity, "host:node1");
  const r = allocate(b, 3, attrs("h1"));
  t.same(r.addresses, ["10.0.0.64", "10.0.0.65", "10.0.0.66"]);
  t.equal(usedCount(r.block), 3);
  t.same(blockDataProblems(r.block), []);
  t.equal(usedCount(b), 0, "the input block is not mutated");
});

t.test("edges: full block, last ordinal, /32 block, released addresses go to the back", async (t) => {
  let b: BlockData = newBlock(parseCidr("10.0.0.0/26"), "n");
  const all = allocate(b, 100, attrs("h"));
  t.equal(all.addresses.length, 64, "never more than the block holds");
  t.equal(all.addresses[63], "10.0.0.63");
  t.same(allocate(all.block, 1, attrs("x")).addresses, [], "a full block allocates nothing");
  b = release(all.block, ["10.0.0.5"]).block;
  t.same(allocate(b, 1, attrs("y")).addresses, ["10.0.0.5"]);
  const one = newBlock(parseCidr("10.9.9.9/32"), null);
  t.equal(one.allocations.length, 1);
  t.same(allocate(one, 1, attrs("z")).addresses, ["10.9.9.9"]);
  let c = allocate(newBlock(parseCidr("10.0.0.0/30"), "n"), 4, attrs("a")).block;
  c = release(c, ["10.0.0.1"]).block;
  c = release(c, ["10.0.0.0"]).block;
  t.same(
    allocate(c, 2, attrs("b")).addresses,
    ["10.0.0.1", "10.0.0.0"],
    "freed first, reused first; never immediate reuse of others",
  );
});

t.test("assign a fixed address: in use, outside, reserved", async (t) => {
  const b = newBlock(parseCidr("10.0.0.0/26"), "n");
  const b2 = assign(b, "10.0.0.10", attrs("h1"));
  t.throws(() => assign(b2, "10.0.0.10", attrs("h2")), AddressInUseError);
  t.throws(() => assign(b2, "10.0.1.10", attrs("h2")), { code: "AddressNotInPool" });
  const reserved = reservedOrdinals(
    parseCidr("10.0.0.0/26"),
    parseReservations(["10.0.0.0/30", "10.0.0.63"]),
  );
  t.throws(() => assign(b, "10.0.0.2", attrs("h"), reserved), IpamError);
  const r = allocate(b, 64, attrs("h"), reserved);
  t.equal(r.addresses.length, 59, "64 minus 4 minus 1 reserved");
  t.notOk(r.addresses.includes("10.0.0.63"));
  t.notOk(r.addresses.includes("10.0.0.0"));
});

t.test("IPv6 /122 blocks", async (t) => {
  const b = newBlock(parseCidr("fd00:10::/122"), "n");
  t.equal(b.allocations.length, 64);
  const r = allocate(b, 2, attrs("h"));
  t.same(r.addresses, ["fd00:10::", "fd00:10::1"]);
  const last = allocate(r.block, 62, attrs("h")).addresses.at(-1);
  t.equal(last, "fd00:10::3f");
  t.equal(parseAddr("fd00:10::3f").family, 6);
});

t.test("property: allocate never hands out an address twice, and release restores the block", async () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant("alloc" as const),
      n: fc.integer({ min: 1, max: 5 }),
      h: fc.integer({ min: 0, max: 7 }),
    }),
    fc.record({ kind: fc.constant("release" as const), h: fc.integer({ min: 0, max: 7 }) }),
  );
  fc.assert(
    fc.property(
      fc.constantFrom("10.1.0.0/27", "fd00::40/123"),
      fc.array(op, { maxLength: 60 }),
      (cidr, ops) => {
        let b = newBlock(parseCidr(cidr), "n");
        const owner = new Map<string, string>();
        for (const o of ops) {
          if (o.kind === "alloc") {
            const r = allocate(b, o.n, attrs(`h${o.h}`));
            for (const a of r.addresses) {
              if (owner.has(a)) return false;
              owner.set(a, `h${o.h}`);
            }
            b = r.block;
          } else {
            const r = releaseByHandle(b, `h${o.h}`);
            for (const a of r.released) if (owner.get(a) !== `h${o.h}`) return false;
            for (const a of r.released) owner.delete(a);
            b = r.block;
          }
          if (blockDataProblems(b).length > 0) return false;
          const entries = allocatedEntries(b);
          if (entries.length !== owner.size) return false;
          if (!entries.every((e) => owner.get(e.address) === e.attrs.handle)) return false;
        }
        for (let h = 0; h < 8; h++) b = releaseByHandle(b, `h${h}`).block;
        return isEmpty(b) && b.unallocated.length === b.allocations.length;
      },
    ),
  );
});
