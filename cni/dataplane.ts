import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { CommandError, run } from "../core/exec.js";
import {
  addAddress,
  addProxyNeighbour,
  createVeth,
  decodeLinkInfo,
  deleteLink,
  getLink,
  setLinkUp,
} from "../core/netlink/link.js";
import { NetlinkError } from "../core/netlink/message.js";
import { replaceRoute, type KernelRoute } from "../core/netlink/route.js";
import { NETLINK_ROUTE, NetlinkSocket, type Request } from "../core/netlink/socket.js";
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

/** Runs iproute2 commands inside the pod's namespace (any CNI_NETNS path, via nsenter): CHECK only. */
function inPod(netns: string, args: readonly string[]): Promise<string> {
  return run("nsenter", [`--net=${netns}`, "ip", ...args]);
}

function sysctl(path: string, value: string): void {
  writeFileSync(`/proc/sys/net/${path}`, value);
}

/** Pod routes are static ones, as `ip route add` makes them; felix's and BGP's (protocol 201) are not touched. */
const RTPROT_BOOT = 3;
const MAIN_TABLE = 254;
const SOCKET_BUFFER = 1 << 20;

function route(dst: string, ifindex: number, gateway?: string): KernelRoute {
  return {
    dst,
    type: "unicast",
    table: MAIN_TABLE,
    protocol: RTPROT_BOOT,
    metric: 0,
    nexthops: [gateway === undefined ? { ifindex } : { gateway, ifindex }],
  };
}

/** The node's namespace (the one this process runs in): one socket per process, shared by every attach. */
let hostSocket: NetlinkSocket | undefined;
function host(): NetlinkSocket {
  hostSocket ??= new NetlinkSocket(NETLINK_ROUTE, undefined, SOCKET_BUFFER);
  return hostSocket;
}

async function linkIndex(sock: NetlinkSocket, name: string): Promise<number> {
  for (const m of await sock.request(getLink(name))) {
    const l = decodeLinkInfo(m);
    if (l?.name === name) return l.index;
  }
  throw new Error(`${name}: the kernel did not describe the link`);
}

async function mustApply(sock: NetlinkSocket, what: readonly string[], reqs: Request[]): Promise<void> {
  const refused = await sock.batch(reqs);
  const first = refused[0];
  if (first) throw new Error(`${what[first.index] ?? "request"}: ${first.error.message}`);
}

/**
 * Creates the veth pair over netlink, with the pod end made straight inside
 * CNI_NETNS, then addresses and routes on both sides: a handful of netlink
 * round trips and no process spawned, for ADD latency.
 */
export async function attach(a: Attachment): Promise<{ podMac: string }> {
  const mac = podMac(a.containerId);
  // A retried ADD: start from nothing (deleting one end removes the pair and its routes).
  await detach(a.hostIf);
  const v4 = a.addresses.filter((x) => !isV6(x));
  const v6 = a.addresses.filter(isV6);
  let pod: NetlinkSocket | undefined;
  try {
    const fd = openSync(a.netns, "r");
    try {
      await host().request(
        createVeth(
          { name: a.hostIf, mac: HOST_MAC, mtu: a.mtu },
          { name: a.ifname, mac, mtu: a.mtu, netnsFd: fd },
        ),
      );
    } finally {
      closeSync(fd);
    }
    pod = new NetlinkSocket(NETLINK_ROUTE, a.netns, SOCKET_BUFFER);
    const podIndex = await linkIndex(pod, a.ifname);
    const steps: [string, Request][] = [
      ...v6.map((x): [string, Request] => [`address ${x}/128`, addAddress(podIndex, x, 128)]),
      ...v4.map((x): [string, Request] => [`address ${x}/32`, addAddress(podIndex, x, 32)]),
      [`link ${a.ifname} up`, setLinkUp(a.ifname)],
      ...(v4.length > 0
        ? ([
            [`route ${GATEWAY4}`, replaceRoute(route(`${GATEWAY4}/32`, podIndex))],
            [`default route via ${GATEWAY4}`, replaceRoute(route("0.0.0.0/0", podIndex, GATEWAY4))],
          ] as [string, Request][])
        : []),
      ...(v6.length > 0
        ? ([
            [`route ${GATEWAY6}`, replaceRoute(route(`${GATEWAY6}/128`, podIndex))],
            [`default route via ${GATEWAY6}`, replaceRoute(route("::/0", podIndex, GATEWAY6))],
          ] as [string, Request][])
        : []),
    ];
    await mustApply(
      pod,
      steps.map((s) => s[0]),
      steps.map((s) => s[1]),
    );
  } catch (e) {
    await detach(a.hostIf).catch(() => undefined);
    throw dataplaneError(`setting up ${a.ifname} in ${a.netns}`, e);
  } finally {
    pod?.close();
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
    const hostIndex = await linkIndex(host(), a.hostIf);
    const steps: [string, Request][] = [
      [`link ${a.hostIf} up`, setLinkUp(a.hostIf)],
      ...v4.map((x): [string, Request] => [`route ${x}/32`, replaceRoute(route(`${x}/32`, hostIndex))]),
      ...v6.map((x): [string, Request] => [`route ${x}/128`, replaceRoute(route(`${x}/128`, hostIndex))]),
      ...(v6.length > 0
        ? ([[`proxy neighbour ${GATEWAY6}`, addProxyNeighbour(hostIndex, GATEWAY6)]] as [string, Request][])
        : []),
    ];
    await mustApply(
      host(),
      steps.map((s) => s[0]),
      steps.map((s) => s[1]),
    );
  } catch (e) {
    await detach(a.hostIf).catch(() => undefined);
    throw dataplaneError(`setting up host side ${a.hostIf}`, e);
  }
  return { podMac: mac };
}

/** Removes the pair by its host end; nothing there is not an error (DEL is idempotent). */
export async function detach(hostIf: string): Promise<boolean> {
  try {
    await host().request(deleteLink(hostIf));
    return true;
  } catch (e) {
    if (e instanceof NetlinkError && e.code === "ENODEV") return false;
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
