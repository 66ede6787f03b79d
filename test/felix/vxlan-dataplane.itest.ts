/**
 * The VXLAN reconciler against the kernel, in a namespace of its own: creates the device, repairs
 * drift (MTU, down, MAC, a different VNI, foreign or wrong entries), is idempotent, and never touches
 * another link, even another VXLAN one.
 */
import t from "tap";
import type { VxlanDesired } from "../../felix/calc/vxlan.js";
import { VxlanReconciler } from "../../felix/dataplane/vxlan.js";
import { Kit } from "../kit/kit.js";

const desired: VxlanDesired = {
  device: {
    name: "vxlan.tortie",
    vni: 4096,
    port: 4789,
    local: "10.0.0.1",
    mac: "02:00:00:00:00:01",
    mtu: 1450,
    address: "10.244.1.0",
  },
  neighbours: [
    { ip: "10.244.2.0", mac: "0a:00:00:00:00:02" },
    { ip: "10.244.3.0", mac: "0a:00:00:00:00:03" },
  ],
  vteps: [],
  fdb: [
    { mac: "0a:00:00:00:00:02", dst: "10.0.0.2" },
    { mac: "0a:00:00:00:00:03", dst: "10.0.1.3" },
  ],
  routes: [],
  tunnelPools: ["pods"],
  tunnelValid: true,
  problems: [],
};

t.test("VxlanReconciler: create, idempotence, drift, other links untouched", async (t) => {
  const kit = Kit.create(t);
  const node = await kit.netns("node");
  const peer = await kit.netns("peer");
  await kit.veth(node, "eth0", peer, "eth0");
  await node.addr("eth0", "10.0.0.1/24");
  await node.up("lo");
  const r = new VxlanReconciler(node.name);
  t.teardown(() => r.close());
  const link = () => node.ip(["-d", "link", "show", "vxlan.tortie"]);
  const neigh = () => node.ip(["neigh", "show", "dev", "vxlan.tortie"]);
  const fdb = () => node.exec("bridge", ["fdb", "show", "dev", "vxlan.tortie"]);

  // Another VXLAN link with an entry of its own: never ours to touch.
  await node.ip([
    "link",
    "add",
    "vxlan.other",
    "type",
    "vxlan",
    "id",
    "7",
    "dstport",
    "4790",
    "local",
    "10.0.0.1",
  ]);
  await node.ip([
    "neigh",
    "add",
    "10.9.9.9",
    "lladdr",
    "0a:09:09:09:09:09",
    "dev",
    "vxlan.other",
    "nud",
    "permanent",
  ]);

  const first = await r.sync(desired, "vxlan.tortie");
  t.same(first.failed, []);
  t.ok(first.changes.includes("created vxlan.tortie"));
  const l = await link();
  for (const re of [
    /mtu 1450/,
    /state UNKNOWN|,UP/,
    /link\/ether 02:00:00:00:00:01/,
    /vxlan id 4096/,
    /local 10\.0\.0\.1/,
    /dstport 4789/,
    /nolearning/,
  ])
    t.match(l, re);
  t.match(await node.ip(["addr", "show", "dev", "vxlan.tortie"]), /inet 10\.244\.1\.0\/32/);
  t.match(await neigh(), /10\.244\.2\.0 lladdr 0a:00:00:00:00:02 PERMANENT/);
  t.match(await neigh(), /10\.244\.3\.0 lladdr 0a:00:00:00:00:03 PERMANENT/);
  t.match(await fdb(), /0a:00:00:00:00:03 dst 10\.0\.1\.3 self permanent/);
  t.same((await r.sync(desired, "vxlan.tortie")).changes, [], "a second sync changes nothing");

  // Drift by hand: MTU, down, a wrong MAC for one neighbour, a foreign neighbour, fdb and address.
  await node.ip(["link", "set", "vxlan.tortie", "mtu", "1300", "down"]);
  await node.ip([
    "neigh",
    "replace",
    "10.244.2.0",
    "lladdr",
    "0a:00:00:00:00:99",
    "dev",
    "vxlan.tortie",
    "nud",
    "permanent",
  ]);
  await node.ip([
    "neigh",
    "add",
    "10.244.9.0",
    "lladdr",
    "0a:00:00:00:00:09",
    "dev",
    "vxlan.tortie",
    "nud",
    "permanent",
  ]);
  await node.exec("bridge", [
    "fdb",
    "add",
    "0a:00:00:00:00:09",
    "dev",
    "vxlan.tortie",
    "dst",
    "10.0.0.9",
    "self",
    "permanent",
  ]);
  await node.exec("bridge", [
    "fdb",
    "del",
    "0a:00:00:00:00:02",
    "dev",
    "vxlan.tortie",
    "dst",
    "10.0.0.2",
    "self",
  ]);
  await node.ip(["addr", "add", "10.244.7.7/32", "dev", "vxlan.tortie"]);
  const repair = await r.sync(desired, "vxlan.tortie");
  t.same(repair.failed, []);
  t.match(repair.changes.join("\n"), /vxlan\.tortie mtu,up/);
  t.match(await link(), /mtu 1450/);
  t.match(await link(), /,UP/);
  t.match(await neigh(), /10\.244\.2\.0 lladdr 0a:00:00:00:00:02 PERMANENT/, "wrong MAC replaced");
  t.notMatch(await neigh(), /10\.244\.9\.0/, "foreign neighbour removed");
  t.notMatch(await fdb(), /0a:00:00:00:00:09/, "foreign FDB entry removed");
  t.match(await fdb(), /0a:00:00:00:00:02 dst 10\.0\.0\.2 self permanent/, "deleted FDB entry back");
  t.notMatch(
    await node.ip(["addr", "show", "dev", "vxlan.tortie"]),
    /10\.244\.7\.7/,
    "foreign address removed",
  );
  t.same((await r.sync(desired, "vxlan.tortie")).changes, [], "steady again");

  // What a live VXLAN link cannot change (VNI): deleted and created again.
  await node.ip(["link", "del", "vxlan.tortie"]);
  await node.ip([
    "link",
    "add",
    "vxlan.tortie",
    "type",
    "vxlan",
    "id",
    "9",
    "dstport",
    "4789",
    "local",
    "10.0.0.1",
  ]);
  const recreate = await r.sync(desired, "vxlan.tortie");
  t.match(recreate.changes.join("\n"), /deleted vxlan\.tortie \(vni 9\)\ncreated vxlan\.tortie/);
  t.match(await link(), /vxlan id 4096/);
  t.match(await neigh(), /10\.244\.3\.0 lladdr/);

  // No VXLAN pool: the device goes, the other VXLAN link and its entry stay.
  t.same((await r.sync({ ...desired, device: undefined }, "vxlan.tortie")).changes, ["deleted vxlan.tortie"]);
  await t.rejects(link(), "vxlan.tortie gone");
  t.match(await node.ip(["-d", "link", "show", "vxlan.other"]), /vxlan id 7/);
  t.match(
    await node.ip(["neigh", "show", "dev", "vxlan.other"]),
    /10\.9\.9\.9 lladdr 0a:09:09:09:09:09 PERMANENT/,
  );
});
