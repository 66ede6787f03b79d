import t from "tap";
import { startBird, startExabgp, startFrrBgpd, startGobgpd } from "../kit/daemons.js";
import type { RoutesView, StatusView } from "../../bgp/session/control.js";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { makeHub, receivedFrom, startTortie } from "./harness.js";

/**
 * One topology for the whole file: our speaker (AS 65001, 2-byte) in the
 * middle, one namespace per real daemon around it.
 *   bird2   eBGP over IPv4, AS 4200000002 (4-byte)   + iBGP over IPv6
 *   frr     eBGP over IPv6, AS 65003 (2-byte)
 *   gobgpd  eBGP over IPv4, AS 4200000004 (4-byte)
 *   exabgp  iBGP over IPv4
 */
t.test("interop with bird2, frr, gobgpd and exabgp", async (t) => {
  const kit = Kit.create(t);
  const { ours, links } = await makeHub(kit, ["bird", "frr", "gobgp", "exabgp"]);
  const [bl, fl, gl, el] = links;
  if (!bl || !fl || !gl || !el) throw new Error("hub");

  const bird = await startBird(
    kit,
    bl.ns,
    `
router id ${bl.v4.theirs};
protocol device {}
ipv4 table t4;
ipv6 table t6;
protocol static s4 { ipv4 { table t4; }; route 198.51.100.0/26 blackhole; route 198.51.100.64/26 blackhole; }
protocol static s6 { ipv6 { table t6; }; route 2001:db8:b::/48 blackhole; }
protocol bgp ebgp4 {
  local ${bl.v4.theirs} as 4200000002; neighbor ${bl.v4.ours} as 65001;
  hold time 6; connect retry time 1; error wait time 1, 2;
  ipv4 { table t4; import all; export all; };
}
protocol bgp ibgp6 {
  local ${bl.v6.theirs} as 65001; neighbor ${bl.v6.ours} as 65001;
  hold time 6; connect retry time 1; error wait time 1, 2;
  ipv6 { table t6; import all; export all; next hop self; };
}
`,
  );
  const frr = await startFrrBgpd(
    kit,
    fl.ns,
    `
router bgp 65003
 bgp router-id ${fl.v4.theirs}
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor ${fl.v6.ours} remote-as 65001
 neighbor ${fl.v6.ours} timers 2 6
 neighbor ${fl.v6.ours} timers connect 1
 address-family ipv6 unicast
  network 2001:db8:f::/48
  neighbor ${fl.v6.ours} activate
 exit-address-family
`,
  );
  const gobgp = await startGobgpd(
    kit,
    gl.ns,
    `
[global.config]
  as = 4200000004
  router-id = "${gl.v4.theirs}"
  local-address-list = ["${gl.v4.theirs}"]
[[neighbors]]
  [neighbors.config]
    neighbor-address = "${gl.v4.ours}"
    peer-as = 65001
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 6
    keepalive-interval = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`,
  );
  const exa = await startExabgp(
    kit,
    el.ns,
    `
neighbor ${el.v4.ours} {
  router-id ${el.v4.theirs};
  local-address ${el.v4.theirs};
  local-as 65001;
  peer-as 65001;
  hold-time 6;
  family { ipv4 unicast; }
  static { route 192.0.2.128/26 next-hop ${el.v4.theirs}; }
}
`,
  );

  const config = {
    routerId: "10.255.0.1",
    asn: 65001,
    listen: { address: "::", port: 179 },
    peers: [
      { address: bl.v4.theirs, asn: 4200000002, holdTime: 6 },
      { address: bl.v6.theirs, asn: 65001, holdTime: 6 },
      { address: fl.v6.theirs, asn: 65003, holdTime: 6 },
      { address: gl.v4.theirs, asn: 4200000004, holdTime: 6 },
      { address: el.v4.theirs, asn: 65001, holdTime: 6, passive: false },
    ],
    originate: ["203.0.113.0/26", "2001:db8:a::/48"],
  };
  const tortie = await startTortie(kit, ours, config);
  t.teardown(() => {
    if (!t.passing()) {
      t.comment(`tortie log tail:\n${tortie.daemon.output().slice(-6000)}`);
      t.comment(`exabgp log tail:\n${exa.daemon.output().slice(-3000)}`);
    }
  });

  await t.test("every session reaches Established, seen from both sides", async (t) => {
    for (const p of config.peers) {
      const s = await tortie.waitState(p.address, "Established", 30_000);
      t.equal(s.asn, p.asn, `${p.address} asn`);
    }
    await waitFor("bird: both sessions Established", async () => {
      const out = await bird.birdc("show protocols");
      return (
        /ebgp4\s+BGP\s+---\s+up.*Established/.test(out) && /ibgp6\s+BGP\s+---\s+up.*Established/.test(out)
      );
    });
    await waitFor("frr: Established", async () =>
      /"bgpState":\s*"Established"/.test(await frr.vtysh("show bgp neighbors json")),
    );
    await waitFor("gobgpd: Established", async () =>
      /"session_state":\s*6|"session_state":\s*"ESTABLISHED"/i.test(await gobgp.gobgp(["neighbor", "-j"])),
    );
    t.match(exa.daemon.output(), /connected to peer|established/i);
    const status = JSON.parse(await tortie.cli(["status", "--json"])) as StatusView;
    t.same(Object.keys(status), ["peers"]);
    t.same(Object.keys(status.peers[0] ?? {}).sort(), [
      "address",
      "asn",
      "prefixesAdvertised",
      "prefixesReceived",
      "state",
      "uptime",
    ]);
  });

  await t.test("routes flow in: IPv4 and IPv6 from every daemon reach our RIB", async (t) => {
    await gobgp.gobgp(["global", "rib", "add", "-a", "ipv4", "192.0.2.64/26"]);
    const want: [string, string[]][] = [
      [bl.v4.theirs, ["198.51.100.0/26", "198.51.100.64/26"]],
      [bl.v6.theirs, ["2001:db8:b::/48"]],
      [fl.v6.theirs, ["2001:db8:f::/48"]],
      [gl.v4.theirs, ["192.0.2.64/26"]],
      [el.v4.theirs, ["192.0.2.128/26"]],
    ];
    for (const [from, prefixes] of want) {
      await waitFor(`routes from ${from}`, async () => {
        const got = await receivedFrom(tortie, from);
        return prefixes.every((p) => got.includes(p));
      });
      t.pass(`${from}: ${prefixes.join(", ")}`);
    }
    const routes = JSON.parse(await tortie.cli(["routes", "--json"])) as RoutesView;
    const fromBird = routes.received.find((r) => r.prefix === "198.51.100.0/26");
    t.equal(fromBird?.from, bl.v4.theirs);
    t.match(
      fromBird?.attributes,
      { AS_PATH: "4200000002", NEXT_HOP: bl.v4.theirs },
      "4-byte AS in the AS_PATH",
    );
    const fromFrr = routes.received.find((r) => r.prefix === "2001:db8:f::/48");
    t.match(fromFrr?.attributes, { AS_PATH: "65003", NEXT_HOP: /^fd00:2::2/ }, "2-byte AS in the AS_PATH");
    t.ok(routes.best.some((r) => r.prefix === "203.0.113.0/26" && r.from === "local"));
    t.equal((await tortie.peer(bl.v4.theirs))?.prefixesReceived, 2);
  });

  await t.test("routes flow out: our prefixes in each daemon's own RIB", async (t) => {
    await waitFor(
      "bird t4 has 203.0.113.0/26 from us",
      async () =>
        /203\.0\.113\.0\/26.*\n?.*via 10\.0\.1\.1/.test(
          await bird.birdc("show route table t4 203.0.113.0/26 all"),
        ) && /BGP\.as_path: 65001/.test(await bird.birdc("show route table t4 203.0.113.0/26 all")),
    );
    await waitFor("bird t6 has 2001:db8:a::/48 over iBGP", async () =>
      /2001:db8:a::\/48/.test(await bird.birdc("show route table t6 2001:db8:a::/48")),
    );
    await waitFor("frr has 2001:db8:a::/48", async () =>
      /"2001:db8:a::\/48"/.test(await frr.vtysh("show bgp ipv6 unicast json")),
    );
    await waitFor("gobgpd has 203.0.113.0/26", async () =>
      /203\.0\.113\.0\/26/.test(await gobgp.gobgp(["global", "rib", "-a", "ipv4"])),
    );
    const p = await tortie.peer(bl.v4.theirs);
    t.equal(p?.prefixesAdvertised, 1, "only the IPv4 route goes over the IPv4 session");
    t.equal((await tortie.peer(bl.v6.theirs))?.prefixesAdvertised, 1);
  });

  await t.test("withdrawals propagate both ways", async (t) => {
    await gobgp.gobgp(["global", "rib", "del", "-a", "ipv4", "192.0.2.64/26"]);
    await waitFor(
      "gobgp's route withdrawn from our RIB",
      async () => (await receivedFrom(tortie, gl.v4.theirs)).length === 0,
    );
    tortie.reconfigure({ ...config, originate: ["2001:db8:a::/48"] });
    await waitFor("bird no longer has 203.0.113.0/26", async () =>
      /Network not found/.test(
        await bird.birdc("show route table t4 203.0.113.0/26").catch((e: Error) => e.message),
      ),
    );
    await waitFor(
      "gobgpd no longer has 203.0.113.0/26",
      async () => !/203\.0\.113\.0\/26/.test(await gobgp.gobgp(["global", "rib", "-a", "ipv4"])),
    );
    t.match(
      await bird.birdc("show route table t6 2001:db8:a::/48"),
      /2001:db8:a::\/48/,
      "the other route stays",
    );
    t.equal(
      (await tortie.peer(bl.v4.theirs))?.state,
      "Established",
      "a config change does not reset sessions",
    );
  });

  await t.test("a peer's administrative shutdown (Cease) is observed and recovered from", async (t) => {
    await bird.birdc("disable ebgp4");
    await waitFor(
      "our side to leave Established",
      async () => (await tortie.peer(bl.v4.theirs))?.state !== "Established",
    );
    await tortie.daemon.waitForOutput(/received NOTIFICATION Cease/);
    await waitFor(
      "bird's routes gone from our RIB",
      async () => (await receivedFrom(tortie, bl.v4.theirs)).length === 0,
    );
    await bird.birdc("enable ebgp4");
    await tortie.waitState(bl.v4.theirs, "Established", 20_000);
    await waitFor("bird's routes back", async () => (await receivedFrom(tortie, bl.v4.theirs)).length === 2);
    t.pass();
  });

  await t.test("hold timer expiry on a silent peer is observed and recovered from", async (t) => {
    gobgp.daemon.signal("SIGSTOP");
    try {
      await tortie.daemon.waitForOutput(/"peer":"10\.0\.3\.2".*HoldTimer_Expires/, 20_000);
      t.not((await tortie.peer(gl.v4.theirs))?.state, "Established");
    } finally {
      gobgp.daemon.signal("SIGCONT");
    }
    await tortie.waitState(gl.v4.theirs, "Established", 30_000);
    t.pass("back to Established");
  });
});
