import type { Command } from "commander";
import { spawnSync } from "node:child_process";
import { log } from "../core/log.js";
import { emit, table } from "./output.js";

export interface ToolCheck {
  readonly tool: string;
  readonly purpose: string;
  readonly found: boolean;
  readonly version?: string;
}

export interface DoctorReport {
  readonly node: string;
  readonly root: boolean;
  readonly tools: readonly ToolCheck[];
}

const TOOLS: ReadonlyArray<{ tool: string; args: string[]; purpose: string }> = [
  { tool: "nft", args: ["--version"], purpose: "policy dataplane (nftables)" },
  { tool: "ip", args: ["-V"], purpose: "namespaces, links, routes" },
  { tool: "iptables-restore", args: ["--version"], purpose: "legacy policy backend" },
  { tool: "ipset", args: ["--version"], purpose: "legacy policy backend sets" },
  { tool: "bird", args: ["--version"], purpose: "BGP interop peer / top-of-rack" },
  { tool: "gobgpd", args: ["--version"], purpose: "BGP interop peer" },
  { tool: "exabgp", args: ["--version"], purpose: "BGP interop peer" },
  { tool: "/usr/lib/frr/bgpd", args: ["--version"], purpose: "BGP interop peer (FRR)" },
  { tool: "etcd", args: ["--version"], purpose: "etcd datastore" },
];

function check(tool: string, args: string[], purpose: string): ToolCheck {
  const r = spawnSync(tool, args, { encoding: "utf8", timeout: 5000 });
  if (r.error) return { tool, purpose, found: false };
  const out = `${r.stdout}${r.stderr}`.split("\n").find((l) => l.trim() !== "") ?? "";
  return { tool, purpose, found: true, version: out.trim() };
}

export function doctorReport(): DoctorReport {
  log().debug({ tools: TOOLS.length }, "checking tools");
  return {
    node: process.version,
    root: typeof process.getuid === "function" && process.getuid() === 0,
    tools: TOOLS.map((t) => check(t.tool, t.args, t.purpose)),
  };
}

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("check this machine for what tortie needs (tools, privileges)")
    .option("--json", "print the report as JSON")
    .action((opts: { json?: boolean }) => {
      const r = doctorReport();
      emit(opts.json, r, (d) =>
        [
          `node ${d.node}, ${d.root ? "running as root" : "not root (dataplane commands need root)"}`,
          table([
            ["TOOL", "FOUND", "PURPOSE", "VERSION"],
            ...d.tools.map((t) => [t.tool, t.found ? "yes" : "no", t.purpose, t.version ?? ""]),
          ]),
        ].join("\n"),
      );
    });
}
