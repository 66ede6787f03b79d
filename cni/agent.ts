import { chmodSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import type { IpamDatastore } from "../ipam/store.js";
import { openIpamDatastore } from "../ipam/open.js";
import { AGENT_PROTOCOLS, type AgentAnswer, type AgentCall } from "./agent-protocol.js";
import { runPlugin } from "./plugin.js";

/**
 * The resident side of the CNI plugin. A CNI invocation is a fresh process
 * per pod; loading the datastore's modules (schemas, YAML, logging) and
 * catching up with the store costs it more than the work itself. The
 * executable therefore hands its env and stdin to this server over a unix
 * socket when one is listening (cni/main.ts), and does the work itself
 * otherwise. The server runs the very same `runPlugin`, with datastores kept
 * open between calls, in the namespace it was started in: a caller from
 * another network namespace is told so and does the work itself.
 */

/** This process's network namespace, as the kernel names it (device and inode of /proc/self/ns/net). */
export function netnsId(): string {
  const st = statSync("/proc/self/ns/net");
  return `${st.dev}:${st.ino}`;
}

export interface CniServer {
  readonly socket: string;
  close(): Promise<void>;
}

/** One served (or refused) invocation, for the server's log. */
export interface CallRecord {
  readonly command: string;
  readonly kind: string;
  readonly code?: number;
  readonly refused?: string;
  readonly ms: number;
}

type Serve = { open: (url: string) => Promise<IpamDatastore>; onCall?: (r: CallRecord) => void };

async function answer(call: AgentCall, s: Serve): Promise<AgentAnswer> {
  const t0 = performance.now();
  const command = call.env?.["CNI_COMMAND"] ?? "?";
  const done = (a: AgentAnswer): AgentAnswer => {
    s.onCall?.({
      command,
      kind: call.kind,
      ...(a.refused !== undefined ? { refused: a.refused } : { code: a.code }),
      ms: performance.now() - t0,
    });
    return a;
  };
  const v = AGENT_PROTOCOLS.includes(call.v) ? call.v : Math.max(...AGENT_PROTOCOLS);
  if (v !== call.v) return done({ v, refused: `protocol ${String(call.v)}` });
  if (call.netns !== netnsId()) return done({ v, refused: "the caller runs in another network namespace" });
  const env: NodeJS.ProcessEnv = { ...call.env };
  const { code, out } = await runPlugin(call.kind, env, call.stdin, { open: s.open, keepOpen: true });
  return done({ v, code, out });
}

/** The answer's bytes in the caller's protocol (agent-protocol.ts). */
function encode(a: AgentAnswer): string {
  if (a.v !== 2 || a.refused !== undefined) return `${JSON.stringify(a)}\n`;
  return `${JSON.stringify({ v: a.v, code: a.code })}\n${a.out ? `${a.out}\n` : ""}`;
}

function serveConnection(conn: Socket, s: Serve): void {
  let buf = "";
  conn.setEncoding("utf8");
  conn.on("data", (chunk: string) => {
    buf += chunk;
    const nl = buf.indexOf("\n");
    if (nl < 0) return;
    conn.pause();
    let call: AgentCall;
    try {
      call = JSON.parse(buf.slice(0, nl)) as AgentCall;
    } catch {
      conn.end(encode({ v: 2, refused: "not JSON" }));
      return;
    }
    void answer(call, s).then(
      (a) => conn.end(encode(a)),
      (e: unknown) => conn.end(encode({ v: call.v, refused: (e as Error).message })),
    );
  });
  conn.on("error", () => conn.destroy());
}

/** What an ADD writes: their schemas are compiled before the first call, not during it. */
const WRITTEN_KINDS = ["IPAMHandle", "IPAMBlock", "BlockAffinity", "WorkloadEndpoint"] as const;

/**
 * Loads, right after the server starts, what its first call would otherwise
 * pay for: the datastore backends (imported lazily by datastore/open.ts) and
 * the schemas of the kinds an ADD writes (compiled lazily by
 * datastore/validate.ts). Measured on a loaded machine: ~0.7 s of imports and
 * ~0.3 s of schema compiles, all of it on the first pod's ADD before this.
 */
async function warmUp(): Promise<void> {
  await Promise.all([import("../datastore/file.js"), import("../datastore/etcd.js")]);
  const { validateObject } = await import("../datastore/validate.js");
  for (const kind of WRITTEN_KINDS)
    validateObject(kind, {
      apiVersion: "tortie.io/v1",
      kind,
      metadata: { name: "warm-up", namespace: "default" },
    });
}

/** Listens on `socket` (mode 0600: only root may wire pods) until close(). */
export async function serveCni(socket: string, onCall?: (r: CallRecord) => void): Promise<CniServer> {
  const stores = new Map<string, Promise<IpamDatastore>>();
  const open = (url: string): Promise<IpamDatastore> => {
    let s = stores.get(url);
    if (!s) {
      s = openIpamDatastore(url);
      stores.set(url, s);
      s.catch(() => stores.delete(url));
    }
    return s;
  };
  mkdirSync(dirname(socket), { recursive: true });
  try {
    unlinkSync(socket);
  } catch {
    /* no stale socket */
  }
  const server: Server = createServer((c) => serveConnection(c, { open, ...(onCall ? { onCall } : {}) }));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socket, () => resolve());
  });
  chmodSync(socket, 0o600);
  // Not awaited: a call arriving meanwhile waits for the same imports, no longer than it would have.
  void warmUp().catch(() => undefined);
  return {
    socket,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      for (const s of stores.values()) await (await s.catch(() => undefined))?.close();
      stores.clear();
    },
  };
}
