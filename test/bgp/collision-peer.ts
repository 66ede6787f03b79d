/**
 * A scripted BGP peer for the §6.8 collision test, run inside the peer's
 * namespace: it accepts the speaker's connection (A), reads its OPEN, then
 * opens its own connection (B) and sends its OPEN there, so both connections
 * are open at once. It prints what the speaker did with each, and completes the
 * handshake on whichever connection survives.
 *
 *   node collision-peer.js LOCAL_ADDRESS SPEAKER_ADDRESS BGP_ID ASN
 */
import { createServer, connect, type Socket } from "node:net";
import {
  Framer,
  MessageType,
  buildOpen,
  decodeNotification,
  encodeKeepalive,
  encodeOpen,
} from "../../bgp/wire/index.js";

const [local = "", speaker = "", bgpId = "", asn = "0"] = process.argv.slice(2);
const open = encodeOpen(buildOpen({ asn: Number(asn), holdTime: 30, bgpId }));
const say = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

function handle(sock: Socket, name: string, onOpen: () => void): void {
  const framer = new Framer();
  sock.on("data", (chunk: Buffer) => {
    for (const f of framer.push(chunk)) {
      if (f.type === MessageType.OPEN) onOpen();
      else if (f.type === MessageType.KEEPALIVE) say(`${name} KEEPALIVE`);
      else if (f.type === MessageType.NOTIFICATION) {
        const n = decodeNotification(f.body);
        say(`${name} NOTIFICATION ${n.code}/${n.subcode}`);
      }
    }
  });
  sock.on("error", () => undefined);
  sock.on("close", () => say(`${name} closed`));
}

const server = createServer((a) => {
  say("A accepted");
  let aOpened = false;
  handle(a, "A", () => {
    if (aOpened) return;
    aOpened = true;
    say("A OPEN");
    const b = connect({ host: speaker, port: 179, localAddress: local }, () => {
      say("B connected");
      b.write(open);
    });
    handle(b, "B", () => {
      say("B OPEN");
      b.write(encodeKeepalive());
    });
    b.on("close", () => {
      // The speaker kept A: finish the handshake there.
      a.write(open);
      a.write(encodeKeepalive());
    });
  });
});
server.listen(179, local, () => say("listening"));
