/**
 * The agent's two HTTP faces: health and metrics on --listen (TCP, localhost by default), and the
 * read-only control socket `tortie node status` reads (a unix socket, never TCP).
 */
import fastify, { type FastifyInstance } from "fastify";
import { mkdirSync, rmSync } from "node:fs";
import { request } from "node:http";
import { dirname } from "node:path";
import { UserError, errorMessage } from "../core/errors.js";
import type { Agent, NodeStatusView } from "./agent.js";

export async function serveHealth(agent: Agent, host: string, port: number): Promise<FastifyInstance> {
  const app = fastify({ logger: false });
  app.get("/liveness", () => ({ ok: true }));
  app.get("/readiness", async (_req, reply) => {
    const why = agent.notReadyReasons();
    return reply.code(why.length === 0 ? 200 : 503).send({ ready: why.length === 0, reasons: why });
  });
  app.get("/metrics", async (_req, reply) => {
    const body = await agent.metrics.registry.metrics();
    return reply.type(agent.metrics.registry.contentType).send(body);
  });
  await app.listen({ host, port });
  return app;
}

export async function serveControlSocket(agent: Agent, path: string): Promise<FastifyInstance> {
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { force: true });
  const app = fastify({ logger: false });
  app.get("/v1/status", () => agent.status());
  // `?last=N` keeps a poller (bench/felix polls every 2 ms) from serialising the whole ring each time.
  app.get<{ Querystring: { last?: string } }>("/v1/latencies", (req) => {
    const n = req.query.last === undefined ? Infinity : Math.max(0, Number(req.query.last) || 0);
    const tail = <T>(xs: readonly T[]): T[] => (n === Infinity ? [...xs] : n === 0 ? [] : xs.slice(-n));
    return {
      count: agent.eventPassCount,
      eventMs: tail(agent.eventLatencies),
      passes: tail(agent.eventPasses),
    };
  });
  await app.listen({ path });
  return app;
}

export function queryStatus(path: string): Promise<NodeStatusView> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, path: "/v1/status", method: "GET" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200)
          return reject(new Error(`node control ${path}: HTTP ${res.statusCode}: ${body}`));
        try {
          resolve(JSON.parse(body) as NodeStatusView);
        } catch (err) {
          reject(new Error(`node control ${path}: bad answer: ${errorMessage(err)}`));
        }
      });
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ECONNREFUSED")
        reject(new UserError(`no tortie node agent is listening on ${path} (is "tortie node run" running?)`));
      else reject(err);
    });
    req.end();
  });
}
