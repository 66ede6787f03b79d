/**
 * Simulated nodes for the concurrency test and the benchmark: each node has
 * its own Allocator (as each node runs its own plugin) and allocates an address
 * for each of its pods through the real datastore, `parallel` at a time (the
 * kubelet runs ADDs in parallel). One line per address goes to stdout, so the
 * parent knows what was handed out even if this process is killed.
 *
 *   node alloc-worker.js DATASTORE NODE[,NODE...] PODS [PARALLEL]
 */
import { Allocator } from "../../ipam/allocator.js";
import { openIpamDatastore } from "../../ipam/open.js";

const [url, nodesText, podsText, parallelText] = process.argv.slice(2);
if (!url || !nodesText || !podsText) {
  process.stderr.write("usage: alloc-worker DATASTORE NODE[,NODE...] PODS [PARALLEL]\n");
  process.exit(2);
}
const pods = Number(podsText);
const parallel = Number(parallelText ?? "4");
const ds = await openIpamDatastore(url);
const t0 = performance.now();
await Promise.all(
  nodesText.split(",").map(async (node) => {
    const alloc = new Allocator(ds, { configCacheMs: 10_000 });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < pods) {
        const i = next++;
        const pod = `${node}-pod${i}`;
        const got = await alloc.assign({
          handle: `h-${pod}`,
          node,
          namespace: "default",
          pod,
          num4: 1,
          num6: 0,
        });
        for (const g of got)
          process.stdout.write(`${JSON.stringify({ handle: `h-${pod}`, address: g.address })}\n`);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  }),
);
process.stdout.write(`${JSON.stringify({ done: nodesText, ms: performance.now() - t0 })}\n`);
await ds.close();
