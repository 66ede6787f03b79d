import { Command, CommanderError, Option } from "commander";
import { readFileSync } from "node:fs";
import { UserError, errorMessage } from "../core/errors.js";
import { LOG_LEVELS, createLogger, isLogLevel, setRootLogger } from "../core/log.js";
import { registerBgpCommands } from "../bgp/cli.js";
import { registerCniCommands } from "../cni/cli.js";
import { registerIpamCommands } from "../ipam/cli.js";
import { registerLabCommands } from "../lab/cli.js";
import { registerDoctor } from "./doctor.js";
import { registerPolicyCommands } from "../policy/cli.js";
import { registerNodeCommands } from "../felix/cli.js";

export interface GlobalOptions {
  logLevel: string;
}

function packageVersion(): string {
  const url = new URL("../../package.json", import.meta.url);
  const pkg = JSON.parse(readFileSync(url, "utf8")) as { version?: unknown };
  return typeof pkg.version === "string" ? pkg.version : "0.0.0";
}

/** Each subsystem adds its command group here; keep one line per group. */
const groups: ReadonlyArray<(program: Command) => void> = [
  registerDoctor,
  registerPolicyCommands,
  registerBgpCommands,
  registerIpamCommands,
  registerCniCommands,
  registerNodeCommands,
  registerLabCommands,
];

export function buildProgram(): Command {
  const program = new Command("tortie")
    .description("tortie: pod networking for Kubernetes (IPAM, CNI, BGP, NetworkPolicy on nftables)")
    .version(packageVersion(), "-V, --version")
    .addOption(
      new Option("--log-level <level>", "log verbosity (logs go to stderr)")
        .choices(LOG_LEVELS)
        .default(process.env["TORTIE_LOG_LEVEL"] ?? "info")
        .env("TORTIE_LOG_LEVEL"),
    )
    .showSuggestionAfterError(true)
    .configureOutput({
      outputError: (str, write) => write(`tortie: ${str.replace(/^error: /, "").trimEnd()}\n`),
    })
    .exitOverride();
  program.hook("preAction", (cmd) => {
    const level = cmd.optsWithGlobals<GlobalOptions>().logLevel;
    setRootLogger(createLogger(isLogLevel(level) ? level : "info"));
  });
  for (const g of groups) g(program);
  // Every subcommand shares the parent's exit behaviour: usage errors exit 2.
  const propagate = (c: Command): void => {
    for (const sub of c.commands) {
      sub.exitOverride();
      sub.configureOutput({
        outputError: (str, write) => write(`tortie: ${str.replace(/^error: /, "").trimEnd()}\n`),
      });
      propagate(sub);
    }
  };
  propagate(program);
  return program;
}

/** Runs the CLI and returns the process exit code; never throws. */
export async function run(argv: readonly string[], program: Command = buildProgram()): Promise<number> {
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version" || err.exitCode === 0)
        return 0;
      if (err.code === "commander.help") return 0;
      // Commander already printed its one line.
      return 2;
    }
    if (err instanceof UserError) {
      process.stderr.write(`tortie: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`tortie: ${errorMessage(err)}\n`);
    if (process.env["TORTIE_DEBUG"] && err instanceof Error && err.stack)
      process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}
