import t from "tap";
import { Kit } from "../kit/kit.js";
import { LAB_PORTS, PolicyLab, matrixDiff } from "./harness/lab.js";

t.test("the lab wires pods like Calico and every pair talks, un-NATed, with no policy", async (t) => {
  const kit = Kit.create(t);
  const lab = await PolicyLab.create(kit);
  t.teardown(() => lab.close());
  const started = Date.now();
  const got = await lab.probe();
  t.comment(`full matrix (${lab.pods.length ** 2 * LAB_PORTS.length} probes) in ${Date.now() - started} ms`);
  t.same(
    matrixDiff(
      lab.expect(() => true),
      got.matrices,
    ),
    [],
    "all allowed",
  );
  const bad = got.seen.filter((s) => s.saw !== lab.pod(s.from).ip);
  t.same(bad, [], "every server saw the client's own pod address");
  t.equal(got.seen.length, lab.pods.length ** 2 * LAB_PORTS.length);
  // The pod's gateway is answered by proxy ARP from the host side of its veth.
  const xa = lab.pod("x/a");
  const neigh = await xa.netns.ip(["neigh", "show", "169.254.1.1"]);
  const hostMac = (await lab.node("node1").netns.ip(["-br", "link", "show", xa.hostIf])).split(/\s+/)[2];
  t.match(neigh, new RegExp(`lladdr ${hostMac ?? "none"}`), "169.254.1.1 resolves to the host side");
  // A dropped port really times out (nothing listens on 82 → TCP RST is "refused").
  const denied = await lab.probe(["82/TCP"], 200);
  t.notOk(denied.matrices["82/TCP"]?.["x/a"]?.["y/b"], "a closed port is reported as not allowed");
});
