import { statSync } from "node:fs";
import { connect } from "node:net";

/**
 * What the CNI executable and the resident server (agent.ts) say to each
 * other. Kept free of other imports: the Node entry loads this and nothing
 * else when a server answers.
 *   v1 (cni/main.ts): one JSON line each way, the answer `{"v":1,"code","out"}`.
 *   v2 (the C launcher, cni/launcher/launcher.c): the same request line; the
 *      answer is a JSON header line `{"v":2,"code":N}` followed by the plugin's
 *      stdout as raw bytes up to EOF, so the launcher needs no JSON decoder.
 * Either way a refusal is `{"v":N,"refused":"why"}` and the caller does the
 * work itself.
 */
export const AGENT_PROTOCOL = 1;
export const AGENT_PROTOCOLS: readonly number[] = [1, 2];

/** Where the server listens unless the network configuration says `"agentSocket"`. */
export const DEFAULT_AGENT_SOCKET = "/run/tortie/cni.sock";

export interface AgentCall {
  readonly v: number;
  readonly kind: "main" | "ipam";
  /** The caller's network namespace (device:inode): the server wires pods only into its own. */
  readonly netns: string;
  /** The CNI_* variables (and nothing else of the caller's environment). */
  readonly env: Readonly<Record<string, string>>;
  readonly stdin: string;
}

export type AgentAnswer =
  | { readonly v: number; readonly code: number; readonly out: string; readonly refused?: undefined }
  | { readonly v: number; readonly refused: string };

/** The socket a network configuration names; undefined when the config is not JSON (the plugin reports that). */
export function agentSocketOf(stdin: string): string | undefined {
  try {
    const conf = JSON.parse(stdin) as { agentSocket?: unknown };
    return typeof conf.agentSocket === "string" && conf.agentSocket !== ""
      ? conf.agentSocket
      : DEFAULT_AGENT_SOCKET;
  } catch {
    return undefined;
  }
}

/**
 * Hands one invocation to the server. Resolves undefined when no server can
 * take it (no socket, nobody listening, another namespace): the caller then
 * does the work itself. Once the call is sent, a lost answer is an error, not
 * a fallback: the server may have done part of the work, and the runtime
 * retries or calls DEL.
 */
export function callAgent(
  socket: string,
  kind: "main" | "ipam",
  env: NodeJS.ProcessEnv,
  stdin: string,
): Promise<{ code: number; out: string } | undefined> {
  const cniEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith("CNI_") && v !== undefined) cniEnv[k] = v;
  const st = statSync("/proc/self/ns/net");
  const call: AgentCall = { v: AGENT_PROTOCOL, kind, netns: `${st.dev}:${st.ino}`, env: cniEnv, stdin };
  return new Promise((resolve, reject) => {
    let sent = false;
    let buf = "";
    const conn = connect(socket);
    conn.setEncoding("utf8");
    conn.on("connect", () => {
      sent = true;
      conn.write(`${JSON.stringify(call)}\n`);
    });
    conn.on("data", (c: string) => (buf += c));
    conn.on("error", (e: NodeJS.ErrnoException) => {
      if (!sent) resolve(undefined);
      else reject(new Error(`tortie CNI agent at ${socket}: ${e.message}`));
    });
    conn.on("close", () => {
      if (!sent) return;
      const line = buf.split("\n")[0] ?? "";
      let a: AgentAnswer;
      try {
        a = JSON.parse(line) as AgentAnswer;
      } catch {
        reject(new Error(`tortie CNI agent at ${socket} closed the connection without an answer`));
        return;
      }
      if (a.refused !== undefined) resolve(undefined);
      else resolve({ code: a.code, out: a.out });
    });
  });
}
