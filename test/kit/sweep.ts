/** Removes leftovers of dead test runs by hand: `node dist/test/kit/sweep.js`. */
import { sweepLeftovers } from "./registry.js";

const r = sweepLeftovers();
process.stdout.write(
  `swept ${r.owners.length} dead test process(es), ${r.namespaces.length} namespace(s)${r.namespaces.length ? `: ${r.namespaces.join(" ")}` : ""}\n`,
);
