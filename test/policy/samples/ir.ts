import { hostIfName } from "../../../core/ifname.js";
import type { IREndpoint, PolicyIR, PolicyRef } from "../../../policy/ir.js";

/**
 * A small IR written by hand (not compiled) that uses every construct a renderer must handle:
 * interval and named-port sets of both families, every action, negations, port ranges, ICMP with
 * and without code, SCTP, and a Pass in the extended tier.
 */
const k8s: PolicyRef = {
  apiVersion: "networking.k8s.io/v1",
  kind: "NetworkPolicy",
  namespace: "x",
  name: "web",
};
const ext: PolicyRef = {
  apiVersion: "tortie.io/v1",
  kind: "GlobalNetworkPolicy",
  namespace: null,
  name: "base",
};

function endpoint(namespace: string, pod: string, ipv4: string[], ipv6: string[]): IREndpoint {
  const ifName = hostIfName(namespace, pod);
  const tail = ifName.slice(4);
  return { namespace, pod, ifName, ipv4, ipv6, ingressChain: `tei-${tail}`, egressChain: `tee-${tail}` };
}

export function fixtureIR(variant: "a" | "b" = "a"): PolicyIR {
  const xa = endpoint("x", "a", ["10.244.1.2"], ["fd00:1::2"]);
  const xb = endpoint("x", "b", ["10.244.1.3"], []);
  const eps = variant === "a" ? [xa, xb] : [xa];
  const origin = (direction: "ingress" | "egress", ruleIndex: number, part: number, policy = k8s) => ({
    policy,
    direction,
    ruleIndex,
    part,
  });
  const peers = variant === "a" ? ["10.244.1.3/32", "10.244.2.0/24"] : ["10.244.1.4/32", "10.244.2.0/24"];
  return {
    node: "node1",
    preamble: { established: "accept", related: "accept", invalid: "drop" },
    sets: [
      {
        kind: "addr",
        name: "ts4-00000000000000a1",
        family: 4,
        elements: peers,
        definition: "x: role=client",
      },
      {
        kind: "addr",
        name: "ts4-00000000000000a2",
        family: 4,
        elements: ["0.0.0.0/0"],
        definition: "0.0.0.0/0",
      },
      {
        kind: "addr",
        name: "ts6-00000000000000a3",
        family: 6,
        elements: ["fd00::/16"],
        definition: "fd00::/16",
      },
      {
        kind: "named-port",
        name: "tn4-00000000000000a4",
        family: 4,
        elements: [
          { addr: "10.244.1.2", proto: 6, port: 8080 },
          { addr: "10.244.1.2", proto: 17, port: 53 },
        ],
        definition: "named ports http/TCP,dns/UDP",
      },
    ],
    policyChains: [
      {
        name: "tpe-00000000000000b2",
        policy: ext,
        tier: "extended",
        direction: "egress",
        rules: [
          {
            id: "tpe-00000000000000b2:0.0",
            family: 4,
            match: { protocol: { proto: 1, negate: false }, icmp: [{ type: 8, code: 0, negate: true }] },
            action: "log",
            logPrefix: "tortie b2 ",
            origin: origin("egress", 0, 0, ext),
          },
          {
            id: "tpe-00000000000000b2:1.0",
            family: 4,
            match: { protocol: { proto: 1, negate: false }, icmp: [{ type: 8, negate: false }] },
            action: "deny",
            origin: origin("egress", 1, 0, ext),
          },
          {
            id: "tpe-00000000000000b2:2.0",
            family: null,
            match: {
              protocol: { proto: 132, negate: false },
              dstPorts: [{ ports: [[9000, 9100]], negate: false }],
            },
            action: variant === "a" ? "allow" : "deny",
            origin: origin("egress", 2, 0, ext),
          },
          {
            id: "tpe-00000000000000b2:3.0",
            family: 6,
            match: { dst: [{ set: "ts6-00000000000000a3", negate: true }] },
            action: "pass",
            origin: origin("egress", 3, 0, ext),
          },
        ],
      },
      {
        name: "tpi-00000000000000b1",
        policy: k8s,
        tier: "kubernetes",
        direction: "ingress",
        rules: [
          {
            id: "tpi-00000000000000b1:0.0",
            family: 4,
            match: {
              protocol: { proto: 6, negate: false },
              src: [{ set: "ts4-00000000000000a1", negate: false }],
              dstPorts: [{ ports: [80, [1000, 2000]], negate: false }],
            },
            action: "allow",
            origin: origin("ingress", 0, 0),
          },
          {
            id: "tpi-00000000000000b1:1.0",
            family: 4,
            match: {
              src: [{ set: "ts4-00000000000000a2", negate: false }],
              dstNamedPorts: [{ set: "tn4-00000000000000a4", negate: false }],
            },
            action: "allow",
            origin: origin("ingress", 1, 0),
          },
          {
            id: "tpi-00000000000000b1:2.0",
            family: null,
            match: { protocol: { proto: 17, negate: false }, srcPorts: [{ ports: [53], negate: true }] },
            action: "allow",
            origin: origin("ingress", 2, 0),
          },
        ],
      },
    ],
    endpointChains: eps
      .flatMap((e) => [
        {
          name: e.egressChain,
          endpoint: { namespace: e.namespace, pod: e.pod },
          direction: "egress" as const,
          // Variant b puts Calico tiers around the default tier: one that denies at its end, one after.
          ...(variant === "b"
            ? {
                tiersBefore: [
                  { tier: "security", policies: ["tpe-00000000000000b2"], endAction: "deny" as const },
                ],
              }
            : {}),
          extended: ["tpe-00000000000000b2"],
          kubernetes: [],
          endAction: "deny" as const,
          endActionAfterPass: "allow" as const,
          ...(variant === "b"
            ? {
                tiersAfter: [
                  { tier: "kube-baseline", policies: ["tpe-00000000000000b2"], endAction: "pass" as const },
                ],
              }
            : {}),
        },
        {
          name: e.ingressChain,
          endpoint: { namespace: e.namespace, pod: e.pod },
          direction: "ingress" as const,
          extended: [],
          kubernetes: ["tpi-00000000000000b1"],
          endAction: "deny" as const,
          endActionAfterPass: "deny" as const,
        },
      ])
      .sort((p, q) => p.name.localeCompare(q.name)),
    endpoints: eps,
    dispatch: {
      fromEndpoint: eps.map((e) => ({ ifName: e.ifName, chain: e.egressChain })),
      toEndpoint: eps.map((e) => ({ ifName: e.ifName, chain: e.ingressChain })),
    },
  };
}
