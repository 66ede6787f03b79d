/**
 * One end of a TCP-MD5/GTSM test, run inside a namespace by security.itest.ts.
 *   node peer.js listen ADDR PORT PEER KEY MINTTL   — prints LISTENING, then ACCEPTED <addr> per connection
 *   node peer.js connect PEER PORT KEY TTL          — prints CONNECTED or FAILED <code>, and the first bytes it reads
 */
import { createServer } from "node:net";
import { connectSecure, setMd5Key, setTtlSecurity } from "../../../bgp/native/index.js";

const [mode, a1 = "", a2 = "", a3 = "", a4 = "", a5 = ""] = process.argv.slice(2);

if (mode === "listen") {
  const server = createServer((sock) => {
    process.stdout.write(`ACCEPTED ${sock.remoteAddress ?? "?"}\n`);
    sock.end("hello");
  });
  server.listen(Number(a2), a1, () => {
    if (a4 !== "") setMd5Key(server, a3, a4);
    if (Number(a5) > 0) setTtlSecurity(server, 255, Number(a5));
    process.stdout.write("LISTENING\n");
  });
} else if (mode === "connect") {
  try {
    const sock = await connectSecure({
      peer: a1,
      port: Number(a2),
      ...(a3 !== "" ? { md5Key: a3 } : {}),
      ttl: Number(a4),
      timeoutMs: 1000,
    });
    process.stdout.write("CONNECTED\n");
    sock.once("data", (d: Buffer) => {
      process.stdout.write(`READ ${d.toString("hex")}\n`);
      sock.destroy();
    });
    sock.on("error", () => undefined);
  } catch (err) {
    process.stdout.write(`FAILED ${(err as { code?: string }).code ?? String(err)}\n`);
  }
}
