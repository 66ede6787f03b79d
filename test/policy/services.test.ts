/**
 * Calico's `services` rule match: the endpoints of a Kubernetes Service, from its EndpointSlices.
 * As a destination the Service's ports are matched with its addresses (a rule to the API server
 * allows 6443 on its endpoints, not every port); as a source, its endpoints' addresses. Checked on
 * the IR both the reference compiler and the agent's calculation produce.
 */
import t, { type Test } from "tap";
import { formatProblem } from "../../core/errors.js";
import { hostIfName } from "../../core/ifname.js";
import { PolicyCalc } from "../../policy/calc.js";
import { IREvaluator } from "../../policy/evaluate.js";
import type { Family, PolicyIR } from "../../policy/ir.js";
import { loadStateText, parseObject } from "../../policy/state.js";
import { irBothWays } from "./harness/both.js";

const STATE = `
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: n1, labels: {app: web}}
spec: {nodeName: A}
status: {podIPs: [{ip: 10.0.0.5}, {ip: "fd00::5"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: n2, labels: {app: api}}
spec: {nodeName: B}
status: {podIP: 10.0.1.7}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: kubernetes, namespace: default, labels: {kubernetes.io/service-name: kubernetes}}
addressType: IPv4
endpoints: [{addresses: [192.168.1.10]}, {addresses: [192.168.1.11]}]
ports: [{name: https, port: 6443, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-a, namespace: kube-system, labels: {kubernetes.io/service-name: kube-dns}}
addressType: IPv4
endpoints: [{addresses: [10.0.9.2]}]
ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-b, namespace: kube-system, labels: {kubernetes.io/service-name: kube-dns}}
addressType: IPv4
endpoints: [{addresses: [10.0.9.3]}]
ports: [{name: dns, port: 53, protocol: UDP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-v6, namespace: kube-system, labels: {kubernetes.io/service-name: kube-dns}}
addressType: IPv6
endpoints: [{addresses: ["fd00::53"]}]
ports: [{port: 53, protocol: UDP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-x, namespace: n2, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
endpoints: [{addresses: [10.0.1.7]}]
ports: [{port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-x, namespace: n1, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.99]}]
ports: [{port: 8080}]
`;

const egress = (rule: string): string => `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: n1}
spec:
  selector: app == 'web'
  types: [Egress]
  egress: [${rule}]`;

const build = (t: Test, extra: string): PolicyIR => irBothWays(t, `${STATE}\n---\n${extra}`);

const out = (ir: PolicyIR, dst: string, port: number, proto: 6 | 17, family: Family = 4): string =>
  new IREvaluator(ir).evaluate(hostIfName("n1", "web"), null, {
    family,
    src: family === 4 ? "10.0.0.5" : "fd00::5",
    dst,
    proto,
    srcPort: 40000,
    dstPort: port,
  }).egress.action;

t.test("as a destination: the Service's endpoints on the Service's ports only", async (t) => {
  const api = build(
    t,
    egress("{action: Allow, destination: {services: {name: kubernetes, namespace: default}}}"),
  );
  t.equal(out(api, "192.168.1.10", 6443, 6), "allow");
  t.equal(out(api, "192.168.1.11", 6443, 6), "allow", "every endpoint");
  t.equal(out(api, "192.168.1.10", 443, 6), "deny", "not another port");
  t.equal(out(api, "192.168.1.10", 6443, 17), "deny", "not another protocol");
  t.equal(out(api, "192.168.1.12", 6443, 6), "deny", "not another address");
  const dns = build(
    t,
    egress("{action: Allow, destination: {services: {name: kube-dns, namespace: kube-system}}}"),
  );
  t.equal(out(dns, "10.0.9.2", 53, 17), "allow", "slices of one Service add up");
  t.equal(out(dns, "10.0.9.3", 53, 17), "allow");
  t.equal(out(dns, "10.0.9.2", 53, 6), "allow", "each slice's own ports");
  t.equal(out(dns, "10.0.9.3", 53, 6), "deny", "a port of another slice is not this one's");
  t.equal(out(dns, "fd00::53", 53, 17, 6), "allow", "IPv6 slices in the IPv6 set");
  const own = build(t, egress("{action: Allow, destination: {services: {name: web}}}"));
  t.equal(out(own, "10.0.0.99", 8080, 6), "allow", "the policy's namespace by default; TCP by default");
  const other = build(t, egress("{action: Allow, destination: {services: {name: api}}}"));
  t.equal(out(other, "10.0.1.7", 8080, 6), "deny", "n2's api is not n1's");
});

t.test("as a source: the Service's endpoints' addresses", async (t) => {
  const ir = build(
    t,
    `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: p, namespace: n1}
spec:
  selector: app == 'web'
  types: [Ingress]
  ingress: [{action: Allow, source: {services: {name: api, namespace: n2}}}]`,
  );
  const from = (src: string, port: number): string =>
    new IREvaluator(ir).evaluate(null, hostIfName("n1", "web"), {
      family: 4,
      src,
      dst: "10.0.0.5",
      proto: 6,
      srcPort: 40000,
      dstPort: port,
    }).ingress.action;
  t.equal(from("10.0.1.7", 9999), "allow", "any destination port");
  t.equal(from("10.0.1.8", 80), "deny");
});

t.test("slices come, change and go; the calculation follows", async (t) => {
  const loaded = loadStateText(
    `${STATE}\n---\n${egress("{action: Allow, destination: {services: {name: kubernetes, namespace: default}}}")}`,
  );
  const calc = new PolicyCalc("A");
  for (const n of loaded.state.namespaces) calc.upsertNamespace(n);
  for (const p of loaded.state.pods) calc.upsertPod(p);
  for (const p of loaded.policies) calc.upsertPolicy(p);
  t.equal(out(calc.ir(), "192.168.1.10", 6443, 6), "deny", "no slice yet: nothing");
  for (const s of loaded.state.endpointSlices ?? []) calc.upsertEndpointSlice(s);
  t.equal(out(calc.ir(), "192.168.1.10", 6443, 6), "allow");
  const moved = parseObject({
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "kubernetes",
      namespace: "default",
      labels: { "kubernetes.io/service-name": "kubernetes" },
    },
    addressType: "IPv4",
    endpoints: [{ addresses: ["192.168.1.20"] }],
    ports: [{ port: 6443 }],
  }).endpointSlice;
  if (!moved) throw new Error("slice");
  calc.upsertEndpointSlice(moved);
  t.equal(out(calc.ir(), "192.168.1.10", 6443, 6), "deny", "the old endpoint left");
  t.equal(out(calc.ir(), "192.168.1.20", 6443, 6), "allow", "the new one came");
  calc.removeEndpointSlice("default", "kubernetes");
  t.equal(out(calc.ir(), "192.168.1.20", 6443, 6), "deny");
});

t.test(
  "EndpointSlice parsing: errors name the slice; FQDN and unlabelled slices count for nothing",
  async (t) => {
    const bad = parseObject({
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "s", namespace: "n1", labels: { "kubernetes.io/service-name": "x" } },
      addressType: "IPv4",
      endpoints: [{ addresses: ["fd00::1"] }, {}],
      ports: [{ port: 70000 }, { port: 80, protocol: "ICMP" }],
    });
    t.same(bad.problems.map(formatProblem), [
      "EndpointSlice n1/s: endpoints[0].addresses[0]: must be an IPv4 address",
      "EndpointSlice n1/s: endpoints[1].addresses: must be a list of addresses",
      "EndpointSlice n1/s: ports[0].port: must be between 1 and 65535, inclusive",
      "EndpointSlice n1/s: ports[1].protocol: must be TCP, UDP or SCTP",
    ]);
    const base = { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", endpoints: [], ports: [] };
    t.equal(parseObject({ ...base, metadata: { name: "f" }, addressType: "FQDN" }).endpointSlice, null);
    t.equal(parseObject({ ...base, metadata: { name: "u" }, addressType: "IPv4" }).endpointSlice, null);
  },
);
