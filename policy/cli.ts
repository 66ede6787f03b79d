/**
 * The `tortie policy` command group: validate and explain (here), render (the dataplane's, attached
 * through POLICY_SUBCOMMANDS below).
 */
import { Command } from "commander";
import { type FieldProblem, ValidationError, formatProblem } from "../core/errors.js";
import { log } from "../core/log.js";
import { emit } from "../cli/output.js";
import { commitStaged, explain, explainText, parseEndpointArg, parsePortArg } from "./explain.js";
import { networkSetRef } from "./ir.js";
import { type Policy, refText } from "./model.js";
import { registerRenderCommand } from "./render-cli.js";
import { loadStateFile } from "./state.js";

export interface ValidateReport {
  readonly valid: boolean;
  readonly files: readonly string[];
  /** `Kind namespace/name` of every valid policy object. */
  readonly policies: readonly string[];
  /** `NetworkSet namespace/name` / `GlobalNetworkSet name` of every valid network set. */
  readonly networkSets: readonly string[];
  /** Names of the valid Tier objects. */
  readonly tiers: readonly string[];
  /** `Kind namespace/name` of every valid staged policy (never enforced). */
  readonly staged: readonly string[];
  /** Not errors: policies naming a tier no file defines (enforced, sorted last, until it exists). */
  readonly notes: readonly string[];
  readonly problems: readonly FieldProblem[];
}

export function validateFiles(files: readonly string[]): ValidateReport {
  const policies: string[] = [];
  const networkSets: string[] = [];
  const tiers: string[] = [];
  const staged: string[] = [];
  const tiered: Policy[] = [];
  const problems: FieldProblem[] = [];
  for (const f of files) {
    const r = loadStateFile(f);
    policies.push(...r.policies.map((p) => refText(p.ref)));
    tiered.push(...r.policies.filter((p) => p.tierName !== undefined));
    for (const s of r.state.networkSets ?? []) networkSets.push(networkSetRef(s.namespace, s.name));
    for (const tr of r.state.tiers ?? []) tiers.push(tr.name);
    for (const st of r.staged ?? []) {
      const ref = st.policy.ref;
      staged.push(`${st.kind} ${ref.namespace === null ? ref.name : `${ref.namespace}/${ref.name}`}`);
    }
    problems.push(...r.problems);
  }
  const notes = tiered
    .filter((p) => p.tierName !== undefined && !tiers.includes(p.tierName))
    .map(
      (p) =>
        `${refText(p.ref)}: spec.tier ${p.tierName ?? ""} is defined by no Tier in these files (until one exists it is enforced in a tier sorted last, which denies what its policies do not decide)`,
    );
  return { valid: problems.length === 0, files, policies, networkSets, tiers, staged, notes, problems };
}

function registerValidate(policy: Command): void {
  policy
    .command("validate")
    .description("check policy files offline (Kubernetes, tortie.io/v1 and Calico v3 policies; state files)")
    .argument("<file...>", "YAML files, multi-document")
    .option("--json", "print the report as JSON")
    .action((files: string[], opts: { json?: boolean }) => {
      const r = validateFiles(files);
      if (opts.json) {
        emit(true, r, () => "");
        if (!r.valid) process.exitCode = 2;
        return;
      }
      if (!r.valid) throw new ValidationError(r.problems);
      emit(false, r, (d) => {
        const others = [
          ...(d.networkSets.length ? [`${d.networkSets.length} network set(s)`] : []),
          ...(d.tiers.length ? [`${d.tiers.length} tier(s)`] : []),
          ...(d.staged.length ? [`${d.staged.length} staged policy(ies)`] : []),
        ];
        const what = [`${d.policies.length} policy object(s)`, ...others];
        const list = what.length > 1 ? `${what.slice(0, -1).join(", ")} and ${what.at(-1) ?? ""}` : what[0];
        return [`ok: ${list} valid in ${d.files.length} file(s)`, ...d.notes.map((n) => `note: ${n}`)].join(
          "\n",
        );
      });
    });
}

function registerExplain(policy: Command): void {
  policy
    .command("explain")
    .description("say whether a connection is allowed, and which policy and rule decided")
    .requiredOption("--state <file>", "state file: Namespaces, Pods and policies (multi-document YAML)")
    .requiredOption("--from <ns/pod|ip>", "source pod, or an address (outside the cluster: a network set's)")
    .requiredOption("--to <ns/pod|ip>", "destination pod, or an address")
    .requiredOption("--port <port/proto>", "destination port and protocol, e.g. 80/TCP")
    .option("--staged", "as if the state's staged policies (Calico's) were committed; says what changes")
    .option("--json", "print the report as JSON")
    .action(
      (opts: { state: string; from: string; to: string; port: string; staged?: boolean; json?: boolean }) => {
        const from = parseEndpointArg("--from", opts.from);
        const to = parseEndpointArg("--to", opts.to);
        const port = parsePortArg(opts.port);
        const loaded = loadStateFile(opts.state);
        // A bad object never hides the verdict for the others, but the user must know it was skipped.
        for (const p of loaded.problems) log().warn(`skipped: ${formatProblem(p)}`);
        if (!opts.staged) {
          emit(opts.json, explain(loaded, from, to, port), explainText);
          return;
        }
        const committed = commitStaged(loaded);
        const without = explain(loaded, from, to, port);
        const report = {
          ...explain(committed.loaded, from, to, port),
          staged: { applied: committed.applied, verdictWithout: without.verdict },
        };
        emit(opts.json, report, explainText);
      },
    );
}

/**
 * Subcommands of `tortie policy`, one line each. The dataplane's `render` attaches here:
 * `registerRenderCommand` from policy/render-cli.ts.
 */
const POLICY_SUBCOMMANDS: ReadonlyArray<(policy: Command) => void> = [
  registerValidate,
  registerExplain,
  registerRenderCommand,
];

export function buildPolicyCommand(): Command {
  const policy = new Command("policy").description(
    "NetworkPolicy: validate, explain, render (Kubernetes, tortie.io/v1, Calico v3)",
  );
  for (const add of POLICY_SUBCOMMANDS) add(policy);
  return policy;
}

export function registerPolicyCommands(program: Command): void {
  program.addCommand(buildPolicyCommand());
}
