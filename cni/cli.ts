import type { Command } from "commander";
import { hostname } from "node:os";
import { UserError } from "../core/errors.js";
import { emit } from "../cli/output.js";
import { installCni } from "./install.js";

export function registerCniCommands(program: Command): void {
  const cni = program.command("cni").description("the CNI plugin: install it for the container runtime");
  cni
    .command("install")
    .description("write the tortie and tortie-ipam executables into DIR, and a conflist into --conf-dir")
    .requiredOption("--dir <dir>", "CNI bin directory, e.g. /opt/cni/bin")
    .option("--conf-dir <dir>", "CNI network configuration directory, e.g. /etc/cni/net.d")
    .option(
      "--datastore <url>",
      "datastore for the conflist",
      process.env["TORTIE_DATASTORE"] ?? "file:/var/lib/tortie",
    )
    .option("--node-name <name>", "this node's name for the conflist", process.env["NODENAME"] ?? hostname())
    .option("--mtu <mtu>", "pod interface MTU for the conflist", "1500")
    .option("--network <name>", "network name for the conflist", "k8s-pod-network")
    .option("--json", "print the files written as JSON")
    .action(
      (o: {
        dir: string;
        confDir?: string;
        datastore: string;
        nodeName: string;
        mtu: string;
        network: string;
        json?: boolean;
      }) => {
        const mtu = Number(o.mtu);
        if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535)
          throw new UserError(`--mtu ${o.mtu}: must be an integer from 576 to 65535`);
        const r = installCni({
          dir: o.dir,
          ...(o.confDir ? { confDir: o.confDir } : {}),
          datastore: o.datastore,
          nodeName: o.nodeName,
          mtu,
          network: o.network,
        });
        emit(o.json, r, (d) => d.files.map((f) => `wrote ${f}`).join("\n"));
      },
    );
}
