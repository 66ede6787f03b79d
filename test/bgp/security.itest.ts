import t from "tap";
import type { BgpConfig } from "../../bgp/config.js";
import { startBird } from "../kit/daemons.js";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { makeHub, receivedFrom, startTortie } from "./harness.js";

/** RFC 2385 passwords and RFC 5082 GTSM on real sessions with bird2. */
t.test("TCP-MD5 and GTSM against bird2", async (t) => {
  const kit = Kit.create(t);
  const { ours, links } = await makeHub(kit, ["bird"]);
  const [bl] = links;
  if (!bl) throw new Error("hub");
  await startBird(
    kit,
    bl.ns,
    `
router id ${bl.v4.theirs};
protocol device {}
protocol static { ipv4; route 198.51.100.0/26 blackhole; }
protocol bgp tortie {
  local ${bl.v4.theirs} as 65002; neighbor ${bl.v4.ours} as 65001;
  password "s3cret-key";
  ttl security on;
  hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 2;
  ipv4 { import all; export all; };
}
`,
  );
  const config = (password: string): BgpConfig => ({
    routerId: bl.v4.ours,
    asn: 65001,
    listen: { address: "0.0.0.0", port: 179 },
    peers: [
      { address: bl.v4.theirs, asn: 65002, password, ttlSecurity: 1, connectRetryTime: 1, holdTime: 3 },
    ],
    originate: ["203.0.113.0/26"],
  });
  const tortie = await startTortie(kit, ours, config("s3cret-key"));
  await tortie.waitState(bl.v4.theirs, "Established", 20_000);
  await waitFor("bird's route over the signed session", async () =>
    (await receivedFrom(tortie, bl.v4.theirs)).includes("198.51.100.0/26"),
  );
  t.pass("the right password reaches Established and carries routes");

  // A dial either fails (its own timeout) or is abandoned when the ConnectRetry timer fires first:
  // both are attempts that got no connection.
  const failures = (): number =>
    (tortie.daemon.output().match(/secure connect failed|connect attempt abandoned/g) ?? []).length;
  const before = failures();
  const started = Date.now();
  tortie.reconfigure(config("wrong-key"));
  await tortie.daemon.waitForOutput(/sending NOTIFICATION Cease/);
  // Two failed dials with the new key (each waits for a SYN-ACK bird never sends), and no
  // session in between: the peer's state is sampled on every poll.
  const states = new Set<string>();
  await waitFor(
    "two connection attempts with the wrong key to fail",
    async () => {
      states.add((await tortie.peer(bl.v4.theirs))?.state ?? "?");
      return failures() >= before + 2;
    },
    { timeoutMs: 20_000 },
  );
  t.notOk(
    states.has("Established"),
    `a wrong password never reaches Established (seen: ${[...states].join(", ")})`,
  );
  t.notOk(states.has("OpenSent"), "not even a TCP connection");
  t.comment(`watched for ${Date.now() - started} ms`);
});
