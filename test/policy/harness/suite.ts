import type { Test } from "tap";
import { stringify } from "yaml";
import type { Backend } from "../../../policy/dataplane.js";
import { applyNft } from "../../../policy/nft/apply.js";
import { renderFull } from "../../../policy/nft/render.js";
import { Kit } from "../../kit/kit.js";
import { canonicalTable } from "./canonical.js";
import { Enforcer, type LabLabels } from "./enforce.js";
import { PolicyLab, formatMatrix, matrixDiff, type LabPod, type PortKey } from "./lab.js";

/**
 * The enforcement suite both backends run: one lab, a sequence of states applied one after the
 * other (so every step after the first is an update of the one before), the full matrix probed
 * after each. Every `allowed` predicate is written from the NetworkPolicy API reference, never
 * from tortie's output. Lab: namespaces x, y, z (labels ns=<name>) with pods a, b, c (pod=<name>)
 * on node1, and x/d, y/d on node2; every pod serves 80 and 81 over TCP and UDP.
 */
type Allowed = (from: LabPod, to: LabPod, port: PortKey) => boolean;
interface Step {
  readonly name: string;
  readonly labels?: LabLabels;
  readonly policies: readonly object[];
  readonly allowed: Allowed;
  /**
   * Also probed over IPv6 (every pod is dual stack): "same" when the step's expectation does not
   * depend on the family, else the IPv6 expectation (an ipBlock or net of one family does not match
   * the other).
   */
  readonly v6?: Allowed | "same";
  /** Extra checks on the kernel after the step (ruleset inspection). */
  readonly inspect?: (t: Test, enforcer: Enforcer) => Promise<void>;
}

const np = (namespace: string, name: string, spec: object): object => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  metadata: { namespace, name },
  spec,
});
const denyAllX = np("x", "deny-all", { podSelector: {} });
const toXa = { podSelector: { matchLabels: { pod: "a" } } };
const xaFromNsY = np("x", "from-y", {
  ...toXa,
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "y" } } }] }],
});
/** Two policies selecting x/a, plus deny-all: the same objects before and after a relabel. */
const unionOnXa = [
  denyAllX,
  np("x", "from-b", { ...toXa, ingress: [{ from: [{ podSelector: { matchLabels: { pod: "b" } } }] }] }),
  np("x", "from-z", { ...toXa, ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: "z" } } }] }] }),
];
const isolatedX: Allowed = (_f, to) => to.namespace !== "x";

/** The admin step's ingress side: protect-z, then NetworkPolicy in z, then the baseline for y. */
const adminAllowed: Allowed = (f, to, port) => {
  if (to.namespace === "z") {
    if (f.key === "x/a") return true;
    if (f.namespace === "y") return f.key === "y/a" && port === "80/TCP";
    return false;
  }
  if (to.namespace === "y") return !(f.namespace === "x" && port.startsWith("81/"));
  return true;
};

/** nft only: the table the engine's diffs built on node1 equals a full transaction of the same IR. */
const diffsEqualFull =
  (scratchName: string, message: string) =>
  async (t: Test, e: Enforcer): Promise<void> => {
    if (e.backend !== "nft") return;
    const ir = e.lastIR("node1");
    if (!ir) {
      t.fail("no IR");
      return;
    }
    const scratch = await e.lab.kit.netns(scratchName);
    await applyNft((c, a, o) => scratch.exec(c, a, o ?? {}), renderFull(ir));
    const list = ["-j", "list", "table", "inet", "tortie"];
    t.same(
      canonicalTable(await e.lab.node("node1").netns.exec("nft", list)),
      canonicalTable(await scratch.exec("nft", list)),
      message,
    );
  };

const STEPS: readonly Step[] = [
  { name: "no policy: every pair talks on every port", policies: [], allowed: () => true, v6: "same" },
  {
    name: "deny-all ingress in x: policyTypes defaults to [Ingress], absent ingress allows nothing",
    policies: [denyAllX],
    allowed: isolatedX,
    v6: "same",
  },
  {
    name: "ingress: [{}] (one empty rule) allows every source; it unions with deny-all",
    policies: [denyAllX, np("x", "all-to-a", { ...toXa, ingress: [{}] })],
    allowed: (_f, to) => to.namespace !== "x" || to.name === "a",
  },
  {
    name: "ingress: [] is the same as no ingress: nothing allowed",
    policies: [np("x", "empty-ingress", { podSelector: {}, ingress: [] })],
    allowed: isolatedX,
  },
  {
    name: "a podSelector peer means pods of the policy's own namespace only",
    policies: [
      denyAllX,
      np("x", "from-b", { ...toXa, ingress: [{ from: [{ podSelector: { matchLabels: { pod: "b" } } }] }] }),
    ],
    allowed: (f, to) => to.namespace !== "x" || (to.key === "x/a" && f.key === "x/b"),
  },
  {
    name: "a namespaceSelector peer means every pod of those namespaces, on any node",
    policies: [denyAllX, xaFromNsY],
    allowed: (f, to) => to.namespace !== "x" || (to.key === "x/a" && f.namespace === "y"),
    v6: "same",
  },
  {
    name: "namespaceSelector and podSelector in ONE peer are ANDed",
    policies: [
      denyAllX,
      np("x", "from-y-b", {
        ...toXa,
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { ns: "y" } }, podSelector: { matchLabels: { pod: "b" } } },
            ],
          },
        ],
      }),
    ],
    allowed: (f, to) => to.namespace !== "x" || (to.key === "x/a" && f.key === "y/b"),
  },
  {
    name: "two peers are ORed",
    policies: [
      denyAllX,
      np("x", "from-y-or-b", {
        ...toXa,
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { ns: "y" } } },
              { podSelector: { matchLabels: { pod: "b" } } },
            ],
          },
        ],
      }),
    ],
    allowed: (f, to) =>
      to.namespace !== "x" || (to.key === "x/a" && (f.namespace === "y" || f.key === "x/b")),
  },
  {
    name: "an empty namespaceSelector selects all namespaces",
    policies: [
      denyAllX,
      np("x", "from-any-c", {
        ...toXa,
        ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: "c" } } }] }],
      }),
    ],
    allowed: (f, to) => to.namespace !== "x" || (to.key === "x/a" && f.name === "c"),
  },
  {
    name: "matchExpressions In, NotIn, Exists, DoesNotExist",
    policies: [
      np("z", "expr", {
        podSelector: { matchExpressions: [{ key: "pod", operator: "In", values: ["a", "b"] }] },
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchExpressions: [{ key: "ns", operator: "NotIn", values: ["x"] }] },
                podSelector: { matchExpressions: [{ key: "pod", operator: "Exists" }] },
              },
              { podSelector: { matchExpressions: [{ key: "team", operator: "DoesNotExist" }] } },
            ],
          },
        ],
      }),
    ],
    // Into z/a and z/b: from any pod of y and z (NotIn x, pod exists), or any pod of z (no team label).
    allowed: (f, to) => !(to.namespace === "z" && ["a", "b"].includes(to.name)) || f.namespace !== "x",
  },
  {
    name: "a port without protocol is TCP; other ports and UDP stay closed",
    policies: [denyAllX, np("x", "tcp-80", { podSelector: {}, ingress: [{ ports: [{ port: 80 }] }] })],
    allowed: (_f, to, port) => to.namespace !== "x" || port === "80/TCP",
  },
  {
    name: "UDP with endPort opens the range for UDP only",
    policies: [
      denyAllX,
      np("x", "udp-80-81", {
        podSelector: {},
        ingress: [{ ports: [{ protocol: "UDP", port: 80, endPort: 81 }] }],
      }),
    ],
    allowed: (_f, to, port) => to.namespace !== "x" || port.endsWith("/UDP"),
  },
  {
    name: "a named port resolves on each destination pod, protocol included",
    labels: {
      ports: {
        "x/a": [{ name: "web", containerPort: 80, protocol: "TCP" }],
        "x/b": [{ name: "web", containerPort: 81 }],
        "x/c": [{ name: "other", containerPort: 80 }],
      },
    },
    policies: [
      denyAllX,
      np("x", "web", { podSelector: {}, ingress: [{ ports: [{ port: "web" }] }] }),
      np("x", "web-udp", { podSelector: {}, ingress: [{ ports: [{ port: "web", protocol: "UDP" }] }] }),
    ],
    allowed: (_f, to, port) =>
      to.namespace !== "x" ||
      (to.key === "x/a" && port === "80/TCP") ||
      (to.key === "x/b" && port === "81/TCP"),
    v6: "same",
  },
  {
    name: "egress ipBlock with except; a CIDR with host bits set acts as its network; pod IPs match",
    policies: [
      np("x", "egress-block", {
        podSelector: { matchLabels: { pod: "a" } },
        policyTypes: ["Egress"],
        egress: [{ to: [{ ipBlock: { cidr: "10.244.1.1/24", except: ["10.244.1.8/29"] } }] }],
      }),
    ],
    // x/a may reach 10.244.1.0/24 less .8–.15: x/b..y/c (.3–.7), not z/* (.8–.10) nor node2's 10.244.2.x.
    allowed: (f, to) => f.key !== "x/a" || (to.node === "node1" && to.namespace !== "z"),
    v6: (f) => f.key !== "x/a",
  },
  {
    name: "IPv6 egress ipBlock with except (host bits set): only IPv6 traffic matches it",
    policies: [
      np("x", "egress-block-v6", {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [{ to: [{ ipBlock: { cidr: "fd00:10:244:1::1/64", except: ["fd00:10:244:1::8/125"] } }] }],
      }),
    ],
    // Over IPv4 nothing matches the block: x's pods reach no one else.
    allowed: (f) => f.namespace !== "x",
    // fd00:10:244:1::/64 less ::8–::f: x and y on node1 (::2–::7), not z (::8–::a) nor node2.
    v6: (f, to) => f.namespace !== "x" || (to.node === "node1" && to.namespace !== "z"),
  },
  {
    name: "egress to a namespace on one port; policies of both directions combine",
    policies: [
      np("x", "a-egress", {
        podSelector: { matchLabels: { pod: "a" } },
        policyTypes: ["Egress"],
        egress: [
          {
            to: [{ namespaceSelector: { matchLabels: { ns: "y" } } }],
            ports: [{ port: 80, protocol: "TCP" }],
          },
        ],
      }),
      np("y", "deny-b", { podSelector: { matchLabels: { pod: "b" } } }),
    ],
    allowed: (f, to, port) =>
      to.key !== "y/b" && (f.key !== "x/a" || (to.namespace === "y" && port === "80/TCP")),
  },
  {
    name: "policyTypes [Ingress, Egress] without rules isolates a pod both ways",
    policies: [
      np("y", "lockdown", { podSelector: { matchLabels: { pod: "b" } }, policyTypes: ["Ingress", "Egress"] }),
    ],
    allowed: (f, to) => f.key !== "y/b" && to.key !== "y/b",
  },
  {
    name: "several policies selecting one pod allow the union of their rules",
    policies: unionOnXa,
    allowed: (f, to) =>
      to.namespace !== "x" || (to.key === "x/a" && (f.key === "x/b" || f.namespace === "z")),
  },
  {
    name: "pod relabel: x/c joins pod=b, x/b leaves it (set elements change, no chain is rewritten)",
    labels: { pods: { "x/b": { pod: "bb" }, "x/c": { pod: "b" } } },
    policies: unionOnXa,
    allowed: (f, to) =>
      (to.key === "x/b" ? false : to.namespace !== "x") ||
      (to.key === "x/a" && (f.key === "x/c" || f.namespace === "z")),
    v6: "same",
    inspect: (t, e) => {
      const r = e.lastReports;
      t.ok(
        r.every((x) => x.kind === "incremental" && x.chains === 0) && r.some((x) => x.setElements > 0),
        `only set elements changed: ${JSON.stringify(r)}`,
      );
      return Promise.resolve();
    },
  },
  {
    name: "namespace relabel: z takes ns=y and y loses it",
    labels: { namespaces: { y: { ns: "w" }, z: { ns: "y" } } },
    policies: [denyAllX, xaFromNsY],
    allowed: (f, to) => to.namespace !== "x" || (to.key === "x/a" && f.namespace === "z"),
    v6: "same",
  },
  {
    name: "Calico GlobalNetworkPolicy: Deny from z first, Pass hands the rest to the Kubernetes tier",
    policies: [
      {
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkPolicy",
        metadata: { name: "deny-from-z" },
        spec: {
          order: 10,
          selector: "all()",
          types: ["Ingress"],
          ingress: [{ action: "Deny", source: { namespaceSelector: "ns == 'z'" } }, { action: "Pass" }],
        },
      },
      denyAllX,
    ],
    allowed: (f, to) => f.namespace !== "z" && to.namespace !== "x",
    v6: "same",
    inspect: diffsEqualFull("scratch", "after many diffs node1 holds what a full transaction gives"),
  },
  {
    name: "Calico tiers: security denies z, platform decides y/c alone, team passes, baseline after the default tier",
    policies: [
      {
        apiVersion: "projectcalico.org/v3",
        kind: "Tier",
        metadata: { name: "security" },
        spec: { order: 100 },
      },
      {
        apiVersion: "projectcalico.org/v3",
        kind: "Tier",
        metadata: { name: "platform" },
        spec: { order: 200 },
      },
      {
        apiVersion: "projectcalico.org/v3",
        kind: "Tier",
        metadata: { name: "team" },
        spec: { order: 300, defaultAction: "Pass" },
      },
      { apiVersion: "tortie.io/v1", kind: "Tier", metadata: { name: "baseline" }, spec: { order: 2000000 } },
      {
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkPolicy",
        metadata: { name: "security.guard" },
        spec: {
          tier: "security",
          selector: "all()",
          types: ["Ingress"],
          ingress: [{ action: "Deny", source: { namespaceSelector: "ns == 'z'" } }, { action: "Pass" }],
        },
      },
      {
        // No Pass: what its one rule does not allow ends at the tier's default action, Deny.
        apiVersion: "projectcalico.org/v3",
        kind: "NetworkPolicy",
        metadata: { namespace: "y", name: "platform.c-from-x" },
        spec: {
          tier: "platform",
          selector: "pod == 'c'",
          types: ["Ingress"],
          ingress: [
            {
              action: "Allow",
              protocol: "TCP",
              source: { namespaceSelector: "ns == 'x'" },
              destination: { ports: [80] },
            },
          ],
        },
      },
      {
        apiVersion: "projectcalico.org/v3",
        kind: "NetworkPolicy",
        metadata: { namespace: "z", name: "team.b-no-81" },
        spec: {
          tier: "team",
          selector: "pod == 'b'",
          types: ["Ingress"],
          ingress: [
            { action: "Deny", protocol: "TCP", destination: { ports: [81] } },
            { action: "Deny", protocol: "UDP", destination: { ports: [81] } },
          ],
        },
      },
      denyAllX,
      xaFromNsY,
      {
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkPolicy",
        metadata: { name: "baseline.tcp-only" },
        spec: {
          tier: "baseline",
          selector: "all()",
          types: ["Ingress"],
          ingress: [{ action: "Deny", protocol: "UDP" }, { action: "Allow" }],
        },
      },
    ],
    // Written from Calico's tier reference: tiers by order, the first Allow/Deny decides, a tier
    // that applies and does not decide denies unless its defaultAction is Pass.
    allowed: (f, to, port) => {
      if (f.namespace === "z") return false; // security
      if (to.key === "y/c") return f.namespace === "x" && port === "80/TCP"; // platform
      if (to.key === "z/b" && port.startsWith("81/")) return false; // team; else it passes
      if (to.namespace === "x") return to.key === "x/a" && f.namespace === "y"; // default tier
      return port.endsWith("/TCP"); // baseline
    },
    v6: "same",
    inspect: diffsEqualFull(
      "scratch-tiers",
      "the tiers' chains, built by diffs, equal a full transaction of the same IR",
    ),
  },
  {
    name: "AdminNetworkPolicy before NetworkPolicy, BaselineAdminNetworkPolicy after it",
    policies: [
      {
        apiVersion: "policy.networking.k8s.io/v1alpha1",
        kind: "AdminNetworkPolicy",
        metadata: { name: "x-b-not-to-y-c" },
        spec: {
          priority: 5,
          subject: {
            pods: {
              namespaceSelector: { matchLabels: { ns: "x" } },
              podSelector: { matchLabels: { pod: "b" } },
            },
          },
          egress: [{ action: "Deny", to: [{ networks: ["10.244.1.7/32"] }] }], // y/c
        },
      },
      {
        apiVersion: "policy.networking.k8s.io/v1alpha1",
        kind: "AdminNetworkPolicy",
        metadata: { name: "protect-z" },
        spec: {
          priority: 10,
          subject: { namespaces: { matchLabels: { ns: "z" } } },
          ingress: [
            {
              action: "Allow",
              from: [
                {
                  pods: {
                    namespaceSelector: { matchLabels: { ns: "x" } },
                    podSelector: { matchLabels: { pod: "a" } },
                  },
                },
              ],
            },
            { action: "Pass", from: [{ namespaces: { matchLabels: { ns: "y" } } }] },
            { action: "Deny", from: [{ namespaces: {} }] },
          ],
        },
      },
      np("z", "from-y-a", {
        podSelector: {},
        ingress: [
          {
            from: [
              { namespaceSelector: { matchLabels: { ns: "y" } }, podSelector: { matchLabels: { pod: "a" } } },
            ],
            ports: [{ port: 80 }],
          },
        ],
      }),
      {
        apiVersion: "policy.networking.k8s.io/v1alpha1",
        kind: "BaselineAdminNetworkPolicy",
        metadata: { name: "default" },
        spec: {
          subject: { namespaces: { matchLabels: { ns: "y" } } },
          ingress: [
            {
              action: "Deny",
              from: [{ namespaces: { matchLabels: { ns: "x" } } }],
              ports: [
                { portNumber: { protocol: "TCP", port: 81 } },
                { portNumber: { protocol: "UDP", port: 81 } },
              ],
            },
          ],
        },
      },
    ],
    // Written from the AdminNetworkPolicy API reference: admin rules by priority, Allow/Deny final,
    // Pass (or no match) to NetworkPolicy; the baseline only where no NetworkPolicy isolates.
    allowed: (f, to, port) => !(f.key === "x/b" && to.key === "y/c") && adminAllowed(f, to, port),
    // The egress Deny names an IPv4 network only.
    v6: (f, to, port) => adminAllowed(f, to, port),
    inspect: diffsEqualFull(
      "scratch-admin",
      "the admin tiers' chains, built by diffs, equal a full transaction",
    ),
  },
  {
    name: "Calico network sets: a GlobalNetworkSet denied everywhere, a NetworkSet allowed in its namespace",
    policies: [
      {
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkSet",
        metadata: { name: "feed", labels: { feed: "bad" } },
        spec: { nets: ["10.244.1.8/30"] }, // z/a, z/b, z/c as if they were outside the cluster
      },
      {
        apiVersion: "projectcalico.org/v3",
        kind: "NetworkSet",
        metadata: { namespace: "x", name: "trusted", labels: { role: "trusted" } },
        spec: { nets: ["10.244.1.5"] }, // y/a
      },
      {
        apiVersion: "projectcalico.org/v3",
        kind: "NetworkSet",
        metadata: { namespace: "y", name: "trusted", labels: { role: "trusted" } },
        spec: { nets: ["10.244.1.3/32"] }, // x/b, but in y: x's policies do not see it
      },
      {
        apiVersion: "projectcalico.org/v3",
        kind: "NetworkPolicy",
        metadata: { namespace: "x", name: "a-from-trusted" },
        spec: {
          order: 5,
          selector: "pod == 'a'",
          types: ["Ingress"],
          ingress: [{ action: "Allow", source: { selector: "role == 'trusted'" } }, { action: "Deny" }],
        },
      },
      {
        apiVersion: "projectcalico.org/v3",
        kind: "GlobalNetworkPolicy",
        metadata: { name: "deny-feed" },
        spec: {
          order: 10,
          selector: "all()",
          types: ["Ingress"],
          ingress: [
            { action: "Deny", source: { namespaceSelector: "global()", selector: "feed == 'bad'" } },
            { action: "Pass" },
          ],
        },
      },
    ],
    allowed: (f, to) => (to.key === "x/a" ? f.key === "y/a" : f.namespace !== "z"),
    v6: (_f, to) => to.key !== "x/a",
  },
  {
    name: "Calico services: x/a may reach only the endpoints of Service y/web, on its port",
    policies: [
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { namespace: "y", name: "web-1", labels: { "kubernetes.io/service-name": "web" } },
        addressType: "IPv4",
        endpoints: [{ addresses: ["10.244.1.6"] }], // y/b
        ports: [{ name: "http", port: 80, protocol: "TCP" }],
      },
      {
        apiVersion: "projectcalico.org/v3",
        kind: "NetworkPolicy",
        metadata: { namespace: "x", name: "a-to-web" },
        spec: {
          selector: "pod == 'a'",
          types: ["Egress"],
          egress: [{ action: "Allow", destination: { services: { name: "web", namespace: "y" } } }],
        },
      },
    ],
    allowed: (f, to, port) => f.key !== "x/a" || (to.key === "y/b" && port === "80/TCP"),
    v6: (f) => f.key !== "x/a",
  },
  {
    name: "SCTP: the rule is in the kernel (this kernel cannot carry SCTP); TCP and UDP stay denied",
    policies: [
      denyAllX,
      np("x", "sctp-80", { podSelector: {}, ingress: [{ ports: [{ protocol: "SCTP", port: 80 }] }] }),
    ],
    allowed: isolatedX,
    v6: "same",
    inspect: async (t, e) => {
      const node = e.lab.node("node1").netns;
      if (e.backend === "nft") {
        const json = await node.exec("nft", ["-j", "list", "table", "inet", "tortie"]);
        t.match(
          json,
          /"protocol": ?"sctp", ?"field": ?"dport"\}\}, ?"right": ?80/,
          "sctp dport 80 in the ruleset",
        );
      } else t.match(await node.exec("iptables-save", ["-t", "filter"]), /-p sctp -m multiport --dports 80 /);
    },
  },
  { name: "all policies removed: every pair talks again", policies: [], allowed: () => true, v6: "same" },
];

export function enforcementSuite(t: Test, backend: Backend): void {
  t.test(`NetworkPolicy enforcement with real packets (${backend})`, async (t) => {
    const kit = Kit.create(t);
    const lab = await PolicyLab.create(kit);
    t.teardown(() => lab.close());
    const enforcer = new Enforcer(lab, backend);
    t.teardown(() => enforcer.close());
    const via = { netlink: 0, nft: 0 };
    for (const step of STEPS) {
      const started = Date.now();
      await enforcer.apply(step.labels ?? {}, step.policies.map((p) => stringify(p)).join("---\n"));
      const applied = Date.now();
      const got = await lab.probe();
      const want = lab.expect(step.allowed);
      const diff = matrixDiff(want, got.matrices);
      t.same(diff, [], step.name);
      if (diff.length > 0)
        for (const [port, m] of Object.entries(got.matrices)) t.comment(`${port} got:\n${formatMatrix(m)}`);
      if (step.v6 !== undefined) {
        const got6 = await lab.probe(undefined, undefined, 6);
        const diff6 = matrixDiff(lab.expect(step.v6 === "same" ? step.allowed : step.v6), got6.matrices);
        t.same(diff6, [], `${step.name} (IPv6)`);
        if (diff6.length > 0)
          for (const [port, m] of Object.entries(got6.matrices))
            t.comment(`${port} got over IPv6:\n${formatMatrix(m)}`);
      }
      t.comment(`apply ${applied - started} ms, probe ${Date.now() - applied} ms`);
      for (const r of enforcer.lastReports)
        if (r.kind === "incremental" && r.chains > 0 && (r.via === "netlink" || r.via === "nft"))
          via[r.via]++;
      const fallbacks = enforcer.lastReports.flatMap((r) => (r.fallback ? [r.fallback] : []));
      if (fallbacks.length) t.fail(`${step.name}: went through nft -j -f: ${fallbacks.join("; ")}`);
      await step.inspect?.(t, enforcer);
    }
    if (backend === "nft")
      t.ok(via.netlink > 0 && via.nft === 0, `every chain rewrite went as a netlink batch (${via.netlink})`);
  });
}
