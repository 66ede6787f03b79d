import t from "tap";
import { Kit } from "../kit/kit.js";
import { waitFor } from "../kit/wait.js";
import { receivedFrom, startTortie } from "./harness.js";

/**
 * Two of our own speakers, both active, so their connections collide (§6.8)
 * every time; hold time 0 on one side negotiates a session without keepalives.
 */
t.test("tortie to tortie", async (t) => {
  const kit = Kit.create(t);
  const a = await kit.netns("a");
  const b = await kit.netns("b");
  await kit.veth(a, "eth0", b, "eth0");
  await a.addr("eth0", "10.1.0.1/24");
  await b.addr("eth0", "10.1.0.2/24");
  const base = { listen: { address: "0.0.0.0", port: 179 } };
  const sa = await startTortie(
    kit,
    a,
    {
      ...base,
      routerId: "10.1.0.1",
      asn: 65001,
      peers: [{ address: "10.1.0.2", asn: 65002, holdTime: 0, connectRetryTime: 1 }],
      originate: ["10.10.1.0/24"],
    },
    "speaker-a",
  );
  const sb = await startTortie(
    kit,
    b,
    {
      ...base,
      routerId: "10.1.0.2",
      asn: 65002,
      peers: [{ address: "10.1.0.1", asn: 65001, holdTime: 30, connectRetryTime: 1 }],
      originate: ["10.10.2.0/24"],
    },
    "speaker-b",
  );

  await t.test("both reach Established with hold time 0 negotiated", async (t) => {
    await sa.waitState("10.1.0.2", "Established", 30_000);
    await sb.waitState("10.1.0.1", "Established", 30_000);
    await sb.daemon.waitForOutput(/"holdTime":0,"msg":"OPEN received"/);
    t.notMatch(sa.daemon.output(), /KeepaliveTimer_Expires/, "no keepalives with hold time 0");
  });

  await t.test("routes are exchanged", async (t) => {
    await waitFor("a has b's route", async () =>
      (await receivedFrom(sa, "10.1.0.2")).includes("10.10.2.0/24"),
    );
    await waitFor("b has a's route", async () =>
      (await receivedFrom(sb, "10.1.0.1")).includes("10.10.1.0/24"),
    );
    const routes = await sb.routes();
    t.match(routes.received[0]?.attributes, { AS_PATH: "65001", NEXT_HOP: "10.1.0.1", ORIGIN: /IGP/i });
  });

  await t.test("a stopped speaker sends Cease and the other side notices", async (t) => {
    await sa.daemon.stop();
    await sb.daemon.waitForOutput(/received NOTIFICATION Cease/);
    await waitFor("b leaves Established", async () => (await sb.peer("10.1.0.1"))?.state !== "Established");
    t.same(await receivedFrom(sb, "10.1.0.1"), [], "routes of the stopped peer are gone");
  });
});
