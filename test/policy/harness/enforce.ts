import { parseAllDocuments, stringify } from "yaml";
import { compileForNode, type Backend } from "../../../policy/dataplane.js";
import type { PolicyIR } from "../../../policy/ir.js";
import type { Runner } from "../../../policy/nft/apply.js";
import { deepEqual } from "../../../policy/equal.js";
import { PolicyEngine, type ProgramReport } from "../../../policy/engine.js";
import { loadStateText } from "../../../policy/state.js";
import type { PolicyLab } from "./lab.js";

/** Labels of the lab's cluster objects; tests relabel by passing overrides. */
export interface LabLabels {
  /** "ns/pod" → labels; default `{pod: <name>}`. */
  readonly pods?: Readonly<Record<string, Record<string, string>>>;
  /** namespace → labels; default `{ns: <name>}`. */
  readonly namespaces?: Readonly<Record<string, Record<string, string>>>;
  /** "ns/pod" → container ports; default serve-80-tcp, serve-81-tcp, serve-80-udp, serve-81-udp. */
  readonly ports?: Readonly<
    Record<string, Array<{ name?: string; containerPort: number; protocol?: string }>>
  >;
}

const DEFAULT_PORTS = [
  { name: "serve-80-tcp", containerPort: 80, protocol: "TCP" },
  { name: "serve-81-tcp", containerPort: 81, protocol: "TCP" },
  { name: "serve-80-udp", containerPort: 80, protocol: "UDP" },
  { name: "serve-81-udp", containerPort: 81, protocol: "UDP" },
];

/** The v1 Namespace and Pod documents of the lab, as a state file holds them. */
export function labStateYaml(lab: PolicyLab, labels: LabLabels = {}): string {
  const docs: unknown[] = [];
  for (const ns of [...new Set(lab.pods.map((p) => p.namespace))].sort())
    docs.push({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: ns, labels: labels.namespaces?.[ns] ?? { ns } },
    });
  for (const p of lab.pods)
    docs.push({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { namespace: p.namespace, name: p.name, labels: labels.pods?.[p.key] ?? { pod: p.name } },
      spec: { nodeName: p.node, containers: [{ name: "c", ports: labels.ports?.[p.key] ?? DEFAULT_PORTS }] },
      status: { podIP: p.ip, podIPs: [{ ip: p.ip }, ...(p.ip6 !== undefined ? [{ ip: p.ip6 }] : [])] },
    });
  return docs.map((d) => stringify(d)).join("---\n");
}

/** Identity of a document for remove(): kind, namespace, name. */
function docKey(d: Record<string, unknown>): { kind: string; namespace: string | undefined; name: string } {
  const md = (d["metadata"] ?? {}) as { name?: string; namespace?: string };
  return { kind: String(d["kind"]), namespace: md.namespace, name: md.name ?? "" };
}

/**
 * Puts a state into every node of the lab through one PolicyEngine per node, as the agent does:
 * every object upserted, vanished ones removed, then program() (a full transaction the first time,
 * incremental after). After each apply the engine's incremental IR must equal a full compile of the
 * same state: the suite's matrices then prove both.
 */
export class Enforcer {
  private readonly engines = new Map<string, PolicyEngine>();
  private readonly present = new Map<string, { kind: string; namespace: string | undefined; name: string }>();
  private readonly last = new Map<string, PolicyIR>();
  /** The engines' reports of the last apply, one per node. */
  lastReports: ProgramReport[] = [];

  constructor(
    readonly lab: PolicyLab,
    readonly backend: Backend,
  ) {
    for (const node of lab.nodes.keys())
      this.engines.set(node, new PolicyEngine({ node, backend, netns: lab.node(node).netns.name }));
  }

  runner(node: string): Runner {
    const ns = this.lab.node(node).netns;
    return (cmd, args, opts) => ns.exec(cmd, args, opts ?? {});
  }

  async apply(labels: LabLabels, policiesYaml: string): Promise<void> {
    const text = `${labStateYaml(this.lab, labels)}---\n${policiesYaml}`;
    const loaded = loadStateText(text, "test state");
    if (loaded.problems.length > 0)
      throw new Error(
        `state problems: ${loaded.problems.map((p) => `${p.object} ${p.path}: ${p.message}`).join("; ")}`,
      );
    const docs = parseAllDocuments(text)
      .map((d) => d.toJS() as unknown)
      .filter((d): d is Record<string, unknown> => typeof d === "object" && d !== null);
    const now = new Map(docs.map((d) => [JSON.stringify(docKey(d)), docKey(d)]));
    this.lastReports = await Promise.all(
      [...this.engines].map(async ([node, engine]) => {
        for (const d of docs) {
          const problems = engine.upsert(d);
          if (problems.length) throw new Error(`engine rejected ${JSON.stringify(problems)}`);
        }
        for (const [k, id] of this.present) if (!now.has(k)) engine.remove(id.kind, id.namespace, id.name);
        const report = await engine.program();
        const full = compileForNode(loaded, node);
        if (!deepEqual(engine.ir(), full))
          throw new Error(`node ${node}: the engine's incremental IR differs from a full compile`);
        this.last.set(node, full);
        return report;
      }),
    );
    this.present.clear();
    for (const [k, v] of now) this.present.set(k, v);
  }

  lastIR(node: string): PolicyIR | undefined {
    return this.last.get(node);
  }

  close(): void {
    for (const e of this.engines.values()) e.close();
  }
}
