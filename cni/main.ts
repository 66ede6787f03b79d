/**
 * The lean Node entry of the CNI plugin: no CLI framework, only what a CNI
 * command needs.
 *   node dist/cni/main.js main|ipam [--no-agent]   (CNI env, network configuration on stdin)
 * The installed executables are the C launcher (launcher/launcher.c), which
 * hands the work to the resident server itself and runs this with
 * `--no-agent` only when no server takes it. Run directly, this tries the
 * server first too (and then loads nothing more than agent-protocol.js).
 */
import { readFileSync } from "node:fs";
import { agentSocketOf, callAgent } from "./agent-protocol.js";

let stdin = "";
try {
  stdin = readFileSync(0, "utf8");
} catch {
  /* no stdin (VERSION may come without one) */
}
const kind = process.argv[2] === "ipam" ? "ipam" : "main";
const socket =
  process.env["CNI_COMMAND"] === "VERSION" || process.argv[3] === "--no-agent"
    ? undefined
    : agentSocketOf(stdin);
let result: { code: number; out: string } | undefined;
try {
  result = socket ? await callAgent(socket, kind, process.env, stdin) : undefined;
} catch (e) {
  let cniVersion = "1.0.0";
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    if (typeof v === "string") cniVersion = v;
  } catch {
    /* agentSocketOf parsed it already */
  }
  result = { code: 1, out: JSON.stringify({ cniVersion, code: 5, msg: (e as Error).message }) };
}
if (!result) {
  const { runPlugin } = await import("./plugin.js");
  result = await runPlugin(kind, process.env, stdin);
}
if (result.out) process.stdout.write(`${result.out}\n`);
process.exitCode = result.code;
