import { connect, type Socket } from "node:net";
import type { Matrix, PortKey } from "./matrix.js";
import type { ProbeProtocol, ProbeReply, ProbeRequest, ProbeResult, ProbeTarget } from "./protocol.js";

/** A pod as the prober sees it: its key ("ns/pod"), its address, and its agent's control socket. */
export interface ProbePod {
  readonly key: string;
  readonly ip: string;
  /** Its IPv6 address, for probes over IPv6. */
  readonly ip6?: string;
  readonly socket: string;
}

export interface ProbeOutcome {
  readonly matrices: Record<PortKey, Matrix>;
  /** For every allowed probe, the source address the server saw. */
  readonly seen: Array<{ from: string; to: string; port: PortKey; saw: string }>;
}

/**
 * Talks to the pod agents (lab/pod-agent.ts) over their Unix control sockets and asks each one to
 * probe the others: real TCP connects and UDP request/reply from inside the source pod's namespace.
 */
export class ProbeClient {
  private nextId = 1;
  private readonly controls = new Map<string, Socket>();
  private readonly waiting = new Map<number, (r: ProbeReply) => void>();

  private constructor(private readonly pods: ReadonlyMap<string, ProbePod>) {}

  static async connect(pods: readonly ProbePod[]): Promise<ProbeClient> {
    const c = new ProbeClient(new Map(pods.map((p) => [p.key, p])));
    try {
      await Promise.all(pods.map((p) => c.connectControl(p)));
    } catch (err) {
      c.close();
      throw err;
    }
    return c;
  }

  private connectControl(pod: ProbePod): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = connect(pod.socket, () => resolve());
      s.once("error", (e) =>
        reject(new Error(`cannot reach the agent of pod ${pod.key} (${pod.socket}): ${e.message}`)),
      );
      let buf = "";
      s.on("data", (b: Buffer) => {
        buf += b.toString();
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const reply = JSON.parse(buf.slice(0, nl)) as ProbeReply;
          buf = buf.slice(nl + 1);
          this.waiting.get(reply.id)?.(reply);
          this.waiting.delete(reply.id);
        }
      });
      this.controls.set(pod.key, s);
    });
  }

  private ask(
    from: string,
    targets: readonly ProbeTarget[],
    timeoutMs: number,
  ): Promise<readonly ProbeResult[]> {
    const s = this.controls.get(from);
    if (!s) throw new Error(`no control connection to ${from}`);
    const req: ProbeRequest = { id: this.nextId++, timeoutMs, targets };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`agent ${from} did not answer`)),
        timeoutMs * 4 + 5_000,
      );
      this.waiting.set(req.id, (r) => {
        clearTimeout(timer);
        resolve(r.results);
      });
      s.write(`${JSON.stringify(req)}\n`);
    });
  }

  /**
   * Probes every pod pair on every port concurrently. A denied probe costs one timeout; every
   * failure is retried once with a longer timeout so that a slow moment on a busy machine is not
   * mistaken for a drop.
   */
  async probe(
    ports: readonly PortKey[],
    timeoutMs = 400,
    keys?: readonly string[],
    family: 4 | 6 = 4,
  ): Promise<ProbeOutcome> {
    const pods = (keys ?? [...this.pods.keys()]).map((k) => {
      const p = this.pods.get(k);
      if (!p) throw new Error(`no pod ${k} to probe`);
      return p;
    });
    const jobs: Array<{ from: string; to: string; port: PortKey; target: ProbeTarget }> = [];
    for (const src of pods)
      for (const dst of pods)
        for (const port of ports) {
          const [num, proto] = port.split("/") as [string, ProbeProtocol];
          const ip = family === 6 ? dst.ip6 : dst.ip;
          if (ip === undefined) throw new Error(`pod ${dst.key} has no IPv6 address to probe`);
          jobs.push({
            from: src.key,
            to: dst.key,
            port,
            target: { ip, port: Number(num), protocol: proto },
          });
        }
    const results = new Map<(typeof jobs)[number], ProbeResult>();
    const runJobs = async (list: typeof jobs, timeout: number): Promise<void> => {
      const bySource = new Map<string, typeof jobs>();
      for (const j of list) bySource.set(j.from, [...(bySource.get(j.from) ?? []), j]);
      await Promise.all(
        [...bySource].map(async ([from, js]) => {
          const rs = await this.ask(
            from,
            js.map((j) => j.target),
            timeout,
          );
          js.forEach((j, i) => results.set(j, rs[i] ?? { ok: false, error: "no result" }));
        }),
      );
    };
    await runJobs(jobs, timeoutMs);
    await runJobs(
      jobs.filter((j) => !results.get(j)?.ok),
      timeoutMs * 2,
    );
    const matrices = {} as Record<PortKey, Matrix>;
    const seen: ProbeOutcome["seen"] = [];
    for (const j of jobs) {
      const r = results.get(j);
      const m = (matrices[j.port] ??= {});
      (m[j.from] ??= {})[j.to] = r?.ok === true;
      if (r?.ok && r.saw !== undefined) seen.push({ from: j.from, to: j.to, port: j.port, saw: r.saw });
    }
    return { matrices, seen };
  }

  close(): void {
    for (const s of this.controls.values()) s.destroy();
  }
}
