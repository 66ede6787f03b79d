import { mkdtempSync } from "node:fs";
import t from "tap";
import { Kit } from "../kit/kit.js";
import { concurrencyCase } from "./concurrency-case.js";

t.test(
  "50 nodes x 110 pods allocate at once through the file store, some allocators SIGKILLed",
  async (t) => {
    const kit = Kit.create(t);
    // tmpfs: the same CAS semantics as on disk, without paying for fsync 11,000 times.
    const dir = mkdtempSync("/dev/shm/tortie-ipam-");
    kit.registry.record({ kind: "dir", path: dir });
    await concurrencyCase(t, kit, `file:${dir}`, 2);
  },
);
