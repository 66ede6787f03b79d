import t from "tap";
import {
  birdConfig,
  frrConfig,
  initialObjects,
  placePod,
  planLab,
  podNetns,
  podSocket,
  validateOptions,
  type LabOptions,
} from "../../lab/plan.js";
import { parseBirdProtocols, parseBirdRoutes } from "../../lab/tor.js";
import { validateObject } from "../../datastore/validate.js";
import type { KindName } from "../../datastore/kinds.js";

const opts: LabOptions = {
  nodes: 3,
  tor: "bird",
  podsPerNode: 3,
  prefix: "tortie-lab-",
  dir: "/run/tortie-lab",
};

t.test("the plan: nodes on the rack's /24, pods spread over three tiers on every node", async (t) => {
  const p = planLab(opts);
  t.same(
    p.nodes.map((n) => [n.name, n.netns, n.ip, n.torPort]),
    [
      ["node1", "tortie-lab-node1", "10.99.0.11/24", "node1"],
      ["node2", "tortie-lab-node2", "10.99.0.12/24", "node2"],
      ["node3", "tortie-lab-node3", "10.99.0.13/24", "node3"],
    ],
  );
  t.same(p.tor, { kind: "bird", netns: "tortie-lab-tor", ip: "10.99.0.1", asn: 65000 });
  t.equal(p.pods.length, 9);
  for (const n of p.nodes)
    t.same(
      p.pods
        .filter((x) => x.node === n.name)
        .map((x) => x.namespace)
        .sort(),
      ["backend", "data", "frontend"],
      `${n.name} has one pod of each tier`,
    );
  t.equal(new Set(p.pods.map((x) => `${x.namespace}/${x.name}`)).size, 9, "pod names are unique");
  t.equal(podNetns(p.prefix, { namespace: "data", name: "db-3" }), "tortie-lab-pod-data-db-3");
  t.ok(podSocket(p.dir, { namespace: "frontend", name: "web-1" }).length < 100, "socket path fits sun_path");
  const many = planLab({ ...opts, nodes: 1, podsPerNode: 7 });
  t.equal(
    new Set(many.pods.map((x) => `${x.namespace}/${x.name}`)).size,
    7,
    "more pods than tiers still get unique names",
  );
});

t.test("options are checked with a message naming the flag", async (t) => {
  t.equal(validateOptions(opts), undefined);
  t.match(validateOptions({ ...opts, nodes: 0 }), /--nodes/);
  t.match(validateOptions({ ...opts, nodes: 41 }), /--nodes/);
  t.match(validateOptions({ ...opts, podsPerNode: -1 }), /--pods-per-node/);
  t.match(validateOptions({ ...opts, prefix: "Bad Prefix" }), /prefix/);
});

t.test("router configurations peer with every node", async (t) => {
  const p = planLab(opts);
  const bird = birdConfig(p);
  t.match(bird, /local 10\.99\.0\.1 as 65000;/);
  for (const ip of ["10.99.0.11", "10.99.0.12", "10.99.0.13"])
    t.match(bird, new RegExp(`neighbor ${ip} as 64512;`));
  t.match(bird, /protocol kernel/, "the ToR installs what it learns");
  const frr = frrConfig(p);
  t.match(frr, /router bgp 65000/);
  t.match(frr, /neighbor 10\.99\.0\.13 remote-as 64512/);
  t.match(frr, /neighbor 10\.99\.0\.13 activate/);
});

t.test("the datastore's starting objects are valid for their kinds", async (t) => {
  const objs = initialObjects(planLab(opts));
  t.same(
    objs.map((o) => o.kind),
    ["IPPool", "BGPConfiguration", "BGPPeer", "Node", "Node", "Node", "Namespace", "Namespace", "Namespace"],
  );
  for (const o of objs)
    t.same(validateObject(o.kind as KindName, o.object), [], `${o.kind} ${o.object.metadata.name}`);
});

t.test("placing a pod: the named node, else the least loaded", async (t) => {
  const nodes = ["node1", "node2"];
  t.equal(placePod(nodes, [{ node: "node1" }], undefined), "node2");
  t.equal(placePod(nodes, [], undefined), "node1");
  t.equal(placePod(nodes, [], "node2"), "node2");
  t.equal(placePod(nodes, [], "node9"), undefined);
});

t.test("bird's session and route listings are read", async (t) => {
  const p = planLab({ ...opts, nodes: 2 });
  const protocols = `BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     06:06:10.412
kernel1    Kernel     master4    up     06:06:10.412
node1      BGP        ---        up     06:06:12.001  Established
node2      BGP        ---        start  06:06:10.412  Active        Socket: Connection refused
`;
  t.same(parseBirdProtocols(p, protocols), [
    { node: "node1", peer: "10.99.0.11", state: "Established" },
    { node: "node2", peer: "10.99.0.12", state: "Active" },
  ]);
  const routes = `BIRD 2.0.12 ready.
Table master4:
10.244.190.128/26    unicast [node1 06:10:00.000] * (100) [AS64512i]
\tvia 10.99.0.11 on node1
                     unicast [node2 06:10:01.000] (100) [AS64512i]
\tvia 10.99.0.12 on node2
10.244.86.192/26     unicast [node2 06:10:00.000] * (100) [AS64512i]
\tvia 10.99.0.12 on node2
`;
  t.same(parseBirdRoutes(routes), [
    { prefix: "10.244.190.128/26", nextHops: ["10.99.0.11", "10.99.0.12"] },
    { prefix: "10.244.86.192/26", nextHops: ["10.99.0.12"] },
  ]);
});
