import { fileURLToPath } from "node:url";
import t from "tap";
import { startBird } from "../../kit/daemons.js";
import { Kit } from "../../kit/kit.js";
import { waitFor } from "../../kit/wait.js";

/**
 * Our codec against real bytes: bird2 peers with a minimal peer built on bgp/wire
 * (capture-peer.ts) inside one namespace, sends static IPv4 /26s with ADD-PATH and IPv6 /48s in
 * MP_REACH_NLRI, and must reach Established with our OPEN; everything it sends must decode
 * without error, End-of-RIB included.
 */
const peerScript = fileURLToPath(new URL("./capture-peer.js", import.meta.url));
const V4 = 300;
const V6 = 40;

t.test("bird2's OPEN and UPDATEs decode, and bird2 accepts our OPEN", async (t) => {
  const kit = Kit.create(t);
  const ns = await kit.netns("wire");
  await ns.up("lo");
  await ns.addr("lo", "10.0.0.1/32");
  await ns.addr("lo", "10.0.0.2/32");

  const peer = kit.spawn(ns, process.execPath, [peerScript, "10.0.0.2", "1790", "65002"], {
    name: "capture-peer",
  });
  await peer.waitForOutput(/LISTENING/);

  const v4: string[] = [];
  for (let i = 0; i < V4; i++)
    v4.push(`  route 10.${20 + (i >> 10)}.${(i >> 2) & 255}.${(i & 3) * 64}/26 blackhole;`);
  const v6: string[] = [];
  for (let i = 0; i < V6; i++) v6.push(`  route 2001:db8:${(i + 1).toString(16)}::/48 blackhole;`);
  const conf = `
router id 10.0.0.1;
protocol device {}
protocol static s4 { ipv4;
${v4.join("\n")}
}
protocol static s6 { ipv6;
${v6.join("\n")}
}
protocol bgp peer {
  local 10.0.0.1 as 4200000001;
  neighbor 10.0.0.2 port 1790 as 65002;
  multihop;
  enable extended messages;
  ipv4 { import none; export all; add paths tx; };
  ipv6 { import none; export all; next hop address 2001:db8::1; };
}
`;
  const bird = await startBird(kit, ns, conf);
  const m = await peer.waitForOutput(/RESULT (.*)/, 30_000);
  const r = JSON.parse(m[1] ?? "{}") as {
    errors: unknown[];
    context: {
      asn4: boolean;
      peerAs: number;
      extendedMessage: boolean;
      addPathReceive: number[];
      gracefulRestart: boolean;
    };
    peerOpen: { myAs: number };
    announced: Record<string, number>;
    pathIds: number;
    endOfRib: string[];
    nextHops: string[];
    attributes: Record<string, string>[];
  };

  t.same(r.errors, [], "no decode errors");
  t.same(r.context.asn4, true);
  t.equal(r.context.peerAs, 4200000001, "4-octet AS from bird's capability");
  t.equal(r.context.extendedMessage, true);
  t.same(r.context.addPathReceive, [257], "ADD-PATH receive for IPv4 unicast");
  t.equal(r.context.gracefulRestart, true, "bird advertises graceful restart");
  t.equal(r.peerOpen.myAs, 23456, "AS_TRANS in My AS");
  t.equal(r.announced["ipv4-unicast"], V4);
  t.equal(r.announced["ipv6-unicast"], V6);
  t.equal(r.pathIds, V4, "IPv4 NLRI carried path ids");
  t.same(r.endOfRib.sort(), ["ipv4-unicast", "ipv6-unicast"]);
  t.ok(r.nextHops.includes("10.0.0.1"), `IPv4 next hop: ${r.nextHops.join(", ")}`);
  t.ok(r.nextHops.includes("2001:db8::1"), "IPv6 next hop");
  t.equal(r.attributes[0]?.AS_PATH, "4200000001");
  t.equal(r.attributes[0]?.ORIGIN, "IGP");

  await waitFor("bird to report Established", async () =>
    /Established/.test(await bird.birdc("show protocols peer")),
  );
  t.pass("bird reached Established with our OPEN");
});
