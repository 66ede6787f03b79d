import t from "tap";
import {
  RTM_LINK,
  addAddress,
  addProxyNeighbour,
  createVeth,
  decodeLinkInfo,
  deleteLink,
  setLinkUp,
} from "../../core/netlink/link.js";
import { attrMap, cString, NlFlags } from "../../core/netlink/message.js";

t.test(
  "createVeth nests the peer (ifinfomsg + name + netns fd) under LINKINFO/INFO_DATA/VETH_INFO_PEER",
  async (t) => {
    const r = createVeth(
      { name: "tortabc", mac: "ee:ee:ee:ee:ee:ee", mtu: 1450 },
      { name: "eth0", mac: "0a:01:02:03:04:05", mtu: 1450, netnsFd: 42 },
    );
    t.equal(r.type, RTM_LINK.NEWLINK);
    t.equal(r.flags, NlFlags.CREATE | NlFlags.EXCL);
    const top = attrMap(r.payload.subarray(16));
    t.equal(cString(top.get(3) ?? Buffer.alloc(0)), "tortabc");
    t.same([...(top.get(1) ?? [])], [0xee, 0xee, 0xee, 0xee, 0xee, 0xee]);
    t.equal(top.get(4)?.readUInt32LE(0), 1450);
    const info = attrMap(top.get(18) ?? Buffer.alloc(0));
    t.equal(cString(info.get(1) ?? Buffer.alloc(0)), "veth");
    const peer = attrMap(info.get(2) ?? Buffer.alloc(0)).get(1) ?? Buffer.alloc(0);
    const peerAttrs = attrMap(peer.subarray(16));
    t.equal(cString(peerAttrs.get(3) ?? Buffer.alloc(0)), "eth0");
    t.equal(peerAttrs.get(28)?.readUInt32LE(0), 42);
    t.same([...(peerAttrs.get(1) ?? [])], [0x0a, 1, 2, 3, 4, 5]);
    t.throws(() => createVeth({ name: "x", mac: "nope" }, { name: "y", netnsFd: 1 }), /not a MAC/);
  },
);

t.test("setLinkUp changes only IFF_UP; deleteLink names the link", async (t) => {
  const up = setLinkUp("eth0");
  t.equal(up.payload.readUInt32LE(8), 1);
  t.equal(up.payload.readUInt32LE(12), 1);
  const del = deleteLink("tortabc");
  t.equal(del.type, RTM_LINK.DELLINK);
  t.equal(cString(attrMap(del.payload.subarray(16)).get(3) ?? Buffer.alloc(0)), "tortabc");
});

t.test(
  "addresses: /32 and /128 (no DAD) with LOCAL and ADDRESS; proxy neighbours are NTF_PROXY",
  async (t) => {
    const a4 = addAddress(7, "10.0.0.5", 32);
    t.same([a4.payload[0], a4.payload[1], a4.payload[2]], [2, 32, 0]);
    t.equal(a4.payload.readUInt32LE(4), 7);
    t.same([...(attrMap(a4.payload.subarray(8)).get(2) ?? [])], [10, 0, 0, 5]);
    const a6 = addAddress(7, "fd00::5", 128);
    t.same([a6.payload[0], a6.payload[1], a6.payload[2]], [10, 128, 2]);
    t.equal(attrMap(a6.payload.subarray(8)).get(1)?.length, 16);
    const n = addProxyNeighbour(9, "fe80::1");
    t.equal(n.payload.readInt32LE(4), 9);
    t.equal(n.payload[10], 0x08);
  },
);

t.test("decodeLinkInfo reads index, name, flags, mtu and MAC", async (t) => {
  const req = createVeth({ name: "tortabc", mac: "ee:ee:ee:ee:ee:01", mtu: 1400 }, { name: "p", netnsFd: 3 });
  const payload = Buffer.from(req.payload);
  payload.writeInt32LE(12, 4);
  payload.writeUInt32LE(1, 8);
  const l = decodeLinkInfo({ type: RTM_LINK.NEWLINK, flags: 0, seq: 1, payload });
  t.same(l, { index: 12, name: "tortabc", flags: 1, up: true, mtu: 1400, mac: "ee:ee:ee:ee:ee:01" });
  t.equal(decodeLinkInfo({ type: RTM_LINK.DELLINK, flags: 0, seq: 1, payload }), undefined);
});
