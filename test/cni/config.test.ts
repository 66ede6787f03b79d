import t from "tap";
import { parseCniArgs, parseNetConf, podOf, readEnv } from "../../cni/config.js";
import { podMac } from "../../cni/dataplane.js";
import { CniError } from "../../cni/errors.js";

const good = {
  cniVersion: "1.0.0",
  name: "k8s-pod-network",
  type: "tortie",
  datastore: "file:/var/lib/tortie",
  nodeName: "node1",
  ipam: { type: "tortie-ipam" },
  mtu: 1450,
};

t.test("network configuration: the issue's keys, defaults and errors with spec codes", async (t) => {
  const c = parseNetConf(JSON.stringify(good), "ADD");
  t.equal(c.mtu, 1450);
  t.equal(c.nodeName, "node1");
  t.equal(parseNetConf(JSON.stringify({ ...good, mtu: undefined }), "ADD").mtu, 1500);
  const cases: [string, number, RegExp][] = [
    ["{", 6, /not JSON/],
    ["[]", 6, /must be a JSON object/],
    [JSON.stringify({ ...good, cniVersion: "0.2.0" }), 1, /cniVersion 0.2.0 is not supported/],
    [JSON.stringify({ ...good, datastore: "" }), 7, /"datastore" must be a non-empty string/],
    [JSON.stringify({ ...good, nodeName: 3 }), 7, /"nodeName" must be a non-empty string/],
    [JSON.stringify({ ...good, mtu: 70000 }), 7, /"mtu" must be an integer/],
    [JSON.stringify({ ...good, ipam: "x" }), 7, /"ipam" must be an object/],
  ];
  for (const [text, code, re] of cases) {
    try {
      parseNetConf(text, "ADD");
      t.fail(`accepted ${text}`);
    } catch (e) {
      t.ok(e instanceof CniError);
      t.equal((e as CniError).code, code, text);
      t.match((e as CniError).message, re);
    }
  }
  t.same(
    parseNetConf(JSON.stringify({ cniVersion: "1.0.0" }), "VERSION").name,
    "",
    "VERSION needs no network",
  );
});

t.test("CNI env and CNI_ARGS as the kubelet passes them", async (t) => {
  const env = readEnv({
    CNI_COMMAND: "ADD",
    CNI_CONTAINERID: "abc",
    CNI_NETNS: "/var/run/netns/x",
    CNI_IFNAME: "eth0",
    CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc",
    CNI_PATH: "/opt/cni/bin:/usr/lib/cni",
  });
  t.same(podOf(env), { namespace: "default", pod: "web-0" });
  t.same(env.path, ["/opt/cni/bin", "/usr/lib/cni"]);
  t.throws(() => readEnv({ CNI_COMMAND: "ADD" }), {
    code: 4,
    message: "CNI_CONTAINERID is required for ADD",
  });
  t.throws(() => readEnv({ CNI_COMMAND: "FOO" }), { code: 4 });
  t.doesNotThrow(
    () => readEnv({ CNI_COMMAND: "DEL", CNI_CONTAINERID: "a", CNI_IFNAME: "eth0" }),
    "DEL without a netns",
  );
  t.throws(() => parseCniArgs("K8S_POD_NAME"), { code: 4 });
  t.equal(podMac("abc"), podMac("abc"));
  t.match(podMac("abc"), /^0a(:[0-9a-f]{2}){5}$/);
});
