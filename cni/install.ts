import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SUPPORTED_VERSIONS } from "./config.js";

export interface InstallOptions {
  readonly dir: string;
  readonly confDir?: string;
  readonly datastore: string;
  readonly nodeName: string;
  readonly mtu: number;
  readonly network: string;
}

/** The C launcher (cni/launcher/launcher.c), built by scripts/setup.sh (node-gyp, core/native/binding.gyp). */
export const LAUNCHER = fileURLToPath(
  new URL("../../core/native/build/Release/tortie-cni-launcher", import.meta.url),
);
/** Where the launcher keeps what install bakes in (launcher.c: `baked`). */
const MARKER = "TORTIE-CNI-LAUNCHER-FALLBACK:";
const REGION_SIZE = 8192;

/**
 * The launcher binary for one executable: the Node fallback (this
 * installation's node and entry point, and the kind) and the VERSION answer
 * written into its reserved region. The first line keeps the shape the
 * former shell launcher had (`exec "NODE" "ENTRY" KIND`), which the chart's
 * install script reads back.
 */
export function bakeLauncher(binary: Buffer, node: string, entry: string, kind: "main" | "ipam"): Buffer {
  const at = binary.indexOf(MARKER);
  if (at < 0 || binary.indexOf(MARKER, at + 1) >= 0)
    throw new Error(
      `the CNI launcher ${LAUNCHER} has no single ${MARKER} region: rebuild it (scripts/setup.sh)`,
    );
  for (const p of [node, entry])
    if (/["\n\0]/.test(p))
      throw new Error(`cannot bake path ${JSON.stringify(p)} into the launcher: it holds " or a newline`);
  const version = JSON.stringify({ cniVersion: "1.1.0", supportedVersions: SUPPORTED_VERSIONS });
  const text = Buffer.from(`${MARKER}\nexec "${node}" "${entry}" ${kind}\nversion=${version}\n\0`);
  if (text.length > REGION_SIZE) throw new Error(`paths too long for the launcher: ${node}, ${entry}`);
  const out = Buffer.from(binary);
  out.fill(0, at, at + REGION_SIZE);
  text.copy(out, at);
  return out;
}

/** Replaces a file atomically, so a runtime never execs or reads a half-written one. */
function writeAtomic(path: string, text: string | Buffer, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/**
 * Writes the `tortie` and `tortie-ipam` executables into the CNI bin dir: the
 * C launcher, which hands each call to the resident server and otherwise runs
 * this installation's Node on its compiled entry point; and (with a conf dir)
 * the network configuration list.
 */
export function installCni(o: InstallOptions): { files: string[] } {
  const entry = fileURLToPath(new URL("./main.js", import.meta.url));
  if (!existsSync(LAUNCHER))
    throw new Error(
      `the CNI launcher ${LAUNCHER} is not built: run scripts/setup.sh (node-gyp in core/native)`,
    );
  const binary = readFileSync(LAUNCHER);
  mkdirSync(o.dir, { recursive: true });
  const files: string[] = [];
  for (const [name, kind] of [
    ["tortie", "main"],
    ["tortie-ipam", "ipam"],
  ] as const) {
    const path = join(o.dir, name);
    writeAtomic(path, bakeLauncher(binary, process.execPath, entry, kind), 0o755);
    files.push(path);
  }
  if (o.confDir) {
    mkdirSync(o.confDir, { recursive: true });
    const conflist = {
      cniVersion: "1.0.0",
      name: o.network,
      plugins: [
        {
          type: "tortie",
          datastore: o.datastore,
          nodeName: o.nodeName,
          mtu: o.mtu,
          ipam: { type: "tortie-ipam" },
        },
      ],
    };
    const path = join(o.confDir, "10-tortie.conflist");
    writeAtomic(path, `${JSON.stringify(conflist, null, 2)}\n`, 0o644);
    files.push(path);
  }
  return { files };
}
