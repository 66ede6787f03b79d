/**
 * The lean entry point the installed `tortie` and `tortie-ipam` executables
 * run: no CLI framework, only what a CNI command needs.
 *   node dist/cni/main.js main|ipam   (CNI env, network configuration on stdin)
 */
import { readFileSync } from "node:fs";
import { runPlugin } from "./plugin.js";

let stdin = "";
try {
  stdin = readFileSync(0, "utf8");
} catch {
  /* no stdin (VERSION may come without one) */
}
const { code, out } = await runPlugin(process.argv[2] === "ipam" ? "ipam" : "main", process.env, stdin);
if (out) process.stdout.write(`${out}\n`);
process.exitCode = code;
