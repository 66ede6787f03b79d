import { createHash } from "node:crypto";
import t from "tap";
import { hostIfName } from "../../core/ifname.js";

t.test("host-side names are tort + 11 hex digits of sha1(namespace.pod)", async (t) => {
  // sha1("default.web-0") computed independently of the implementation under test
  const want = `tort${createHash("sha1").update("default.web-0", "utf8").digest("hex").substring(0, 11)}`;
  t.equal(hostIfName("default", "web-0"), want);
  t.equal(hostIfName("default", "web-0").length, 15);
  t.not(hostIfName("default", "web-0"), hostIfName("default", "web-1"));
  t.equal(
    hostIfName("a", "b.c"),
    hostIfName("a.b", "c"),
    "the rule hashes the joined string, as Calico's does",
  );
  t.match(hostIfName("kube-system", "coredns-5d78c9869d-abcde"), /^tort[0-9a-f]{11}$/);
});
