import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Snapshots live in the source tree (test/policy/snapshots), compared as parsed JSON so formatting
 * by prettier does not matter. `TORTIE_UPDATE_SNAPSHOTS=1` rewrites them; review the diff.
 */
export function snapshotPath(name: string): string {
  // Compiled tests run from dist/test/policy; the snapshots stay in test/policy/snapshots.
  return fileURLToPath(new URL(`../../../test/policy/snapshots/${name}.json`, import.meta.url));
}

export function readSnapshot(name: string, current: unknown): unknown {
  const path = snapshotPath(name);
  if (process.env["TORTIE_UPDATE_SNAPSHOTS"] === "1" || !existsSync(path))
    writeFileSync(path, `${JSON.stringify(current, null, 2)}\n`);
  return JSON.parse(readFileSync(path, "utf8")) as unknown;
}
