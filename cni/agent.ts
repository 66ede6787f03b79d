import { AsyncLocalStorage } from "node:async_hooks";
import { chmodSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { dirname } from "node:path";
import type { Allocator, ClaimMode } from "../ipam/allocator.js";
import type { IpamDatastore } from "../ipam/store.js";
import { openIpamDatastore } from "../ipam/open.js";
import { AGENT_PROTOCOLS, type AgentAnswer, type AgentCall } from "./agent-protocol.js";
import { residentAllocator, runPlugin, type ResidentHooks } from "./plugin.js";

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
  /** Blocks claimed since the server started: inline (an ADD waited for the claim) and in the background. */
  claims(): Record<ClaimMode, number>;
  /** Resolves when no background claim is running or due (tests, benchmarks). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Told of each call served or refused. */
  readonly onCall?: (r: CallRecord) => void;
  /** Told of each block claimed, and how. */
  readonly onClaim?: (cidr: string, mode: ClaimMode, node: string) => void;
  /**
   * Keep a block with free addresses ready for `node` in each of these
   * datastores from the start (the node agent's own datastore and node), before
   * any ADD. Datastores and nodes that ADDs name are kept ready from their first ADD on.
   */
  readonly prepare?: { readonly datastores: readonly string[]; readonly node: string };
  /** How often every known node's blocks are re-read and topped up (a pool that appeared, GC). Default 10 s. */
  readonly recheckMs?: number;
}

/** One served (or refused) invocation, for the server's log. */
export interface CallRecord {
  readonly command: string;
  readonly kind: string;
  readonly code?: number;
  readonly refused?: string;
  readonly ms: number;
  /** Blocks this ADD had to claim itself (none when the background claim keeps up). */
  readonly inlineClaims?: number;
}

type Serve = {
  open: (url: string) => Promise<IpamDatastore>;
  onCall?: (r: CallRecord) => void;
  hooks: ResidentHooks;
};

/** The call an allocator runs in, so that an inline claim is counted against the ADD that waited for it. */
const currentCall = new AsyncLocalStorage<{ inlineClaims: number }>();

/**
 * Claims blocks in the background (Allocator.topUp) so that ADDs find free
 * addresses. One top-up per allocator and node at a time; a request while one
 * runs makes it run once more afterwards, so bursts coalesce. Failures are
 * logged and retried by the next request or recheck: an ADD still claims
 * inline when it finds no free address.
 */
class SpareKeeper {
  /** Per allocator and node: the top-up running, and whether another is due after it (fresh or not). */
  private readonly jobs = new Map<Allocator, Map<string, { running?: Promise<void>; again?: boolean }>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly onError: (e: unknown, node: string) => void) {}

  request(alloc: Allocator, node: string, fresh: boolean): void {
    let nodes = this.jobs.get(alloc);
    if (!nodes) {
      nodes = new Map();
      this.jobs.set(alloc, nodes);
    }
    let job = nodes.get(node);
    if (!job) {
      job = {};
      nodes.set(node, job);
    }
    if (job.running) {
      job.again = (job.again ?? false) || fresh;
      return;
    }
    const j = job;
    j.running = (async () => {
      let f = fresh;
      for (;;) {
        await alloc.topUp(node, { fresh: f }).catch((e: unknown) => this.onError(e, node));
        // Checked and cleared in one step: a request arriving after this starts a new run.
        if (j.again === undefined) {
          delete j.running;
          return;
        }
        f = j.again;
        delete j.again;
      }
    })();
  }

  recheckEvery(ms: number): void {
    this.timer = setInterval(() => {
      for (const [alloc, nodes] of this.jobs)
        for (const node of nodes.keys()) this.request(alloc, node, true);
    }, ms);
    this.timer.unref();
  }

  private runningJobs(): Promise<void>[] {
    return [...this.jobs.values()].flatMap((nodes) =>
      [...nodes.values()].flatMap((j) => (j.running ? [j.running] : [])),
    );
  }

  async settled(): Promise<void> {
    for (let r = this.runningJobs(); r.length > 0; r = this.runningJobs()) await Promise.all(r);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.settled();
    this.jobs.clear();
  }
}

async function answer(call: AgentCall, s: Serve): Promise<AgentAnswer> {
  const t0 = performance.now();
  const command = call.env?.["CNI_COMMAND"] ?? "?";
  const done = (a: AgentAnswer & { inlineClaims?: number }): AgentAnswer => {
    s.onCall?.({
      command,
      kind: call.kind,
      ...(a.refused !== undefined ? { refused: a.refused } : { code: a.code }),
      ms: performance.now() - t0,
      ...(a.inlineClaims !== undefined ? { inlineClaims: a.inlineClaims } : {}),
    });
    const { inlineClaims: _, ...answer } = a;
    return answer;
  };
  const v = AGENT_PROTOCOLS.includes(call.v) ? call.v : Math.max(...AGENT_PROTOCOLS);
  if (v !== call.v) return done({ v, refused: `protocol ${String(call.v)}` });
  if (call.netns !== netnsId()) return done({ v, refused: "the caller runs in another network namespace" });
  const env: NodeJS.ProcessEnv = { ...call.env };
  const counted = { inlineClaims: 0 };
  const { code, out } = await currentCall.run(counted, () =>
    runPlugin(call.kind, env, call.stdin, { open: s.open, keepOpen: true, hooks: s.hooks }),
  );
  return done({ v, code, out, ...(counted.inlineClaims > 0 ? { inlineClaims: counted.inlineClaims } : {}) });
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

/**
 * Listens on `socket` (mode 0600: only root may wire pods) until close(), and
 * claims blocks in the background for the nodes it serves (ServeOptions.prepare
 * and every node an ADD names) so that ADDs do not wait for a block claim.
 */
export async function serveCni(socket: string, opts: ServeOptions = {}): Promise<CniServer> {
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
  const claims: Record<ClaimMode, number> = { inline: 0, background: 0 };
  const keeper = new SpareKeeper((e, node) =>
    process.stderr.write(
      `tortie cni: background block claim for node ${node} failed: ${(e as Error).message}\n`,
    ),
  );
  const hooks: ResidentHooks = {
    onClaim: (cidr, mode, node) => {
      claims[mode]++;
      const call = currentCall.getStore();
      if (mode === "inline" && call) call.inlineClaims++;
      opts.onClaim?.(cidr, mode, node);
    },
    afterAssign: (alloc, node) => {
      keeper.request(alloc, node, false);
    },
  };
  mkdirSync(dirname(socket), { recursive: true });
  try {
    unlinkSync(socket);
  } catch {
    /* no stale socket */
  }
  const serve: Serve = { open, hooks, ...(opts.onCall ? { onCall: opts.onCall } : {}) };
  const server: Server = createServer((c) => serveConnection(c, serve));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socket, () => resolve());
  });
  chmodSync(socket, 0o600);
  // Not awaited: a call arriving meanwhile waits for the same imports, no longer than it would have.
  void warmUp().catch(() => undefined);
  // The strictAffinity allocator of the ADDs to come would do as well: a background claim never borrows.
  const preparing = (opts.prepare?.datastores ?? []).map((url) =>
    open(url).then(
      (ds) => keeper.request(residentAllocator(ds, false, hooks), opts.prepare?.node ?? "", true),
      (e: unknown) => {
        process.stderr.write(`tortie cni: datastore ${url}: ${(e as Error).message}\n`);
      },
    ),
  );
  keeper.recheckEvery(opts.recheckMs ?? 10_000);
  return {
    socket,
    claims: () => ({ ...claims }),
    settled: async () => {
      await Promise.all(preparing);
      await keeper.settled();
    },
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await keeper.stop();
      for (const s of stores.values()) await (await s.catch(() => undefined))?.close();
      stores.clear();
    },
  };
}
