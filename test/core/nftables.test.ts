import t from "tap";
import { AttrWriter, NLA_F_NESTED } from "../../core/netlink/message.js";
import { cidrElements, concatKey, portField, protoField, addrKey } from "../../core/netlink/nftables.js";

t.test("cidrElements: the start, and the first address past the prefix as the interval's end", async (t) => {
  const hex = (cidr: string) =>
    cidrElements(cidr).map((e) => `${e.key.toString("hex")}${e.intervalEnd ? "!" : ""}`);
  t.same(hex("10.1.2.0/24"), ["0a010200", "0a010300!"]);
  t.same(hex("10.1.2.255/32"), ["0a0102ff", "0a010300!"]);
  t.same(hex("255.255.255.0/24"), ["ffffff00"], "a range to the top of the space has no end element");
  t.same(hex("0.0.0.0/0"), ["00000000"]);
  t.same(hex("fd00::/8"), ["fd000000000000000000000000000000", "fe000000000000000000000000000000!"]);
});

t.test("concatenated keys put each field in its own 32-bit register", async (t) => {
  t.equal(
    concatKey([addrKey("10.0.0.1"), protoField(17), portField(53)]).toString("hex"),
    "0a000001" + "11000000" + "00350000",
  );
  t.equal(concatKey([addrKey("fd00::1"), portField(443)]).length, 20);
});

t.test("AttrWriter: a write that makes the buffer grow lands in the grown buffer", async (t) => {
  // Reference encoding, one Buffer per attribute.
  const pad = (b: Buffer): Buffer => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const ref = (type: number, value: Buffer): Buffer => {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(4 + value.length, 0);
    h.writeUInt16LE(type, 2);
    return pad(Buffer.concat([h, value]));
  };
  const u32 = (v: number, be = false): Buffer => {
    const b = Buffer.alloc(4);
    if (be) b.writeUInt32BE(v, 0);
    else b.writeUInt32LE(v, 0);
    return b;
  };
  const big = Buffer.alloc(40, 0xab);
  for (let capacity = 1; capacity <= 64; capacity++) {
    const w = new AttrWriter(capacity);
    w.put(Buffer.from([1, 2, 3, 4]));
    w.raw(1, big);
    w.u32(2, 0xdeadbeef);
    w.u32be(3, 0x01020304);
    w.str(4, "tortie");
    const at = w.begin(5);
    w.raw(6, big);
    w.end(at);
    const inner = ref(6, big);
    const nestHead = Buffer.alloc(4);
    nestHead.writeUInt16LE(4 + inner.length, 0);
    nestHead.writeUInt16LE(5 | NLA_F_NESTED, 2);
    const want = Buffer.concat([
      Buffer.from([1, 2, 3, 4]),
      ref(1, big),
      ref(2, u32(0xdeadbeef)),
      ref(3, u32(0x01020304, true)),
      ref(4, Buffer.from("tortie\0")),
      nestHead,
      inner,
    ]);
    const got = w.build();
    if (!got.equals(want)) {
      t.equal(got.toString("hex"), want.toString("hex"), `capacity ${capacity}`);
      return;
    }
  }
  t.pass("byte for byte the reference encoding, whatever the starting capacity");
});

t.test("set elements encode the same on the first call of a process as on later ones", async (t) => {
  // The first large element list grew the shared writer and used to lose its last element.
  const { transactionOf } = await import("../../policy/nft/netlink.js");
  const elem = ["fd00::/125", "fd00::10/124", "fd00::20/123", "fd00::40/122", "fd00::80/121"].map((c) => {
    const [addr = "", len = ""] = c.split("/");
    return { prefix: { addr, len: Number(len) } };
  });
  const set = {
    family: "inet",
    table: "t",
    name: "s",
    type: "ipv6_addr",
    flags: ["interval"],
    elem,
  } as const;
  const hex = () => transactionOf({ nftables: [{ add: { set } }] }).map((m) => m.payload.toString("hex"));
  t.same(hex(), hex());
});
