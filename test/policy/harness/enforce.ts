import { stringify } from "yaml";
import { compileForNode, type Backend } from "../../../policy/dataplane.js";
import type { PolicyIR } from "../../../policy/ir.js";
import { applyIptables } from "../../../policy/iptables/apply.js";
import { renderIptables } from "../../../policy/iptables/render.js";
import { applyNft, type Runner } from "../../../policy/nft/apply.js";
import { renderDiff, renderFull } from "../../../policy/nft/render.js";
import type { NftDocument } from "../../../policy/nft/schema.js";
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
      status: { podIP: p.ip, podIPs: [{ ip: p.ip }] },
    });
  return docs.map((d) => stringify(d)).join("---\n");
}

/**
 * Puts a state into every node of the lab: compiled per node, then for nft a diff against what the
 * node got last (a full transaction the first time), for iptables the full bundle.
 */
export class Enforcer {
  private readonly last = new Map<string, PolicyIR>();
  /** The nft transactions of the last apply, one per node. */
  lastDocs: NftDocument[] = [];

  constructor(
    readonly lab: PolicyLab,
    readonly backend: Backend,
  ) {}

  runner(node: string): Runner {
    const ns = this.lab.node(node).netns;
    return (cmd, args, opts) => ns.exec(cmd, args, opts ?? {});
  }

  async apply(labels: LabLabels, policiesYaml: string): Promise<void> {
    const loaded = loadStateText(`${labStateYaml(this.lab, labels)}---\n${policiesYaml}`, "test state");
    if (loaded.problems.length > 0)
      throw new Error(
        `state problems: ${loaded.problems.map((p) => `${p.object} ${p.path}: ${p.message}`).join("; ")}`,
      );
    this.lastDocs = [];
    await Promise.all(
      [...this.lab.nodes.keys()].map(async (node) => {
        const ir = compileForNode(loaded, node);
        const run = this.runner(node);
        if (this.backend === "iptables") await applyIptables(run, renderIptables(ir));
        else {
          const before = this.last.get(node);
          const doc = before ? renderDiff(before, ir) : renderFull(ir);
          if (doc.nftables.length > 0) this.lastDocs.push(doc);
          await applyNft(run, doc);
        }
        this.last.set(node, ir);
      }),
    );
  }

  lastIR(node: string): PolicyIR | undefined {
    return this.last.get(node);
  }
}
