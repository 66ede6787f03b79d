/**
 * A minimal BGP peer for bird2-interop.itest.ts, run inside the test's namespace: it accepts one
 * connection, answers the peer's OPEN with ours and a KEEPALIVE, decodes everything it is sent
 * with bgp/wire, and once End-of-RIB has arrived for IPv4 and IPv6 prints one `RESULT {json}`
 * line. It stays connected (answering keepalives) until killed, so the peer's state can be read.
 * Usage: node capture-peer.js ADDRESS PORT ASN
 */
import { createServer } from "node:net";
import {
  afiSafiName,
  AttributeCache,
  buildOpen,
  decodeMessage,
  defaultContext,
  encodeKeepalive,
  encodeOpen,
  endOfRib,
  formatAttributes,
  Framer,
  negotiate,
  routeChanges,
  validateOpen,
  type WireContext,
} from "../../../bgp/wire/index.js";

const [address = "127.0.0.1", port = "1790", asn = "65002"] = process.argv.slice(2);
const ours = buildOpen({
  asn: Number(asn),
  holdTime: 90,
  bgpId: address,
  capabilities: [
    { kind: "multiprotocol", afi: 1, safi: 1 },
    { kind: "multiprotocol", afi: 2, safi: 1 },
    { kind: "route-refresh" },
    { kind: "extended-message" },
    { kind: "graceful-restart", restartState: false, notification: false, restartTime: 120, families: [] },
    { kind: "add-path", families: [{ afi: 1, safi: 1, sendReceive: 1 }] },
  ],
});

const result = {
  openHex: "",
  peerOpen: undefined as unknown,
  context: {} as Record<string, unknown>,
  updates: 0,
  announced: {} as Record<string, number>,
  withdrawn: {} as Record<string, number>,
  pathIds: 0,
  errors: [] as unknown[],
  endOfRib: [] as string[],
  attributes: [] as Record<string, string>[],
  nextHops: [] as string[],
};

const server = createServer((sock) => {
  const framer = new Framer();
  const cache = new AttributeCache();
  let ctx: WireContext = defaultContext;
  let reported = false;
  sock.on("data", (chunk: Buffer) => {
    try {
      for (const frame of framer.push(chunk)) {
        const m = decodeMessage(frame, ctx, cache);
        switch (m.kind) {
          case "open": {
            result.openHex = frame.body.toString("hex");
            validateOpen(m, { peerAs: undefined });
            result.peerOpen = m;
            const n = negotiate(ours, m);
            ctx = n.context;
            framer.setExtendedMessage(ctx.extendedMessage);
            result.context = {
              asn4: ctx.asn4,
              extendedMessage: ctx.extendedMessage,
              addPathReceive: [...ctx.addPathReceive],
              peerAs: n.peerAs,
              holdTime: n.holdTime,
              gracefulRestart: n.gracefulRestart !== undefined,
            };
            sock.write(Buffer.concat([encodeOpen(ours), encodeKeepalive()]));
            break;
          }
          case "keepalive":
            sock.write(encodeKeepalive());
            break;
          case "update": {
            result.updates++;
            result.errors.push(...m.errors.map((e) => e.toJSON()));
            const eor = endOfRib(m);
            if (eor) result.endOfRib.push(afiSafiName(eor.afi, eor.safi));
            const ch = routeChanges(m);
            for (const a of ch.announce) {
              const k = afiSafiName(a.afi, a.safi);
              result.announced[k] = (result.announced[k] ?? 0) + a.prefixes.count;
              if (a.prefixes.pathIds) result.pathIds += a.prefixes.count;
              if (result.attributes.length < 2) result.attributes.push(formatAttributes(a.attributes));
              for (const h of a.nextHop) if (!result.nextHops.includes(h)) result.nextHops.push(h);
            }
            for (const w of ch.withdraw) {
              const k = afiSafiName(w.afi, w.safi);
              result.withdrawn[k] = (result.withdrawn[k] ?? 0) + w.prefixes.count;
            }
            if (
              !reported &&
              result.endOfRib.includes("ipv4-unicast") &&
              result.endOfRib.includes("ipv6-unicast")
            ) {
              reported = true;
              console.log(`RESULT ${JSON.stringify(result)}`);
            }
            break;
          }
          case "notification":
          case "route-refresh":
            console.log(`GOT ${JSON.stringify(m)}`);
            break;
        }
      }
    } catch (e) {
      console.log(`ERROR ${e instanceof Error ? e.message : String(e)}`);
      sock.destroy();
    }
  });
});
server.listen(Number(port), address, () => console.log(`LISTENING ${address}:${port}`));
