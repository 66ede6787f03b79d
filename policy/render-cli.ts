import { Option, type Command } from "commander";
import { formatProblem } from "../core/errors.js";
import { log } from "../core/log.js";
import { BACKENDS, compileForNode, defaultNodeName, isBackend, renderTransaction } from "./dataplane.js";
import { loadStateFile } from "./state.js";

/**
 * `tortie policy render --state FILE [--node NAME] [--backend nft|iptables]`: one complete
 * transaction for the node on stdout. Objects with problems are reported on stderr and left out;
 * the rest still render, as the agent would keep enforcing them.
 */
export function registerRenderCommand(policy: Command): void {
  policy
    .command("render")
    .description("print the complete nftables (or iptables) transaction for one node")
    .requiredOption("--state <file>", "multi-document YAML of Namespaces, Pods and policies")
    .option("--node <name>", "the node to render for (default: $NODENAME or the host name)")
    .addOption(new Option("--backend <backend>", "dataplane").choices(BACKENDS).default("nft"))
    .action((opts: { state: string; node?: string; backend: string }) => {
      const loaded = loadStateFile(opts.state);
      for (const p of loaded.problems) log().warn(`skipped: ${formatProblem(p)}`);
      const backend = isBackend(opts.backend) ? opts.backend : "nft";
      process.stdout.write(
        renderTransaction(compileForNode(loaded, opts.node ?? defaultNodeName()), backend),
      );
    });
}
