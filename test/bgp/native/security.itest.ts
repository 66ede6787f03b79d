import { fileURLToPath } from "node:url";
import t from "tap";
import { startBird } from "../../kit/daemons.js";
import { Kit } from "../../kit/kit.js";
import { socketSecurityAvailable } from "../../../bgp/native/index.js";

const peer = fileURLToPath(new URL("./peer.js", import.meta.url));

t.ok(socketSecurityAvailable(), "the native addon is built");

t.test("TCP-MD5 and GTSM between two namespaces, and TCP-MD5 against bird2", async (t) => {
  const kit = Kit.create(t);
  const a = await kit.netns("md5a");
  const b = await kit.netns("md5b");
  await kit.veth(a, "eth0", b, "eth0");
  await a.addr("eth0", "192.0.2.1/30");
  await b.addr("eth0", "192.0.2.2/30");
  await a.addr("eth0", "2001:db8::1/64");
  await b.addr("eth0", "2001:db8::2/64");

  const connect = async (to: string, port: number, key: string, ttl: number) => {
    const c = kit.spawn(b, process.execPath, [peer, "connect", to, String(port), key, String(ttl)], {
      name: "client",
    });
    const m = await c.waitForOutput(/(CONNECTED|FAILED \S+)/);
    if (m[1] === "CONNECTED") await c.waitForOutput(/READ [0-9a-f]+/);
    await c.waitForExit();
    return m[1] ?? "";
  };
  const listen = async (addr: string, port: number, from: string, key: string, minTtl: number) => {
    const s = kit.spawn(
      a,
      process.execPath,
      [peer, "listen", addr, String(port), from, key, String(minTtl)],
      {
        name: "server",
      },
    );
    await s.waitForOutput(/LISTENING/);
    return s;
  };

  const md5 = await listen("0.0.0.0", 1790, "192.0.2.2", "s3cret", 0);
  t.equal(await connect("192.0.2.1", 1790, "s3cret", 0), "CONNECTED", "the same key connects");
  t.equal(await connect("192.0.2.1", 1790, "", 0), "FAILED ETIMEDOUT", "no key: the SYN is dropped");
  t.equal(await connect("192.0.2.1", 1790, "wrong", 0), "FAILED ETIMEDOUT", "a wrong key is dropped");
  t.equal((md5.output().match(/ACCEPTED/g) ?? []).length, 1, "only the signed connection was accepted");

  const md5v6 = await listen("::", 1791, "2001:db8::2", "v6key", 0);
  t.equal(await connect("2001:db8::1", 1791, "v6key", 0), "CONNECTED", "IPv6 with a key");
  t.equal(await connect("2001:db8::1", 1791, "", 0), "FAILED ETIMEDOUT", "IPv6 without a key");
  t.match(md5v6.output(), /ACCEPTED 2001:db8::2/);

  await listen("0.0.0.0", 1792, "", "", 255);
  t.equal(await connect("192.0.2.1", 1792, "", 255), "CONNECTED", "GTSM: TTL 255 one hop away passes");
  t.equal(await connect("192.0.2.1", 1792, "", 254), "FAILED ETIMEDOUT", "GTSM: TTL 254 is dropped");

  // bird2 with a password: its listener only completes handshakes signed with the key, then sends OPEN.
  await startBird(
    kit,
    a,
    [
      "router id 192.0.2.1;",
      "protocol device {}",
      "protocol bgp tortie {",
      "  local 192.0.2.1 as 65001;",
      "  neighbor 192.0.2.2 as 65002;",
      '  password "bird-key";',
      "  passive on;",
      "  ipv4 { import all; export none; };",
      "}",
      "",
    ].join("\n"),
  );
  t.equal(await connect("192.0.2.1", 179, "", 0), "FAILED ETIMEDOUT", "bird2 drops an unsigned SYN");
  const c = kit.spawn(b, process.execPath, [peer, "connect", "192.0.2.1", "179", "bird-key", "0"], {
    name: "bgp",
  });
  const read = await c.waitForOutput(/READ ([0-9a-f]+)/);
  t.match(
    read[1] ?? "",
    /^f{32}/,
    "bird2 accepts the signed connection and sends a BGP message (16 x 0xff marker)",
  );
});
