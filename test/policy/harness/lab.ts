import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hostIfName } from "../../../core/ifname.js";
import type { Netns } from "../../../core/netns.js";
import type { Daemon, Kit } from "../../kit/kit.js";
import type { Matrix, PortKey } from "../../../lab/matrix.js";
import { ProbeClient, type ProbeOutcome } from "../../../lab/probe.js";

export { formatMatrix, matrixDiff, type Matrix, type PortKey } from "../../../lab/matrix.js";
export type { ProbeOutcome } from "../../../lab/probe.js";

/**
 * Pods and nodes wired the way Calico's CNI plugin wires them, in namespaces:
 * each pod's eth0 has a /32 and a default route via 169.254.1.1, which the
 * host side of its veth (named by hostIfName) answers by proxy ARP; the node
 * has a /32 route per local pod pointing at that veth and forwards. Nodes are
 * joined by one veth and route each other's pod ranges, so cross-node traffic
 * is plain routed traffic, never NATed.
 */
export interface LabPodSpec {
  readonly namespace: string;
  readonly name: string;
  readonly node: string;
  readonly ip: string;
  /** The pod's IPv6 address (dual stack), if it has one. */
  readonly ip6?: string;
}

export interface LabPod extends LabPodSpec {
  readonly key: string;
  readonly hostIf: string;
  readonly netns: Netns;
}

export interface LabNode {
  readonly name: string;
  readonly netns: Netns;
  /** The node's own address on the inter-node link. */
  readonly ip: string;
  readonly podCidr: string;
  /** The same for IPv6 (used when pods are dual stack). */
  readonly ip6: string;
  readonly podCidr6: string;
}

export const LAB_PORTS: readonly PortKey[] = ["80/TCP", "81/TCP", "80/UDP", "81/UDP"];

/** 3 namespaces × 3 pods on node1, one pod of x and y on node2 for cross-node peers. */
export function defaultPods(): LabPodSpec[] {
  const pods: LabPodSpec[] = [];
  ["x", "y", "z"].forEach((ns, i) =>
    ["a", "b", "c"].forEach((name, j) =>
      pods.push({
        namespace: ns,
        name,
        node: "node1",
        ip: `10.244.1.${i * 3 + j + 2}`,
        ip6: `fd00:10:244:1::${(i * 3 + j + 2).toString(16)}`,
      }),
    ),
  );
  pods.push({ namespace: "x", name: "d", node: "node2", ip: "10.244.2.2", ip6: "fd00:10:244:2::2" });
  pods.push({ namespace: "y", name: "d", node: "node2", ip: "10.244.2.3", ip6: "fd00:10:244:2::3" });
  return pods;
}

/**
 * No duplicate address detection for the links a namespace gets: a link-local address stays
 * tentative for about a second after its link comes up, and neighbour discovery cannot use it until
 * then, so the first probes over IPv6 would depend on how fast the test runs.
 */
async function noDad(netns: Netns): Promise<void> {
  await netns.sysctl("net.ipv6.conf.default.accept_dad", "0");
  await netns.sysctl("net.ipv6.conf.all.accept_dad", "0");
}

const AGENT = fileURLToPath(new URL("../../../lab/pod-agent.js", import.meta.url));

export class PolicyLab {
  private constructor(
    readonly kit: Kit,
    readonly nodes: ReadonlyMap<string, LabNode>,
    readonly pods: readonly LabPod[],
    private readonly client: ProbeClient,
  ) {}

  static async create(
    kit: Kit,
    specs: readonly LabPodSpec[] = defaultPods(),
    opts: { servePorts?: readonly number[] } = {},
  ): Promise<PolicyLab> {
    const nodeNames = [...new Set(specs.map((p) => p.node))].sort();
    const dual = specs.some((p) => p.ip6 !== undefined);
    if (nodeNames.length > 2) throw new Error("the lab joins at most two nodes");
    const nodes = new Map<string, LabNode>();
    await Promise.all(
      nodeNames.map(async (name, i) => {
        const netns = await kit.netns(name);
        if (dual) await noDad(netns);
        // By the node's place in the sorted names: the map fills in whatever order the namespaces came.
        nodes.set(name, {
          name,
          netns,
          ip: `192.168.255.${i + 1}`,
          podCidr: `10.244.${i + 1}.0/24`,
          ip6: `fd00:ffff::${i + 1}`,
          podCidr6: `fd00:10:244:${i + 1}::/64`,
        });
      }),
    );
    for (const n of nodes.values()) {
      await n.netns.sysctl("net.ipv4.ip_forward", "1");
      await n.netns.sysctl("net.ipv4.conf.all.rp_filter", "0");
      await n.netns.sysctl("net.ipv4.conf.default.rp_filter", "0");
      // Proxy ARP answers only for addresses the node routes out of another
      // link; a route to lo gives 169.254.1.1 one without a default route
      // (this kernel has no dummy links).
      await n.netns.route(["169.254.1.1/32", "dev", "lo"]);
    }
    if (dual) for (const n of nodes.values()) await n.netns.sysctl("net.ipv6.conf.all.forwarding", "1");
    const [n1, n2] = [...nodes.values()];
    if (n1 && n2) {
      await kit.veth(n1.netns, "tortienode", n2.netns, "tortienode");
      await n1.netns.addr("tortienode", `${n1.ip}/30`);
      await n2.netns.addr("tortienode", `${n2.ip}/30`);
      await n1.netns.route([n2.podCidr, "via", n2.ip]);
      await n2.netns.route([n1.podCidr, "via", n1.ip]);
      if (dual) {
        await n1.netns.addr("tortienode", `${n1.ip6}/126`);
        await n2.netns.addr("tortienode", `${n2.ip6}/126`);
        await n1.netns.route([n2.podCidr6, "via", n2.ip6]);
        await n2.netns.route([n1.podCidr6, "via", n1.ip6]);
      }
    }
    const pods = await Promise.all(
      specs.map(async (spec): Promise<LabPod> => {
        const node = nodes.get(spec.node);
        if (!node) throw new Error(`no node ${spec.node}`);
        const netns = await kit.netns(`p-${spec.namespace}-${spec.name}`);
        if (spec.ip6 !== undefined) await noDad(netns);
        const hostIf = hostIfName(spec.namespace, spec.name);
        await kit.veth(node.netns, hostIf, netns, "eth0");
        await netns.addr("eth0", `${spec.ip}/32`);
        await netns.route(["169.254.1.1", "dev", "eth0", "scope", "link"]);
        await netns.route(["default", "via", "169.254.1.1", "dev", "eth0"]);
        await node.netns.sysctl(`net.ipv4.conf.${hostIf}.proxy_arp`, "1");
        await node.netns.sysctl(`net.ipv4.neigh.${hostIf}.proxy_delay`, "0");
        await node.netns.route([`${spec.ip}/32`, "dev", hostIf, "scope", "link"]);
        if (spec.ip6 !== undefined) {
          // The host side answers for fe80::1, the pod's IPv6 gateway, as Calico's veths do.
          await node.netns.addr(hostIf, "fe80::1/64");
          await netns.addr("eth0", `${spec.ip6}/128`);
          await netns.ip(["-6", "route", "replace", "default", "via", "fe80::1", "dev", "eth0"]);
          await node.netns.route([`${spec.ip6}/128`, "dev", hostIf]);
        }
        return { ...spec, key: `${spec.namespace}/${spec.name}`, hostIf, netns };
      }),
    );
    const ports = opts.servePorts?.map(String) ?? [...new Set(LAB_PORTS.map((p) => p.split("/")[0] ?? ""))];
    const dir = kit.dir("policy-lab");
    const agents = new Map<string, { daemon: Daemon; socket: string }>();
    for (const p of pods) {
      const socket = join(dir, `${p.namespace}.${p.name}.sock`);
      const daemon = kit.spawn(p.netns, process.execPath, [AGENT, socket, ...ports], {
        name: `agent-${p.namespace}-${p.name}`,
      });
      agents.set(p.key, { daemon, socket });
    }
    await Promise.all([...agents.values()].map((a) => a.daemon.waitForOutput(/READY/, 20_000)));
    const client = await ProbeClient.connect(
      pods.map((p) => ({
        key: p.key,
        ip: p.ip,
        ...(p.ip6 !== undefined ? { ip6: p.ip6 } : {}),
        socket: agents.get(p.key)?.socket ?? "",
      })),
    );
    return new PolicyLab(kit, nodes, pods, client);
  }

  pod(key: string): LabPod {
    const p = this.pods.find((x) => x.key === key);
    if (!p) throw new Error(`no pod ${key} in the lab`);
    return p;
  }

  node(name: string): LabNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name} in the lab`);
    return n;
  }

  /** Probes every pod pair on every port concurrently (see ProbeClient.probe), over IPv4 or IPv6. */
  probe(ports: readonly PortKey[] = LAB_PORTS, timeoutMs = 400, family: 4 | 6 = 4): Promise<ProbeOutcome> {
    return this.client.probe(ports, timeoutMs, undefined, family);
  }

  /**
   * The expected matrices from a predicate written by hand from the Kubernetes API reference. A pod
   * talking to itself never leaves its namespace (loopback), so no policy of any CNI sees it: those
   * cells are always allowed.
   */
  expect(
    allowed: (from: LabPod, to: LabPod, port: PortKey) => boolean,
    ports = LAB_PORTS,
  ): Record<PortKey, Matrix> {
    const out = {} as Record<PortKey, Matrix>;
    for (const port of ports) {
      const m: Matrix = {};
      for (const a of this.pods) {
        const row: Record<string, boolean> = {};
        for (const b of this.pods) row[b.key] = a.key === b.key || allowed(a, b, port);
        m[a.key] = row;
      }
      out[port] = m;
    }
    return out;
  }

  close(): void {
    this.client.close();
  }
}
