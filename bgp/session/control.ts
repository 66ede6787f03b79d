import fastify, { type FastifyInstance } from "fastify";
import { mkdirSync, rmSync } from "node:fs";
import { request } from "node:http";
import { dirname } from "node:path";
import { UserError, errorMessage } from "../../core/errors.js";

/** `tortie bgp status --json`: a contract checked from outside; keep the names. */
export interface PeerStatus {
  readonly address: string;
  readonly asn: number;
  /** RFC 4271 state name. */
  readonly state: string;
  readonly prefixesReceived: number;
  readonly prefixesAdvertised: number;
  /** Seconds since the session reached Established (0 when it is not). */
  readonly uptime: number;
  /** Peers watched by BFD: its state and why it last went down (RFC 5880 names), and the timers. */
  readonly bfd?: {
    readonly state: string;
    readonly diag: string;
    readonly txIntervalMs?: number | undefined;
    readonly detectionTimeMs?: number;
    readonly localDiscriminator?: number;
    readonly remoteDiscriminator?: number;
    readonly received?: number;
  };
}

export interface StatusView {
  readonly peers: readonly PeerStatus[];
}

/** One route as `tortie bgp routes` shows it: the prefix and its decoded attributes. */
export interface RouteView {
  readonly prefix: string;
  /** The peer address the route came from, or "local" for originated routes. */
  readonly from: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  /** Best routes only: the RFC 4271 §9.1.2 step that decided ("only-path" when there was no rival). */
  readonly reason?: string;
  /** Best routes with multipath on: every source sharing the forwarding, best first. */
  readonly multipath?: readonly string[];
}

export interface RoutesView {
  readonly received: readonly RouteView[];
  readonly best: readonly RouteView[];
}

export interface ControlTarget {
  status(): StatusView;
  routes(): RoutesView;
}

export const DEFAULT_CONTROL_SOCKET = "/run/tortie/bgp.sock";

/** Serves the speaker's read-only views on a unix socket (never on a TCP port). */
export async function serveControl(target: ControlTarget, path: string): Promise<FastifyInstance> {
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { force: true });
  const app = fastify({ logger: false });
  app.get("/v1/status", () => target.status());
  app.get("/v1/routes", () => target.routes());
  // For benchmarks: heap after a full collection when node runs with --expose-gc.
  app.get("/v1/memory", () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) gc();
    return { ...process.memoryUsage(), collected: gc !== undefined };
  });
  await app.listen({ path });
  return app;
}

/** GETs a control endpoint; a missing socket is a user error (the daemon is not running there). */
export function queryControl<T>(path: string, endpoint: "status" | "routes" | "memory"): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, path: `/v1/${endpoint}`, method: "GET" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) {
          reject(new Error(`bgp control ${path}: HTTP ${res.statusCode}: ${body}`));
          return;
        }
        try {
          resolve(JSON.parse(body) as T);
        } catch (err) {
          reject(new Error(`bgp control ${path}: bad answer: ${errorMessage(err)}`));
        }
      });
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED")
        reject(new UserError(`no bgp speaker answers on ${path} (is \`tortie bgp run\` running?)`));
      else reject(err);
    });
    req.end();
  });
}
