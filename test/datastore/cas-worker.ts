/**
 * A separate process that increments the IPAMHandle "counter" M times through
 * CAS retries: `node cas-worker.js DATASTORE-URL M`. Prints its conflict count.
 */
import { openDatastore } from "../../datastore/open.js";
import { increment } from "./contract.js";

const [url, m] = process.argv.slice(2);
if (!url || !m) throw new Error("usage: cas-worker URL M");
const ds = await openDatastore(url);
let retries = 0;
for (let i = 0; i < Number(m); i++) retries += (await increment(ds, "counter")) - 1;
await ds.close();
process.stdout.write(`${retries}\n`);
