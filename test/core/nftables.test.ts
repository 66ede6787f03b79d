import t from "tap";
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
