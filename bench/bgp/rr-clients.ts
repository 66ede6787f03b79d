/**
 * bench/bgp/rr-clients: the client side of the reflector fan-out benchmark.
 * One process hosting C of our `Speaker`s, client i on 127.0.1.(i+1)... (its
 * own router id, listen and source address), each originating P /26s and
 * peering over iBGP with the reflector at 127.0.0.1:179. Run inside the
 * benchmark's namespace by bench/bgp/rr.ts, which reads its stdout:
 *
 *   {"event":"started"}                       every speaker started (t = 0)
 *   {"event":"established","ms":...}          every session Established
 *   {"event":"converged","ms":...,"cpuS":...} every client holds C*P routes
 *
 * One process of ours instead of C separate daemons: 200 bird2 or gobgpd
 * processes would cost more than the reflector under test on a 2-core machine.
 */
import { checkConfig } from "../../bgp/config.js";
import { Speaker } from "../../bgp/session/speaker.js";
import { createLogger } from "../../core/log.js";
import { arg } from "./common.js";
import { clientAddress, clientPrefixes } from "./rr-common.js";

const CLIENTS = Number(arg("clients", "200"));
const PREFIXES = Number(arg("prefixes", "10"));
const REFLECTOR = arg("reflector", "127.0.0.1");
/** Clients listen off port 179 so their sockets never collide with a reflector bound to 0.0.0.0:179. */
const LISTEN_PORT = Number(arg("listen-port", "1179"));
const ASN = 65000;

const emit = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

const logger = createLogger("warn", false);
const speakers: Speaker[] = [];
for (let i = 0; i < CLIENTS; i++) {
  const address = clientAddress(i);
  speakers.push(
    new Speaker(
      checkConfig({
        routerId: address,
        asn: ASN,
        listen: { address, port: LISTEN_PORT },
        originate: clientPrefixes(i, PREFIXES),
        peers: [{ address: REFLECTOR, asn: ASN, localAddress: address, holdTime: 240, connectRetryTime: 1 }],
      }),
      logger.child({ client: address }),
    ),
  );
}

const stopAll = async (): Promise<void> => {
  await Promise.all(speakers.map((s) => s.stop()));
  process.exit(0);
};
process.on("SIGTERM", () => void stopAll());
process.on("SIGINT", () => void stopAll());

const cpu0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(speakers.map((s) => s.start()));
emit({ event: "started" });

// Each client holds its own P routes plus everyone else's, received from the reflector.
const want = (CLIENTS - 1) * PREFIXES;
let established = false;
const timer = setInterval(() => {
  let up = 0;
  let full = 0;
  for (const s of speakers) {
    const p = s.status().peers[0];
    if (p?.state === "Established") up++;
    if ((p?.prefixesReceived ?? 0) >= want) full++;
  }
  if (!established && up === CLIENTS) {
    established = true;
    emit({ event: "established", ms: performance.now() - t0 });
  }
  if (full === CLIENTS) {
    const c = process.cpuUsage(cpu0);
    emit({ event: "converged", ms: performance.now() - t0, cpuS: (c.user + c.system) / 1e6 });
    clearInterval(timer);
  }
}, 10);
