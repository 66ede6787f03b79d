import { fileURLToPath } from "node:url";
import t from "tap";
import { Kit } from "../kit/kit.js";
import { startTortie } from "./harness.js";

const PEER = fileURLToPath(new URL("./collision-peer.js", import.meta.url));

/**
 * §6.8 made deterministic: a scripted peer holds both connections open at once.
 * Our BGP identifier is 10.1.0.1: against 10.9.9.9 the peer's connection must
 * win (we dump ours with Cease/7), against 1.1.1.1 ours must (we close theirs).
 */
t.test("connection collision", async (t) => {
  const kit = Kit.create(t);
  const ours = await kit.netns("ours");
  const theirs = await kit.netns("theirs");
  await kit.veth(ours, "eth0", theirs, "eth0");
  await ours.addr("eth0", "10.1.0.1/24");
  await theirs.addr("eth0", "10.1.0.2/24");
  await theirs.addr("eth0", "10.1.0.3/24");
  const higher = kit.spawn(theirs, process.execPath, [PEER, "10.1.0.2", "10.1.0.1", "10.9.9.9", "65002"], {
    name: "peer-higher",
  });
  const lower = kit.spawn(theirs, process.execPath, [PEER, "10.1.0.3", "10.1.0.1", "1.1.1.1", "65003"], {
    name: "peer-lower",
  });
  await higher.waitForOutput(/listening/);
  await lower.waitForOutput(/listening/);
  const speaker = await startTortie(kit, ours, {
    routerId: "10.1.0.1",
    asn: 65001,
    listen: { address: "10.1.0.1", port: 179 },
    peers: [
      { address: "10.1.0.2", asn: 65002, holdTime: 30 },
      { address: "10.1.0.3", asn: 65003, holdTime: 30 },
    ],
    originate: [],
  });

  await t.test("the peer with the higher identifier keeps the connection it opened", async (t) => {
    await higher.waitForOutput(/A NOTIFICATION 6\/7/, 20_000);
    await higher.waitForOutput(/B KEEPALIVE/, 20_000);
    await speaker.waitState("10.1.0.2", "Established");
    t.notMatch(higher.output(), /B NOTIFICATION/, "the surviving connection got no NOTIFICATION");
  });

  await t.test("against a lower identifier our own connection survives", async (t) => {
    await lower.waitForOutput(/B NOTIFICATION 6\/7/, 20_000);
    await lower.waitForOutput(/A KEEPALIVE/, 20_000);
    await speaker.waitState("10.1.0.3", "Established");
    t.notMatch(lower.output(), /A NOTIFICATION/, "the surviving connection got no NOTIFICATION");
  });
});
