import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { CommandError, run } from "../core/exec.js";
import { CNI_CODES, CniError } from "./errors.js";

/** The pod's default gateways: link-local, answered by the host side (proxy ARP / proxy NDP), as Calico does. */
export const GATEWAY4 = "169.254.1.1";
export const GATEWAY6 = "fe80::1";
/** Every host-side veth has this MAC (Calico's choice): the pod's neighbour entry never changes. */
export const HOST_MAC = "ee:ee:ee:ee:ee:ee";

export interface Attachment {
  readonly hostIf: string;
  readonly ifname: string;
  /** The path of the pod's network namespace (CNI_NETNS). */
  readonly netns: string;
  readonly mtu: number;
  /** Pod addresses without prefix length. */
  readonly addresses: readonly string[];
  readonly containerId: string;
}

/** A stable, locally administered unicast MAC for the pod side, so a retried ADD gives the same one. */
export function podMac(containerId: string): string {
  const h = createHash("sha1").update(containerId).digest();
  const bytes = [0x0a, ...h.subarray(0, 5)];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

const isV6 = (a: string): boolean => a.includes(":");

function dataplaneError(what: string, e: unknown): CniError {
  const detail = e instanceof CommandError ? e.stderr.trim() || e.message : (e as Error).message;
  return new CniError(CNI_CODES.DataplaneFailure, `${what}: ${detail}`);
}

/** Runs iproute2 commands inside the pod's namespace (any CNI_NETNS path, via nsenter). */
function inPod(netns: string, args: readonly string[], input?: string): Promise<string> {
  return run("nsenter", [`--net=${netns}`, "ip", ...args], input === undefined ? {} : { input });
}

function sysctl(path: string, value: string): void {
  writeFileSync(`/proc/sys/net/${path}`, value);
}

/**
 * Creates the veth pair inside the pod's namespace with the host end sent to
 * ours (the namespace this plugin runs in: the node's), then addresses and
 * routes on both sides. Two iproute2 batches in all, for ADD latency.
 */
export async function attach(a: Attachment): Promise<{ podMac: string }> {
  const mac = podMac(a.containerId);
  // A retried ADD: start from nothing (deleting one end removes the pair and its routes).
  await detach(a.hostIf);
  const v4 = a.addresses.filter((x) => !isV6(x));
  const v6 = a.addresses.filter(isV6);
  const pod = [
    `link add ${a.ifname} address ${mac} mtu ${a.mtu} type veth peer name ${a.hostIf} address ${HOST_MAC} mtu ${a.mtu} netns ${process.pid}`,
    ...v6.map((x) => `addr add ${x}/128 dev ${a.ifname} nodad`),
    ...v4.map((x) => `addr add ${x}/32 dev ${a.ifname}`),
    `link set ${a.ifname} up`,
    ...(v4.length > 0
      ? [
          `route add ${GATEWAY4} dev ${a.ifname} scope link`,
          `route add default via ${GATEWAY4} dev ${a.ifname}`,
        ]
      : []),
    ...(v6.length > 0
      ? [`route add ${GATEWAY6} dev ${a.ifname}`, `route add ::/0 via ${GATEWAY6} dev ${a.ifname}`]
      : []),
  ];
  try {
    await inPod(a.netns, ["-b", "-"], `${pod.join("\n")}\n`);
  } catch (e) {
    await detach(a.hostIf);
    throw dataplaneError(`setting up ${a.ifname} in ${a.netns}`, e);
  }
  try {
    if (v4.length > 0) {
      sysctl(`ipv4/conf/${a.hostIf}/proxy_arp`, "1");
      sysctl(`ipv4/neigh/${a.hostIf}/proxy_delay`, "0");
    }
    if (v6.length > 0) {
      sysctl(`ipv6/conf/${a.hostIf}/proxy_ndp`, "1");
      sysctl(`ipv6/conf/${a.hostIf}/forwarding`, "1");
    }
    const host = [
      `link set ${a.hostIf} up`,
      ...v4.map((x) => `route replace ${x}/32 dev ${a.hostIf} scope link`),
      ...v6.map((x) => `route replace ${x}/128 dev ${a.hostIf}`),
      ...(v6.length > 0 ? [`neigh add proxy ${GATEWAY6} dev ${a.hostIf}`] : []),
    ];
    await run("ip", ["-b", "-"], { input: `${host.join("\n")}\n` });
  } catch (e) {
    await detach(a.hostIf);
    throw dataplaneError(`setting up host side ${a.hostIf}`, e);
  }
  return { podMac: mac };
}

/** Removes the pair by its host end; nothing there is not an error (DEL is idempotent). */
export async function detach(hostIf: string): Promise<boolean> {
  try {
    await run("ip", ["link", "del", hostIf]);
    return true;
  } catch (e) {
    if (e instanceof CommandError && /Cannot find device|does not exist/.test(e.stderr)) return false;
    throw dataplaneError(`removing ${hostIf}`, e);
  }
}

interface IpLink {
  ifname: string;
  flags?: string[];
  operstate?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}
interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}

/** What CHECK verifies; each failure names the object and what differs. */
export async function verify(a: Attachment, what: string): Promise<void> {
  const fail = (msg: string): never => {
    throw new CniError(CNI_CODES.CheckFailed, `CHECK ${what}: ${msg}`);
  };
  let host: IpLink[] = [];
  try {
    host = JSON.parse(await run("ip", ["-j", "link", "show", "dev", a.hostIf])) as IpLink[];
  } catch {
    fail(`host interface ${a.hostIf} does not exist`);
  }
  if (!host[0]?.flags?.includes("UP")) fail(`host interface ${a.hostIf} is down`);
  if (
    a.addresses.some((x) => !isV6(x)) &&
    readFileSync(`/proc/sys/net/ipv4/conf/${a.hostIf}/proxy_arp`, "utf8").trim() !== "1"
  )
    fail(`proxy_arp is off on ${a.hostIf}`);
  const routes = [
    ...(JSON.parse(await run("ip", ["-j", "-4", "route", "show", "dev", a.hostIf])) as IpRoute[]),
    ...(JSON.parse(await run("ip", ["-j", "-6", "route", "show", "dev", a.hostIf])) as IpRoute[]),
  ];
  for (const x of a.addresses)
    if (!routes.some((r) => r.dst === x || r.dst === `${x}/${isV6(x) ? 128 : 32}`))
      fail(`no host route to ${x} via ${a.hostIf}`);
  let pod: IpLink[] = [];
  try {
    pod = JSON.parse(await inPod(a.netns, ["-j", "addr", "show", "dev", a.ifname])) as IpLink[];
  } catch {
    fail(`interface ${a.ifname} does not exist in ${a.netns}`);
  }
  if (!pod[0]?.flags?.includes("UP")) fail(`interface ${a.ifname} in ${a.netns} is down`);
  const have = new Set((pod[0]?.addr_info ?? []).map((i) => i.local));
  for (const x of a.addresses) if (!have.has(x)) fail(`address ${x} is missing on ${a.ifname} in ${a.netns}`);
  const podRoutes = [
    ...(JSON.parse(await inPod(a.netns, ["-j", "-4", "route", "show", "default"])) as IpRoute[]),
    ...(JSON.parse(await inPod(a.netns, ["-j", "-6", "route", "show", "default"])) as IpRoute[]),
  ];
  if (a.addresses.some((x) => !isV6(x)) && !podRoutes.some((r) => r.gateway === GATEWAY4))
    fail(`the default route via ${GATEWAY4} is missing in ${a.netns}`);
  if (a.addresses.some(isV6) && !podRoutes.some((r) => r.gateway === GATEWAY6))
    fail(`the IPv6 default route via ${GATEWAY6} is missing in ${a.netns}`);
}
