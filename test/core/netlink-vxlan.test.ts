import t from "tap";
import { attrMap, cString, NlFlags, type NlMessage } from "../../core/netlink/message.js";
import {
  RTM_NEIGH,
  createVxlan,
  decodeAddress,
  decodeNeighbour,
  decodeVxlanLink,
  deleteAddress,
  deleteNeighbour,
  neighDumpRequest,
  replaceNeighbour,
  setLink,
} from "../../core/netlink/vxlan.js";

const empty = Buffer.alloc(0);
/** The kernel answers a GETLINK with the same layout we send in NEWLINK: a request decodes as a link. */
const asAnswer = (type: number, payload: Buffer): NlMessage => ({ type, flags: 0, seq: 1, payload });

t.test(
  "createVxlan: IFLA_INFO_KIND vxlan, IFLA_VXLAN_ID/LOCAL/LEARNING/PORT (port big-endian)",
  async (t) => {
    const r = createVxlan({
      name: "vxlan.tortie",
      vni: 4096,
      port: 4789,
      local: "10.0.0.1",
      mac: "02:aa:bb:cc:dd:ee",
      mtu: 1450,
    });
    t.equal(r.type, 16);
    t.equal(r.flags, NlFlags.CREATE | NlFlags.EXCL);
    const top = attrMap(r.payload.subarray(16));
    t.equal(cString(top.get(3) ?? empty), "vxlan.tortie");
    t.equal(top.get(4)?.readUInt32LE(0), 1450);
    const info = attrMap(top.get(18) ?? empty);
    t.equal(cString(info.get(1) ?? empty), "vxlan");
    const data = attrMap(info.get(2) ?? empty);
    t.equal(data.get(1)?.readUInt32LE(0), 4096);
    t.same([...(data.get(4) ?? empty)], [10, 0, 0, 1]);
    t.same([...(data.get(7) ?? empty)], [0], "learning off");
    t.same([...(data.get(15) ?? empty)], [0x12, 0xb5], "4789 in network order");
    const link = decodeVxlanLink(asAnswer(16, r.payload));
    t.same(
      { ...link, flags: 0 },
      {
        index: 0,
        name: "vxlan.tortie",
        flags: 0,
        up: false,
        mtu: 1450,
        mac: "02:aa:bb:cc:dd:ee",
        kind: "vxlan",
        vni: 4096,
        port: 4789,
        local: "10.0.0.1",
        learning: false,
      },
      "decodes back",
    );
    t.throws(() => createVxlan({ name: "x", vni: 1, port: 1, local: "10.0.0.1", mac: "zz" }), /not a MAC/);
  },
);

t.test("setLink: by index, only what is given; up sets IFF_UP in flags and change", async (t) => {
  const r = setLink(7, { mtu: 1400, up: true });
  t.equal(r.payload.readInt32LE(4), 7);
  t.equal(r.payload.readUInt32LE(8), 1);
  t.equal(r.payload.readUInt32LE(12), 1);
  const attrs = attrMap(r.payload.subarray(16));
  t.equal(attrs.get(4)?.readUInt32LE(0), 1400);
  t.notOk(attrs.has(1), "MAC not sent when unchanged");
  const mac = setLink(7, { mac: "02:00:00:00:00:01" });
  t.equal(mac.payload.readUInt32LE(12), 0, "up state left alone");
});

t.test("neighbours: ARP entry (AF_INET) and FDB entry (AF_BRIDGE, NTF_SELF), permanent", async (t) => {
  const arp = replaceNeighbour({ kind: "neigh", ifindex: 5, ip: "10.244.3.0", mac: "0a:00:00:00:00:03" });
  t.equal(arp.type, RTM_NEIGH.NEWNEIGH);
  t.equal(arp.flags, NlFlags.CREATE | NlFlags.REPLACE);
  t.equal(arp.payload.readUInt8(0), 2);
  t.equal(arp.payload.readInt32LE(4), 5);
  t.equal(arp.payload.readUInt16LE(8), 0x80, "NUD_PERMANENT");
  t.equal(arp.payload.readUInt8(10), 0);
  t.same(decodeNeighbour(asAnswer(28, arp.payload)), {
    kind: "neigh",
    ifindex: 5,
    mac: "0a:00:00:00:00:03",
    ip: "10.244.3.0",
    state: 0x80,
  });
  const fdb = replaceNeighbour({ kind: "fdb", ifindex: 5, ip: "10.0.1.3", mac: "0a:00:00:00:00:03" });
  t.equal(fdb.payload.readUInt8(0), 7, "AF_BRIDGE");
  t.equal(fdb.payload.readUInt8(10), 0x02, "NTF_SELF");
  t.equal(decodeNeighbour(asAnswer(28, fdb.payload))?.kind, "fdb");
  const del = deleteNeighbour({ kind: "neigh", ifindex: 5, ip: "10.244.3.0", mac: "0a:00:00:00:00:03" });
  t.equal(del.type, RTM_NEIGH.DELNEIGH);
  t.notOk(attrMap(del.payload.subarray(12)).has(2), "an ARP entry is deleted by its IP alone");
  t.ok(
    attrMap(
      deleteNeighbour({ kind: "fdb", ifindex: 5, ip: "10.0.1.3", mac: "0a:00:00:00:00:03" }).payload.subarray(
        12,
      ),
    ).has(2),
  );
  t.equal(neighDumpRequest("fdb").readUInt8(0), 7);
  t.equal(neighDumpRequest("neigh").readUInt16LE(8), 0, "a dump asks for every state");
  t.equal(decodeNeighbour(asAnswer(28, Buffer.alloc(12))), undefined, "no address, no entry");
});

t.test("addresses: RTM_DELADDR names address and length; RTM_NEWADDR answers decode", async (t) => {
  const d = deleteAddress(9, "10.244.1.0", 32);
  t.equal(d.type, 21);
  t.equal(d.payload.readUInt8(1), 32);
  t.equal(d.payload.readUInt32LE(4), 9);
  t.same(decodeAddress(asAnswer(20, d.payload)), { ifindex: 9, address: "10.244.1.0", prefixLen: 32 });
  t.equal(decodeAddress(asAnswer(21, d.payload)), undefined);
});
