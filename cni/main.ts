/**
 * The lean entry point the installed `tortie` and `tortie-ipam` executables
 * run: no CLI framework, only what a CNI command needs.
 *   node dist/cni/main.js main|ipam   (CNI env, network configuration on stdin)
 * When the resident server (agent.ts, `tortie cni serve`) listens on the
 * configured socket, the work is handed to it and this process loads nothing
 * more than agent-protocol.js; otherwise the plugin runs here.
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
const socket = process.env["CNI_COMMAND"] === "VERSION" ? undefined : agentSocketOf(stdin);
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
