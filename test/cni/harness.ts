import { CommandError, run } from "../../core/exec.js";
import type { Netns } from "../../core/netns.js";
import type { Test } from "tap";
import { openIpamDatastore } from "../../ipam/open.js";
import { ipamObject } from "../../ipam/store.js";
import type { Kit } from "../kit/kit.js";

/**
 * A node namespace with an uplink and a default route (proxy ARP answers for
 * the gateway only when the node can route), forwarding on (the node agent's
 * job in a cluster).
 */
/** What both CNI suites start from: a node with an uplink, two pod namespaces, a file store with an IPv4 pool. */
export async function cniWorld(t: Test, kit: Kit) {
  const node = await nodeWithUplink(kit);
  const podA = await kit.netns("pod-a");
  const podB = await kit.netns("pod-b");
  const binDir = kit.dir("bin");
  const datastore = `file:${kit.dir("store")}`;
  const ds = await openIpamDatastore(datastore);
  t.teardown(() => ds.close());
  await ds.create("IPPool", ipamObject("IPPool", "pods4", { cidr: "10.244.0.0/16" }));
  return { node, podA, podB, binDir, datastore, ds };
}

export async function nodeWithUplink(kit: Kit): Promise<Netns> {
  const node = await kit.netns("node");
  const router = await kit.netns("router");
  await kit.veth(node, "up0", router, "down0");
  await node.addr("up0", "192.0.2.1/24");
  await router.addr("down0", "192.0.2.254/24");
  await node.route(["default", "via", "192.0.2.254", "dev", "up0"]);
  await node.sysctl("net.ipv4.ip_forward", "1");
  await node.sysctl("net.ipv6.conf.all.forwarding", "1");
  return node;
}

export interface Invocation {
  code: number;
  out: string;
  json: Record<string, unknown>;
}

/** Runs an installed plugin the way the kubelet's runtime does: by path, CNI env, config on stdin, in the node's namespace. */
export async function cni(
  node: Netns,
  bin: string,
  command: string,
  conf: object,
  pod: { ns?: Netns; name: string; id: string } | undefined,
  binDir: string,
): Promise<Invocation> {
  const env: Record<string, string> = {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    CNI_COMMAND: command,
    CNI_PATH: binDir,
  };
  if (pod) {
    env["CNI_CONTAINERID"] = pod.id;
    env["CNI_IFNAME"] = "eth0";
    env["CNI_NETNS"] = pod.ns ? `/var/run/netns/${pod.ns.name}` : "";
    env["CNI_ARGS"] =
      `IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.id}`;
  }
  let code = 0;
  let out: string;
  try {
    out = await run("ip", ["netns", "exec", node.name, bin], { input: JSON.stringify(conf), env });
  } catch (e) {
    if (!(e instanceof CommandError)) throw e;
    code = typeof e.code === "number" ? e.code : 1;
    out = e.stdout;
  }
  return { code, out, json: out.trim() ? (JSON.parse(out) as Record<string, unknown>) : {} };
}
