import { Command, CommanderError, Option } from "commander";
import { readFileSync } from "node:fs";
import { UserError, errorMessage } from "../core/errors.js";
import { LOG_LEVELS, createLogger, isLogLevel, setRootLogger } from "../core/log.js";

export interface GlobalOptions {
  logLevel: string;
}

function packageVersion(): string {
  const url = new URL("../../package.json", import.meta.url);
  const pkg = JSON.parse(readFileSync(url, "utf8")) as { version?: unknown };
  return typeof pkg.version === "string" ? pkg.version : "0.0.0";
}

type Register = (program: Command) => void;

/**
 * Each subsystem adds its command group here; keep one line per group. Loaded on demand: a
 * command loads only its own group (`tortie bgp run` never loads the policy compiler or the
 * Kubernetes client), help and unknown commands load them all.
 */
const groups: Readonly<Record<string, () => Promise<Register>>> = {
  doctor: async () => (await import("./doctor.js")).registerDoctor,
  policy: async () => (await import("../policy/cli.js")).registerPolicyCommands,
  bgp: async () => (await import("../bgp/cli.js")).registerBgpCommands,
  ipam: async () => (await import("../ipam/cli.js")).registerIpamCommands,
  cni: async () => (await import("../cni/cli.js")).registerCniCommands,
  node: async () => (await import("../felix/cli.js")).registerNodeCommands,
  lab: async () => (await import("../lab/cli.js")).registerLabCommands,
};

/** The command groups `argv` needs: its first word's group, or every group. */
export async function loadGroups(argv: readonly string[] = []): Promise<Register[]> {
  // The first word that is neither an option nor an option's value names the group.
  let word: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    if (a === "--log-level") i++;
    else if (!a.startsWith("-")) {
      word = a;
      break;
    }
  }
  const only = word !== undefined ? groups[word] : undefined;
  return Promise.all(only ? [only()] : Object.values(groups).map((g) => g()));
}

export function buildProgram(registered: readonly Register[]): Command {
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
  for (const g of registered) g(program);
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
export async function run(argv: readonly string[], given?: Command): Promise<number> {
  try {
    const program = given ?? buildProgram(await loadGroups(argv));
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
