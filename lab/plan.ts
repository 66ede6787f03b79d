import { join } from "node:path";
import type { StoredObject } from "../datastore/types.js";

/**
 * The lab's topology as data: what `tortie lab up` builds, derived only from its options, so the
 * names, addresses and router configurations are tested without root and `down` / `status` can
 * rebuild the same picture from the state file.
 */

export type TorKind = "bird" | "frr";

/** Namespaces of the lab start with this; test namespaces are `tortie-<pid>-…`, so neither sweeps the other. */
export const DEFAULT_PREFIX = "tortie-lab-";
export const DEFAULT_DIR = "/run/tortie-lab";
export const TOR_ASN = 65000;
export const NODE_ASN = 64512;
export const FABRIC_PREFIX_LEN = 24;
export const TOR_IP = "10.99.0.1";
export const POOL_CIDR = "10.244.0.0/16";
export const BLOCK_SIZE = 26;
export const MAX_NODES = 40;
/** What every pod serves, TCP and UDP. */
export const POD_PORTS = [80, 81] as const;

export interface LabOptions {
  readonly nodes: number;
  readonly tor: TorKind;
  readonly podsPerNode: number;
  /** Namespace name prefix. */
  readonly prefix: string;
  /** Where the lab keeps its state, datastore, logs and sockets. */
  readonly dir: string;
}

export interface NodePlan {
  readonly name: string;
  readonly netns: string;
  /** The node's address on the rack's bridge, with its prefix length. */
  readonly ip: string;
  /** Its port's name inside the ToR namespace (attached to the bridge). */
  readonly torPort: string;
  readonly control: string;
  readonly log: string;
  /** The CNI network configuration directory of this node (the conflist names the node). */
  readonly cniConfDir: string;
}

export interface PodPlan {
  readonly namespace: string;
  readonly name: string;
  readonly node: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface LabPlan {
  readonly prefix: string;
  readonly dir: string;
  readonly datastoreDir: string;
  readonly cniBinDir: string;
  readonly tor: { readonly kind: TorKind; readonly netns: string; readonly ip: string; readonly asn: number };
  readonly nodes: readonly NodePlan[];
  readonly pods: readonly PodPlan[];
}

/** The three tiers the default pods belong to, one namespace each, so the examples have something to split. */
const TIERS = [
  { namespace: "frontend", app: "web" },
  { namespace: "backend", app: "api" },
  { namespace: "data", app: "db" },
] as const;

export function nodeName(i: number): string {
  return `node${i}`;
}

/** node1 → 10.99.0.11, node2 → .12, … node40 → .50. */
export function nodeAddress(i: number): string {
  return `10.99.0.${10 + i}`;
}

export function podKey(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}

export function podNetns(prefix: string, p: { namespace: string; name: string }): string {
  return `${prefix}pod-${p.namespace}-${p.name}`;
}

/** A pod's agent control socket; short, because a Unix socket path has at most 107 bytes. */
export function podSocket(dir: string, p: { namespace: string; name: string }): string {
  return join(dir, "pods", `${p.namespace}.${p.name}.sock`);
}

export function validateOptions(o: LabOptions): string | undefined {
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > MAX_NODES)
    return `--nodes must be a whole number from 1 to ${MAX_NODES}, not ${o.nodes}`;
  if (!Number.isInteger(o.podsPerNode) || o.podsPerNode < 0 || o.podsPerNode > 50)
    return `--pods-per-node must be a whole number from 0 to 50, not ${o.podsPerNode}`;
  if (o.tor !== "bird" && o.tor !== "frr") return `--tor must be bird or frr, not ${String(o.tor)}`;
  if (!/^[a-z0-9-]{1,24}$/.test(o.prefix))
    return `the namespace prefix ${o.prefix} must be 1-24 of [a-z0-9-]`;
  return undefined;
}

export function planLab(o: LabOptions): LabPlan {
  const nodes: NodePlan[] = [];
  for (let i = 1; i <= o.nodes; i++) {
    const name = nodeName(i);
    nodes.push({
      name,
      netns: `${o.prefix}${name}`,
      ip: `${nodeAddress(i)}/${FABRIC_PREFIX_LEN}`,
      torPort: name,
      control: join(o.dir, "nodes", name, "node.sock"),
      log: join(o.dir, "logs", `${name}.log`),
      cniConfDir: join(o.dir, "nodes", name, "net.d"),
    });
  }
  const pods: PodPlan[] = [];
  const taken = new Set<string>();
  nodes.forEach((n, ni) => {
    for (let k = 0; k < o.podsPerNode; k++) {
      const tier = TIERS[(ni + k) % TIERS.length] ?? TIERS[0];
      let name = `${tier.app}-${ni + 1}`;
      for (let c = 2; taken.has(`${tier.namespace}/${name}`); c++) name = `${tier.app}-${ni + 1}-${c}`;
      taken.add(`${tier.namespace}/${name}`);
      pods.push({ namespace: tier.namespace, name, node: n.name, labels: { app: tier.app } });
    }
  });
  return {
    prefix: o.prefix,
    dir: o.dir,
    datastoreDir: join(o.dir, "datastore"),
    cniBinDir: join(o.dir, "cni", "bin"),
    tor: { kind: o.tor, netns: `${o.prefix}tor`, ip: TOR_IP, asn: TOR_ASN },
    nodes,
    pods,
  };
}

/** The node a new pod goes to: the one named in its spec, else the one with the fewest pods (first on a tie). */
export function placePod(
  nodes: readonly string[],
  pods: readonly { node: string }[],
  wanted: string | undefined,
): string | undefined {
  if (wanted !== undefined) return nodes.includes(wanted) ? wanted : undefined;
  let best: string | undefined;
  let bestCount = Infinity;
  for (const n of nodes) {
    const c = pods.filter((p) => p.node === n).length;
    if (c < bestCount) [best, bestCount] = [n, c];
  }
  return best;
}

/**
 * bird2 as the top-of-rack router: one eBGP session per node, everything learned installed into
 * the ToR's own kernel table (so it forwards to pods), nothing advertised back. Short timers, so a
 * node or router restart in the lab is seen in seconds rather than minutes.
 */
export function birdConfig(plan: LabPlan): string {
  const lines = [
    `router id ${plan.tor.ip};`,
    "protocol device { scan time 2; }",
    "protocol kernel {",
    "  ipv4 { import none; export all; };",
    "  merge paths on;",
    "}",
    "template bgp node {",
    `  local ${plan.tor.ip} as ${plan.tor.asn};`,
    "  hold time 9; keepalive time 3; connect retry time 2; error wait time 1, 4;",
    "  graceful restart on;",
    "  ipv4 { import all; export none; };",
    "}",
  ];
  for (const n of plan.nodes)
    lines.push(`protocol bgp ${n.name} from node { neighbor ${n.ip.split("/")[0]} as ${NODE_ASN}; }`);
  return `${lines.join("\n")}\n`;
}

/** FRR's bgpd (run with -Z: no zebra, so nothing is installed into the ToR's kernel). */
export function frrConfig(plan: LabPlan): string {
  const lines = [
    "frr defaults datacenter",
    "hostname tor",
    "log stdout informational",
    `router bgp ${plan.tor.asn}`,
    ` bgp router-id ${plan.tor.ip}`,
    " no bgp ebgp-requires-policy",
    " bgp graceful-restart",
  ];
  for (const n of plan.nodes) {
    const ip = n.ip.split("/")[0] ?? "";
    lines.push(
      ` neighbor ${ip} remote-as ${NODE_ASN}`,
      ` neighbor ${ip} timers 3 9`,
      ` neighbor ${ip} timers connect 2`,
    );
  }
  lines.push(" address-family ipv4 unicast");
  for (const n of plan.nodes) lines.push(`  neighbor ${n.ip.split("/")[0] ?? ""} activate`);
  lines.push(" exit-address-family", "");
  return lines.join("\n");
}

const meta = (name: string, extra: Partial<StoredObject["metadata"]> = {}): StoredObject["metadata"] => ({
  name,
  ...extra,
});

/** The datastore's starting content: the pool, the BGP set-up (mesh + the ToR as a global peer), the nodes and the tiers' namespaces. */
export function initialObjects(plan: LabPlan): Array<{ kind: string; object: StoredObject }> {
  const out: Array<{ kind: string; object: StoredObject }> = [
    {
      kind: "IPPool",
      object: {
        apiVersion: "tortie.io/v1",
        kind: "IPPool",
        metadata: meta("lab-pool"),
        spec: { cidr: POOL_CIDR, blockSize: BLOCK_SIZE, natOutgoing: false, vxlanMode: "Never" },
      },
    },
    {
      kind: "BGPConfiguration",
      object: {
        apiVersion: "tortie.io/v1",
        kind: "BGPConfiguration",
        metadata: meta("default"),
        spec: { asNumber: NODE_ASN, nodeToNodeMeshEnabled: true },
      },
    },
    {
      kind: "BGPPeer",
      object: {
        apiVersion: "tortie.io/v1",
        kind: "BGPPeer",
        metadata: meta("tor"),
        spec: { peerIP: plan.tor.ip, asNumber: plan.tor.asn },
      },
    },
  ];
  for (const n of plan.nodes)
    out.push({
      kind: "Node",
      object: {
        apiVersion: "v1",
        kind: "Node",
        metadata: meta(n.name, {
          labels: { "kubernetes.io/hostname": n.name },
          annotations: { "tortie.io/ipv4-address": n.ip, "tortie.io/as-number": String(NODE_ASN) },
        }),
      },
    });
  for (const ns of [...new Set(plan.pods.map((p) => p.namespace))])
    out.push({ kind: "Namespace", object: namespaceObject(ns) });
  return out;
}

/** A Namespace as the API server makes it: with the automatic `kubernetes.io/metadata.name` label. */
export function namespaceObject(name: string, labels: Readonly<Record<string, string>> = {}): StoredObject {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: meta(name, { labels: { ...labels, "kubernetes.io/metadata.name": name } }),
  };
}

/** The Pod object the lab writes before the CNI ADD, as the kubelet's API server would hold it. */
export function podObject(p: PodPlan): StoredObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: meta(p.name, { namespace: p.namespace, labels: { ...p.labels } }),
    spec: {
      nodeName: p.node,
      containers: [
        {
          name: "server",
          ports: POD_PORTS.flatMap((port) => [
            { containerPort: port, protocol: "TCP" },
            { containerPort: port, protocol: "UDP" },
          ]),
        },
      ],
    },
    status: { phase: "Pending" },
  };
}
