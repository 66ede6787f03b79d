/**
 * Connection rate: opens and closes TCP connections to HOST:PORT for SECONDS with CONCURRENCY
 * connections in flight, counting completed ones (connected and answered). Prints one JSON line.
 * Usage: connrate.js HOST PORT SECONDS CONCURRENCY
 */
import { connect } from "node:net";

const [host = "", portText = "", secondsText = "3", concText = "16"] = process.argv.slice(2);
const port = Number(portText);
const deadline = Date.now() + Number(secondsText) * 1000;
let done = 0;
let failed = 0;

function one(): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.setTimeout(2000, () => s.destroy(new Error("timeout")));
    s.on("data", () => s.destroy());
    s.on("close", (hadError) => {
      if (hadError) failed++;
      else done++;
      resolve();
    });
    s.on("error", () => undefined);
  });
}

async function worker(): Promise<void> {
  while (Date.now() < deadline) await one();
}

const started = Date.now();
await Promise.all(Array.from({ length: Number(concText) }, worker));
const seconds = (Date.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ done, failed, seconds, rate: done / seconds })}\n`);
