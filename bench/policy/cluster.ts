import type { ClusterState, ContainerPort, NamespaceState, PodState } from "../../policy/ir.js";
import type { LoadedState } from "../../policy/state.js";
import { loadStateText } from "../../policy/state.js";
import { stringify } from "yaml";

/**
 * A synthetic cluster the size the issue asks for: 10,000 pods in 500 namespaces (20 each), 91
 * nodes of 110 pods (node-0 is the one measured), 2,000 NetworkPolicies (4 per namespace) mixing
 * pod selectors, namespace selectors, ipBlocks with except and named ports. Deterministic.
 */
export const NAMESPACES = 500;
export const PODS_PER_NS = 20;
export const PODS_PER_NODE = 110;
export const NODE = "node-0";

const APPS = ["web", "api", "db", "cache", "queue"];

export function podIp(i: number): string {
  const n = i + 1;
  return `10.${64 + Math.floor(n / 65536)}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

/** The two pods iperf3 runs between: ns-0/pod-0 (app=web, tier=frontend) may reach ns-0/pod-5 (app=web) on http. */
export const CLIENT = { namespace: "ns-0", name: "pod-0", index: 0 };
export const SERVER = { namespace: "ns-0", name: "pod-5", index: 5 };
export const HTTP_PORT = 8080;

export function nsName(n: number): string {
  return `ns-${n}`;
}

export function podLabels(i: number, generation = 0): Record<string, string> {
  return {
    app: APPS[i % APPS.length] ?? "web",
    tier: i % 3 === 0 ? "frontend" : "backend",
    ...(generation > 0 ? { rev: String(generation) } : {}),
  };
}

const PORTS: ContainerPort[] = [
  { name: "http", containerPort: 8080, protocol: "TCP" },
  { name: "metrics", containerPort: 9090, protocol: "TCP" },
  { name: "dns", containerPort: 53, protocol: "UDP" },
];

export function clusterState(): ClusterState {
  const namespaces: NamespaceState[] = [];
  const pods: PodState[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    const name = nsName(n);
    namespaces.push({
      name,
      labels: { team: `team-${n % 50}`, env: n % 2 ? "prod" : "dev", "kubernetes.io/metadata.name": name },
    });
    for (let p = 0; p < PODS_PER_NS; p++) {
      const i = n * PODS_PER_NS + p;
      pods.push({
        namespace: name,
        name: `pod-${p}`,
        labels: podLabels(i),
        // Spread each namespace over several nodes, so node-0 sees many namespaces.
        nodeName:
          i === CLIENT.index || i === SERVER.index
            ? NODE
            : `node-${Math.floor(((i * 7919) % (NAMESPACES * PODS_PER_NS)) / PODS_PER_NODE)}`,
        serviceAccountName: "default",
        ports: PORTS,
        ips: [podIp(i)],
      });
    }
  }
  return { namespaces, pods, serviceAccounts: [] };
}

/** The v1 documents of the cluster's namespaces and pods, as a datastore hands them to the agent. */
export function clusterDocs(state: ClusterState): object[] {
  const docs: object[] = state.namespaces.map((n) => ({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: n.name, labels: n.labels },
  }));
  for (const p of state.pods) docs.push(podDoc(p));
  return docs;
}

export function podDoc(p: PodState, labels: Record<string, string> = p.labels): object {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { namespace: p.namespace, name: p.name, labels },
    spec: {
      ...(p.nodeName !== null ? { nodeName: p.nodeName } : {}),
      serviceAccountName: p.serviceAccountName,
      containers: [{ name: "c", ports: p.ports }],
    },
    status: { podIPs: p.ips.map((ip) => ({ ip })) },
  };
}

/** Four policies per namespace, as YAML documents (the same objects a user would write). */
export function policyDocs(generation = 0, only?: number): object[] {
  const docs: object[] = [];
  for (let n = 0; n < NAMESPACES; n++) {
    if (only !== undefined && n !== only) continue;
    const namespace = nsName(n);
    const app = APPS[n % APPS.length] ?? "web";
    const md = (name: string) => ({ namespace, name });
    docs.push({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: md("default-deny"),
      spec: { podSelector: {}, policyTypes: ["Ingress"] },
    });
    docs.push({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: md("allow-app"),
      spec: {
        podSelector: { matchLabels: { app } },
        ingress: [
          {
            from: [
              { podSelector: { matchLabels: { tier: "frontend" } } },
              { namespaceSelector: { matchLabels: { team: `team-${(n + 1) % 50}` } } },
            ],
            ports: [{ port: "http" }, { port: 8443, endPort: 8450 + generation }],
          },
        ],
      },
    });
    docs.push({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: md("allow-monitoring"),
      spec: {
        podSelector: { matchExpressions: [{ key: "tier", operator: "In", values: ["backend", "frontend"] }] },
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { env: "prod" } },
                podSelector: { matchLabels: { app: "queue" } },
              },
            ],
            ports: [{ port: "metrics" }],
          },
        ],
      },
    });
    docs.push({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: md("egress-blocks"),
      spec: {
        podSelector: { matchLabels: { tier: "backend" } },
        policyTypes: ["Egress"],
        egress: [
          {
            to: [
              {
                ipBlock: {
                  cidr: `172.${16 + (n % 16)}.0.0/16`,
                  except: [`172.${16 + (n % 16)}.${n % 256}.0/24`],
                },
              },
              { namespaceSelector: {} },
            ],
          },
          {
            to: [{ ipBlock: { cidr: "0.0.0.0/0", except: ["10.0.0.0/8", "192.168.0.0/16"] } }],
            ports: [{ port: 443 }],
          },
        ],
      },
    });
  }
  return docs;
}

/** The policies parsed and validated by the real loader (policies only; the state is built directly). */
export function loadPolicies(generation = 0): LoadedState["policies"] {
  const loaded = loadStateText(
    policyDocs(generation)
      .map((d) => stringify(d))
      .join("---\n"),
    "bench",
  );
  if (loaded.problems.length > 0)
    throw new Error(`bench policies invalid: ${JSON.stringify(loaded.problems[0])}`);
  return loaded.policies;
}
