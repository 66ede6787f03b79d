/**
 * One process per pod namespace, started by the lab (and the policy tests' lab): it serves TCP and
 * UDP on the given ports (each reply names the port and the source address the
 * server saw, so a test can prove no NAT happened), and it probes other pods on
 * request. Requests arrive on a Unix socket: path sockets live in the file
 * system, so a process in the root namespace (`tortie lab matrix`, a test) reaches
 * an agent inside a pod namespace without any route.
 *
 * Usage: pod-agent.js CONTROL_SOCKET PORT...
 */
import { createSocket } from "node:dgram";
import { unlinkSync } from "node:fs";
import { connect, createServer, isIPv6 } from "node:net";
import type { ProbeReply, ProbeRequest, ProbeResult, ProbeTarget } from "./protocol.js";

const [socketPath, ...portArgs] = process.argv.slice(2);
if (socketPath === undefined || portArgs.length === 0) {
  process.stderr.write("usage: pod-agent.js CONTROL_SOCKET PORT...\n");
  process.exit(2);
}
const ports = portArgs.map(Number);

/**
 * TCP and UDP on one port, IPv4 and IPv6 each on its own socket (an IPv6 socket that took IPv4 too
 * would report v4-mapped source addresses).
 */
function serve(port: number): Promise<void> {
  const listening: Array<Promise<void>> = [];
  for (const host of ["0.0.0.0", "::"] as const) {
    const tcp = createServer((s) => {
      s.on("error", () => undefined);
      s.end(`${port} ${s.remoteAddress ?? "?"}\n`);
    });
    const udp = createSocket({ type: host === "::" ? "udp6" : "udp4", ipv6Only: host === "::" });
    udp.on("message", (_msg, rinfo) => {
      udp.send(`${port} ${rinfo.address}\n`, rinfo.port, rinfo.address);
    });
    // IPv6 is served where the namespace has it; a namespace without it still serves IPv4.
    const failed = (reject: (e: Error) => void, resolve: () => void) => (e: NodeJS.ErrnoException) =>
      host === "::" && (e.code === "EAFNOSUPPORT" || e.code === "EADDRNOTAVAIL") ? resolve() : reject(e);
    listening.push(
      new Promise<void>((resolve, reject) => {
        tcp.once("error", failed(reject, resolve));
        tcp.listen({ port, host, ipv6Only: host === "::" }, () => resolve());
      }),
      new Promise<void>((resolve, reject) => {
        udp.once("error", failed(reject, resolve));
        udp.bind(port, host, () => resolve());
      }),
    );
  }
  return Promise.all(listening).then(() => undefined);
}

/** "PORT ADDRESS" from a server reply; anything else means the reply did not come from our server. */
function parseReply(text: string, target: ProbeTarget): ProbeResult {
  const [port, saw] = text.trim().split(" ");
  if (Number(port) !== target.port || saw === undefined) return { ok: false, error: `odd reply ${text}` };
  return { ok: true, saw };
}

function probeTcp(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let data = "";
    const s = connect({ host: target.ip, port: target.port, noDelay: true });
    const done = (r: ProbeResult): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, error: "timeout" }), timeoutMs);
    s.on("data", (b: Buffer) => (data += b.toString()));
    s.on("end", () => done(parseReply(data, target)));
    s.on("error", (e: NodeJS.ErrnoException) => done({ ok: false, error: e.code ?? e.message }));
  });
}

/**
 * Every UDP probe leaves from a port this agent has not used yet: a reused 4-tuple would match a
 * conntrack entry of an earlier, allowed probe and pass as "established" after a policy changed.
 */
let nextUdpPort = 20_000;
function udpSourcePort(): number {
  const p = nextUdpPort;
  nextUdpPort = nextUdpPort >= 60_000 ? 20_000 : nextUdpPort + 1;
  return p;
}

function probeUdp(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const v6 = isIPv6(target.ip);
    const s = createSocket({ type: v6 ? "udp6" : "udp4", ipv6Only: v6 });
    const done = (r: ProbeResult): void => {
      clearTimeout(timer);
      s.close();
      resolve(r);
    };
    const timer = setTimeout(() => done({ ok: false, error: "timeout" }), timeoutMs);
    s.on("message", (msg) => done(parseReply(msg.toString(), target)));
    s.on("error", (e: NodeJS.ErrnoException) => done({ ok: false, error: e.code ?? e.message }));
    s.bind(udpSourcePort(), () => s.send("probe\n", target.port, target.ip));
  });
}

function probe(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  return target.protocol === "TCP" ? probeTcp(target, timeoutMs) : probeUdp(target, timeoutMs);
}

async function handle(req: ProbeRequest): Promise<ProbeReply> {
  const results = await Promise.all(req.targets.map((t) => probe(t, req.timeoutMs)));
  return { id: req.id, results };
}

await Promise.all(ports.map(serve));
try {
  unlinkSync(socketPath);
} catch {
  /* not there yet */
}
const control = createServer((conn) => {
  let buf = "";
  conn.on("error", () => undefined);
  conn.on("data", (b: Buffer) => {
    buf += b.toString();
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      void handle(JSON.parse(line) as ProbeRequest).then((reply) => conn.write(`${JSON.stringify(reply)}\n`));
    }
  });
});
control.listen(socketPath, () => process.stdout.write(`READY ${ports.join(",")}\n`));
for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => process.exit(0));
