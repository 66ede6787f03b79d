import { pino } from "pino";
import t from "tap";
import { checkConfig, type BgpConfig } from "../../../bgp/config.js";
import { Speaker } from "../../../bgp/session/speaker.js";
import { freePort } from "../../kit/daemons.js";
import { waitFor } from "../../kit/wait.js";

/**
 * The in-process API felix uses (onBestChange, graceful stop), between real
 * speakers on loopback addresses: 127.0.0.x needs no namespace and no root.
 */

interface Logged {
  readonly lines: string[];
}

function speaker(config: BgpConfig, logged?: Logged): Speaker {
  const log = pino(
    { level: "debug" },
    { write: (s: string) => void (logged ? logged.lines.push(s) : undefined) },
  );
  return new Speaker(checkConfig(config), log);
}

function node(
  addr: string,
  asn: number,
  port: number,
  peers: BgpConfig["peers"],
  extra: Partial<BgpConfig> = {},
): BgpConfig {
  return {
    routerId: addr,
    asn,
    listen: { address: addr, port },
    holdTime: 6,
    peers,
    originate: [],
    ...extra,
  };
}

const established = (s: Speaker, n: number): boolean =>
  s.status().peers.filter((p) => p.state === "Established").length === n;

t.test("onBestChange: replay, changes, withdraw; ECMP next hops with multipath", async (t) => {
  const port = await freePort();
  // Two eBGP neighbours in different ASes announce the same prefix to a multipath speaker.
  const hub = speaker(
    node(
      "127.0.0.1",
      65001,
      port,
      [
        { address: "127.0.0.2", asn: 65002, port, passive: true },
        { address: "127.0.0.3", asn: 65003, port, passive: true },
      ],
      { multipath: true },
    ),
  );
  const left = speaker(
    node("127.0.0.2", 65002, port, [{ address: "127.0.0.1", asn: 65001, port, localAddress: "127.0.0.2" }], {
      originate: ["10.9.0.0/24", "10.2.0.0/26"],
    }),
  );
  const right = speaker(
    node("127.0.0.3", 65003, port, [{ address: "127.0.0.1", asn: 65001, port, localAddress: "127.0.0.3" }], {
      originate: ["10.9.0.0/24"],
    }),
  );
  t.teardown(async () => {
    await Promise.all([hub.stop(), left.stop(), right.stop()]);
  });
  await hub.start();
  await left.start();
  await right.start();

  const seen = new Map<string, readonly string[] | undefined>();
  const events: string[] = [];
  const unsubscribe = hub.onBestChange((prefix, hops) => {
    seen.set(prefix, hops);
    events.push(`${prefix}=${hops?.join(",") ?? "-"}`);
  });
  await waitFor("both sessions Established", () => established(hub, 2));
  await waitFor("ECMP over both neighbours", () => seen.get("10.9.0.0/24")?.length === 2);
  t.same(seen.get("10.9.0.0/24"), ["127.0.0.2", "127.0.0.3"]);
  t.same(seen.get("10.2.0.0/26"), ["127.0.0.2"]);
  const best = hub.routes().best.find((r) => r.prefix === "10.9.0.0/24");
  t.ok(best?.reason && best.reason !== "only-path", `a reason is shown: ${best?.reason}`);
  t.same(best?.multipath?.length, 2);

  // A late subscriber gets the current state first.
  const replay: string[] = [];
  const off2 = hub.onBestChange((p, h) => replay.push(`${p}=${h?.join(",") ?? "-"}`));
  t.same(replay.sort(), ["10.2.0.0/26=127.0.0.2", "10.9.0.0/24=127.0.0.2,127.0.0.3"]);
  off2();

  // One neighbour goes: the ECMP set shrinks, the other prefix is withdrawn.
  await left.stop();
  await waitFor(
    "10.2.0.0/26 withdrawn",
    () => seen.has("10.2.0.0/26") && seen.get("10.2.0.0/26") === undefined,
  );
  await waitFor("ECMP set shrinks", () => seen.get("10.9.0.0/24")?.length === 1);
  t.same(seen.get("10.9.0.0/24"), ["127.0.0.3"]);
  t.notOk(
    events.some((e, i) => i > 0 && e === events[i - 1]),
    "no event repeats the one before it",
  );
  unsubscribe();
  const before = events.length;
  await right.stop();
  await waitFor("right's session down", () => !established(hub, 1) || established(hub, 0));
  t.equal(events.length, before, "nothing is delivered after unsubscribe");
});

t.test("multipath off: one next hop; own prefixes are never reported", async (t) => {
  const port = await freePort();
  const hub = speaker(
    node(
      "127.0.0.11",
      65001,
      port,
      [
        { address: "127.0.0.12", asn: 65002, port, passive: true },
        { address: "127.0.0.13", asn: 65003, port, passive: true },
      ],
      { originate: ["10.7.0.0/26"] },
    ),
  );
  const a = speaker(
    node(
      "127.0.0.12",
      65002,
      port,
      [{ address: "127.0.0.11", asn: 65001, port, localAddress: "127.0.0.12" }],
      {
        originate: ["10.9.0.0/24", "10.7.0.0/26"],
      },
    ),
  );
  const b = speaker(
    node(
      "127.0.0.13",
      65003,
      port,
      [{ address: "127.0.0.11", asn: 65001, port, localAddress: "127.0.0.13" }],
      {
        originate: ["10.9.0.0/24"],
      },
    ),
  );
  t.teardown(async () => {
    await Promise.all([hub.stop(), a.stop(), b.stop()]);
  });
  const seen = new Map<string, readonly string[] | undefined>();
  hub.onBestChange((p, h) => seen.set(p, h));
  await Promise.all([hub.start(), a.start(), b.start()]);
  await waitFor("both sessions Established", () => established(hub, 2));
  await waitFor("routes from both", () => hub.routes().received.length === 3);
  const hops = seen.get("10.9.0.0/24");
  t.equal(hops?.length, 1);
  // Equal up to the router id: the lower BGP Identifier wins.
  t.same(hops, ["127.0.0.12"]);
  t.equal(hub.routes().best.find((r) => r.prefix === "10.9.0.0/24")?.reason, "router-id");
  t.notOk(seen.has("10.7.0.0/26"), "our own prefix learned back is not a learned best");
});

t.test("stop({graceful: true}) sends no Cease and keeps the RIB", async (t) => {
  const port = await freePort();
  const hubLog: Logged = { lines: [] };
  const hub = speaker(
    node("127.0.0.21", 65001, port, [{ address: "127.0.0.22", asn: 65002, port, passive: true }]),
    hubLog,
  );
  const restarting = speaker(
    node(
      "127.0.0.22",
      65002,
      port,
      [{ address: "127.0.0.21", asn: 65001, port, localAddress: "127.0.0.22" }],
      {
        originate: ["10.3.0.0/26"],
      },
    ),
  );
  const learnedByRestarting = new Map<string, readonly string[] | undefined>();
  restarting.onBestChange((p, h) => learnedByRestarting.set(p, h));
  t.teardown(async () => {
    await hub.stop();
  });
  await hub.start();
  await restarting.start();
  await waitFor("session Established", () => established(hub, 1));
  await waitFor("route learned", () => hub.routes().received.length === 1);
  await restarting.stop({ graceful: true });
  await waitFor("the hub sees the connection go", () =>
    hubLog.lines.some((l) => l.includes("connection closed")),
  );
  t.notOk(
    hubLog.lines.some((l) => l.includes("received NOTIFICATION")),
    "no NOTIFICATION reached the peer",
  );
  t.equal(restarting.routes().best.length, 1, "the stopped speaker's RIB is as it was");
});
