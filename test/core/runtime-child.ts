/** Restarts itself with the agent's runtime, then says what it became (test/core/runtime.test.ts). */
import { execWithAgentRuntime } from "../../core/runtime.js";

execWithAgentRuntime();
process.stdout.write(
  `${JSON.stringify({ pid: process.pid, execArgv: process.execArgv, args: process.argv.slice(2) })}\n`,
);
