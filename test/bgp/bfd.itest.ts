import t from "tap";
import type { BgpConfig } from "../../bgp/config.js";
import { encodeControl, BfdDiag, BfdState } from "../../bgp/bfd/packet.js";
import { startBird } from "../kit/daemons.js";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { makeHub, receivedFrom, startTortie } from "./harness.js";

/**
 * RFC 5880/5881 BFD with bird2: a dead path takes the BGP session down in well under a second,
 * long before its 90 s hold time; the session comes back with the path; a control packet that
 * did not arrive with TTL 255 is ignored (RFC 5881 §5), one that did is obeyed.
 */
t.test("BFD against bird2", async (t) => {
  const kit = Kit.create(t);
  const { ours, links } = await makeHub(kit, ["bird"]);
  const [bl] = links;
  if (!bl) throw new Error("hub");
  const bird = await startBird(
    kit,
    bl.ns,
    `
router id ${bl.v4.theirs};
protocol device {}
protocol static { ipv4; route 198.51.100.0/26 blackhole; }
protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }
protocol bgp tortie {
  local ${bl.v4.theirs} as 65002; neighbor ${bl.v4.ours} as 65001;
  bfd on;
  hold time 90; connect retry time 1; error wait time 1, 2;
  ipv4 { import all; export all; };
}
`,
  );
  const config: BgpConfig = {
    routerId: bl.v4.ours,
    asn: 65001,
    listen: { address: "0.0.0.0", port: 179 },
    peers: [
      {
        address: bl.v4.theirs,
        asn: 65002,
        holdTime: 90,
        connectRetryTime: 1,
        bfd: { minTx: 100, minRx: 100, multiplier: 3 },
      },
    ],
    originate: ["203.0.113.0/26"],
  };
  const tortie = await startTortie(kit, ours, config);
  await tortie.waitState(bl.v4.theirs, "Established", 20_000);
  const up = await waitFor("our BFD session to be Up", async () => {
    const p = await tortie.peer(bl.v4.theirs);
    return p?.bfd?.state === "Up" ? p.bfd : undefined;
  });
  t.equal(up.txIntervalMs, 100, "negotiated: we send every 100 ms");
  t.equal(up.detectionTimeMs, 300, "bird's multiplier 3 x 100 ms");
  await waitFor("bird to see the BFD session Up", async () =>
    /\b10\.0\.1\.1\s+eth0\s+Up\b/.test(await bird.birdc("show bfd sessions")),
  );
  await waitFor("bird's route", async () =>
    (await receivedFrom(tortie, bl.v4.theirs)).includes("198.51.100.0/26"),
  );
  t.match(await tortie.cli(["status"]), /Established.*\bUp\b/, "`tortie bgp status` shows BFD");

  // The path dies: bird's namespace drops everything, links stay up (no carrier loss to notice).
  await bl.ns.exec("nft", [
    "add table inet tortie-test-cut; add chain inet tortie-test-cut in { type filter hook input priority -10; policy drop; }; add chain inet tortie-test-cut out { type filter hook output priority -10; policy drop; }",
  ]);
  const cut = Date.now();
  await waitFor(
    "the session to go down by BFD, not by the 90 s hold timer",
    async () => ((await tortie.peer(bl.v4.theirs))?.state !== "Established" ? true : undefined),
    { timeoutMs: 5_000, intervalMs: 20 },
  );
  const downMs = Date.now() - cut;
  t.ok(downMs < 5_000, `session down ${downMs} ms after the path died (hold time 90 s)`);
  t.same(await receivedFrom(tortie, bl.v4.theirs), [], "bird's routes are withdrawn, not kept as stale");
  const down = await tortie.peer(bl.v4.theirs);
  t.equal(down?.bfd?.diag, "ControlDetectionTimeExpired");
  t.match(tortie.daemon.output(), /forwarding path down: closing the session/);

  await bl.ns.exec("nft", ["delete table inet tortie-test-cut"]);
  await tortie.waitState(bl.v4.theirs, "Established", 30_000);
  const again = await waitFor("BFD Up again", async () => {
    const p = await tortie.peer(bl.v4.theirs);
    return p?.bfd?.state === "Up" ? p.bfd : undefined;
  });
  t.pass("the session and BFD come back with the path");

  // A forged AdminDown from bird's address: ignored at TTL 64, obeyed at TTL 255 (RFC 5881 §5).
  const view = again;
  const forged = encodeControl({
    diag: BfdDiag.AdministrativelyDown,
    state: BfdState.AdminDown,
    poll: false,
    final: false,
    controlPlaneIndependent: false,
    authPresent: false,
    demand: false,
    multipoint: false,
    detectMult: 3,
    myDiscriminator: view.remoteDiscriminator ?? 0,
    yourDiscriminator: view.localDiscriminator ?? 0,
    desiredMinTxInterval: 100_000,
    requiredMinRxInterval: 100_000,
    requiredMinEchoRxInterval: 0,
  }).toString("hex");
  const send = (ttl: number): Promise<string> =>
    bl.ns.exec(process.execPath, [
      "-e",
      `const s = require("node:dgram").createSocket("udp4");
       s.bind(0, "${bl.v4.theirs}", () => { s.setTTL(${ttl});
         s.send(Buffer.from("${forged}", "hex"), 3784, "${bl.v4.ours}", () => s.close()); });`,
    ]);
  const received = async (): Promise<number> => (await tortie.peer(bl.v4.theirs))?.bfd?.received ?? 0;
  await send(64);
  // One socket, in order: once three more of bird's packets were taken, ours had its turn.
  const after = (await received()) + 3;
  await waitFor("three more packets from bird", async () => (await received()) >= after);
  t.equal(
    (await tortie.peer(bl.v4.theirs))?.bfd?.state,
    "Up",
    "a packet that came with TTL 64 never reaches BFD",
  );
  await send(255);
  await tortie.daemon.waitForOutput(/BFD Up -> Down/, 5_000);
  t.pass("the same packet with TTL 255 is obeyed: Up -> Down");
});
