import { Option, type Command } from "commander";
import { UserError } from "../core/errors.js";
import { emit, table } from "../cli/output.js";
import {
  labApply,
  labDown,
  labMatrix,
  labStart,
  labStatus,
  labStop,
  labUp,
  writePicture,
  type LabStatus,
} from "./lab.js";
import { formatChanges, formatMatrix, parsePortKey, renderHtml, renderSvg } from "./matrix.js";
import { DEFAULT_DIR, DEFAULT_PREFIX, type TorKind } from "./plan.js";
import { checkPolicyObjectsInDatastores } from "../policy/datastore.js";

interface LabGlobal {
  dir: string;
  prefix: string;
}

function int(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new UserError(`${name} must be a whole number, not ${v}`);
    return Number(v);
  };
}

export function formatStatus(s: LabStatus): string {
  const established = s.tor.sessions.filter((x) => x.state === "Established").length;
  const blocks = s.nodes.reduce((a, n) => a + n.blocks.length, 0);
  const lines = [
    `lab in ${s.dir} (up since ${s.created})`,
    `ToR ${s.tor.kind} AS ${s.tor.asn} in ${s.tor.netns}: ${s.tor.running ? "running" : "NOT RUNNING"}, ${established}/${s.nodes.length} BGP sessions Established, ${s.tor.routes.length} route(s) learned`,
    "",
    table([
      ["NODE", "ADDRESS", "AGENT", "READY", "BGP (ToR)", "BLOCKS", "PODS"],
      ...s.nodes.map((n) => [
        n.name,
        n.ip,
        n.agent,
        n.ready ? "yes" : "no",
        s.tor.sessions.find((x) => x.node === n.name)?.state ?? "-",
        n.blocks.join(",") || "-",
        String(n.pods),
      ]),
    ]),
    "",
    table([
      ["POD", "NODE", "IP", "SERVER"],
      ...s.pods.map((p) => [p.pod, p.node, p.ip ?? "-", p.server ? "up" : "down"]),
    ]),
    "",
    `summary: ${s.nodes.length} node(s), ${established} BGP session(s) up, ${blocks} block(s), ${s.pods.length} pod(s)`,
  ];
  return lines.join("\n");
}

export function registerLabCommands(program: Command): void {
  checkPolicyObjectsInDatastores();
  const lab = program
    .command("lab")
    .description(
      "a small real cluster in network namespaces: a ToR router, nodes running tortie, pods through the CNI plugin",
    )
    .addOption(
      new Option("--dir <dir>", "where the lab keeps its state, datastore, logs and sockets")
        .default(DEFAULT_DIR)
        .env("TORTIE_LAB_DIR"),
    )
    .addOption(
      new Option("--prefix <prefix>", "name prefix of the lab's network namespaces")
        .default(DEFAULT_PREFIX)
        .env("TORTIE_LAB_PREFIX"),
    );
  const globals = (cmd: Command): LabGlobal => cmd.optsWithGlobals<LabGlobal>();

  lab
    .command("up")
    .description(
      "build the lab: ToR (bird or frr), nodes running `tortie node run`, pods serving TCP/UDP 80 and 81",
    )
    .option("--nodes <n>", "number of nodes", int("--nodes"), 3)
    .addOption(
      new Option("--tor <daemon>", "the top-of-rack router").choices(["bird", "frr"]).default("bird"),
    )
    .option("--pods-per-node <n>", "pods per node", int("--pods-per-node"), 3)
    .option(
      "--no-agent",
      "do not run `tortie node run` on the nodes (topology and pods only; BGP stays down)",
    )
    .action(
      async (opts: { nodes: number; tor: TorKind; podsPerNode: number; agent: boolean }, cmd: Command) => {
        const g = globals(cmd);
        const r = await labUp({ ...opts, dir: g.dir, prefix: g.prefix });
        process.stdout.write(`${formatStatus(r.summary)}\n`);
      },
    );

  lab
    .command("apply")
    .description(
      "apply Namespace / Pod / NetworkPolicy manifests to the lab (new pods become real pods through CNI)",
    )
    .argument("<file...>", "YAML files, multi-document")
    .action(async (files: string[], _opts: unknown, cmd: Command) => {
      const r = await labApply(globals(cmd).dir, files);
      process.stdout.write(
        `${[...r.applied.map((a) => `applied ${a}`), ...r.pods.map((p) => `pod ${p.replace("=", " has address ")}`)].join("\n")}\n`,
      );
    });

  lab
    .command("matrix")
    .description("probe every pod pair with real packets and print the connectivity matrix")
    .option("--port <port/proto>", "destination port and protocol", "80/TCP")
    .option("--json", 'print {"port", "pods", "matrix"} as JSON')
    .option("--out <file>", "also draw the matrix into FILE.svg or FILE.html")
    .option("--timeout <ms>", "probe timeout (a denied probe costs this, twice)", int("--timeout"), 400)
    .action(async (opts: { port: string; json?: boolean; out?: string; timeout: number }, cmd: Command) => {
      const port = parsePortKey(opts.port);
      if (!port) throw new UserError(`--port ${opts.port}: expected PORT/TCP or PORT/UDP, e.g. 80/TCP`);
      if (opts.out && !/\.(svg|html?)$/i.test(opts.out))
        throw new UserError(`--out ${opts.out}: the file must end in .svg or .html`);
      const r = await labMatrix(globals(cmd).dir, port, opts.timeout);
      if (opts.out) {
        const out = opts.out;
        writePicture(
          out,
          () => renderSvg(r.report, r.changes),
          () => renderHtml(r.report, r.changes),
        );
      }
      emit(opts.json, r.report, (rep) => {
        const allowed = Object.values(rep.matrix).reduce(
          (a, row) => a + Object.values(row).filter(Boolean).length,
          0,
        );
        const total = rep.pods.length ** 2;
        return [
          `connectivity on ${rep.port}: rows from, columns to; "." allowed, "X" denied${r.changes.length ? ', "*" changed' : ""}`,
          formatMatrix(rep.matrix, r.changes),
          `${allowed}/${total} allowed`,
          ...(r.hadPrevious
            ? [`changed since the previous matrix on ${rep.port}:`, formatChanges(r.changes)]
            : []),
          ...(opts.out ? [`drawn into ${opts.out}`] : []),
        ].join("\n");
      });
    });

  lab
    .command("status")
    .description("nodes, agents, BGP sessions at the ToR, blocks and pods")
    .option("--json", "print the status as JSON")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      emit(opts.json, await labStatus(globals(cmd).dir), formatStatus);
    });

  lab
    .command("stop")
    .description("stop a node's agent (SIGTERM: routes and rules stay) or the ToR's daemon")
    .argument("<node|tor>")
    .action(async (what: string, _o: unknown, cmd: Command) => {
      await labStop(globals(cmd).dir, what);
      process.stdout.write(`stopped ${what}\n`);
    });

  lab
    .command("start")
    .description("start a stopped node agent or ToR daemon again")
    .argument("<node|tor>")
    .action(async (what: string, _o: unknown, cmd: Command) => {
      await labStart(globals(cmd).dir, what);
      process.stdout.write(`started ${what}\n`);
    });

  lab
    .command("down")
    .description("remove everything the lab made (also after a crash): processes, namespaces, files")
    .action((_o: unknown, cmd: Command) => {
      const g = globals(cmd);
      const r = labDown(g.dir, g.prefix);
      process.stdout.write(
        `${r.hadState ? "" : `no lab state in ${g.dir}; `}removed ${r.processes} process(es), ${r.namespaces.length} namespace(s), ${r.dirs.length} director(ies)\n`,
      );
    });
}
