import type { Command } from "commander";
import { hostname } from "node:os";
import { UserError } from "../core/errors.js";
import { emit } from "../cli/output.js";
import { DEFAULT_AGENT_SOCKET } from "./agent-protocol.js";
import { installCni } from "./install.js";

export function registerCniCommands(program: Command): void {
  const cni = program
    .command("cni")
    .description("the CNI plugin: install it for the container runtime, serve it from a resident process");
  cni
    .command("serve")
    .description(
      "serve CNI invocations over a unix socket, so the tortie executables need not load the datastore each time (run in the node's network namespace)",
    )
    .option("--socket <path>", "unix socket (the network configuration's agentSocket)", DEFAULT_AGENT_SOCKET)
    .option(
      "--datastore <url>",
      "claim a block for --node in this datastore at start, before any ADD (repeatable)",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option("--node <name>", "the node whose blocks --datastore prepares")
    .action(async (o: { socket: string; datastore: string[]; node?: string }) => {
      if (o.datastore.length > 0 && !o.node)
        throw new UserError("--datastore needs --node: the node to claim for");
      const { serveCni } = await import("./agent.js");
      const server = await serveCni(o.socket, {
        onCall: (r) =>
          process.stderr.write(
            `${r.command} ${r.kind} ${r.refused !== undefined ? `refused: ${r.refused}` : `code ${r.code ?? "?"}`} ${r.ms.toFixed(1)} ms${r.inlineClaims ? ` claimed ${r.inlineClaims} block(s) inline` : ""}\n`,
          ),
        onClaim: (cidr, mode, node) => process.stderr.write(`claimed block ${cidr} for ${node} (${mode})\n`),
        ...(o.node ? { prepare: { datastores: o.datastore, node: o.node } } : {}),
      });
      process.stderr.write(`tortie cni serve: listening on ${server.socket}\n`);
      await new Promise<void>((resolve) => {
        for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve());
      });
      await server.close();
    });
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
