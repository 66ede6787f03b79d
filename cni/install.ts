import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface InstallOptions {
  readonly dir: string;
  readonly confDir?: string;
  readonly datastore: string;
  readonly nodeName: string;
  readonly mtu: number;
  readonly network: string;
}

/** Replaces a file atomically, so a runtime never execs or reads a half-written one. */
function writeAtomic(path: string, text: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/**
 * Writes the `tortie` and `tortie-ipam` executables into the CNI bin dir: small
 * launchers that run this installation's Node and its compiled entry point,
 * and (with a conf dir) the network configuration list.
 */
export function installCni(o: InstallOptions): { files: string[] } {
  const entry = fileURLToPath(new URL("./main.js", import.meta.url));
  mkdirSync(o.dir, { recursive: true });
  const files: string[] = [];
  for (const [name, kind] of [
    ["tortie", "main"],
    ["tortie-ipam", "ipam"],
  ] as const) {
    const path = join(o.dir, name);
    writeAtomic(
      path,
      `#!/bin/sh\n# tortie CNI ${kind === "main" ? "plugin" : "IPAM plugin"}; written by \`tortie cni install\`.\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(entry)} ${kind} "$@"\n`,
      0o755,
    );
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
