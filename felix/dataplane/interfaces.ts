/**
 * Forwarding and per-pod-interface sysctls in the agent's own network namespace (/proc/sys/net is
 * the namespace of the process reading it). The CNI plugin sets proxy ARP when it wires a pod; the
 * agent owns it too, so a reset by hand or by another tool is repaired at the next resync.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";

export const WORKLOAD_PREFIX = "tort";
/** The VXLAN device (felix/calc/vxlan.ts VXLAN_DEVICE; repeated here so this file stays dependency-free). */
const VXLAN_DEVICE = "vxlan.tortie";

/**
 * Links whose rp_filter must not be strict: the kernel checks max(all, link), so strict (1) on
 * either drops a packet whose source is routed out another way (a pod's address answered over
 * BGP one way and over the tunnel the other while routes converge; a borrowed address).
 */
export function rpFilterLinks(links: readonly string[]): string[] {
  return links.filter((l) => l.startsWith(WORKLOAD_PREFIX) || l === VXLAN_DEVICE);
}

/** The value to write for a link's rp_filter given `all`'s, or undefined when it is loose enough. */
export function relaxedRpFilter(all: string, link: string): string | undefined {
  return Math.max(Number(all) || 0, Number(link) || 0) === 1 ? "2" : undefined;
}

/** The sysctls that must hold for these links: path under /proc/sys/net → value. */
export function wantedSysctls(links: readonly string[], ipv6: boolean): Map<string, string> {
  const want = new Map<string, string>([["ipv4/ip_forward", "1"]]);
  if (ipv6) want.set("ipv6/conf/all/forwarding", "1");
  for (const l of links) {
    if (!l.startsWith(WORKLOAD_PREFIX)) continue;
    want.set(`ipv4/conf/${l}/proxy_arp`, "1");
    want.set(`ipv4/neigh/${l}/proxy_delay`, "0");
    if (ipv6) want.set(`ipv6/conf/${l}/proxy_ndp`, "1");
  }
  return want;
}

export interface SysctlReport {
  readonly checked: number;
  readonly repaired: readonly string[];
  readonly failed: readonly string[];
}

/**
 * Reads each wanted value and writes only those that differ: for every link, or only for `only` (the
 * interfaces of endpoints that just appeared: a pass for one pod must not read every pod's sysctls).
 */
export function reconcileSysctls(
  ipv6: boolean,
  root = "/proc/sys/net",
  only?: readonly string[],
): SysctlReport {
  let links: string[];
  try {
    links = only ? [...only] : readdirSync(`${root}/ipv4/conf`);
  } catch {
    links = [];
  }
  const repaired: string[] = [];
  const failed: string[] = [];
  const want = wantedSysctls(links, ipv6);
  for (const [path, value] of want) {
    const file = `${root}/${path}`;
    try {
      if (readFileSync(file, "utf8").trim() === value) continue;
      writeFileSync(file, value);
      repaired.push(path);
    } catch {
      // A link that vanished between the listing and the write (a pod deleted) is not an error.
      if (!path.includes("/conf/tort") && !path.includes("/neigh/tort")) failed.push(path);
    }
  }
  let all = "0";
  try {
    all = readFileSync(`${root}/ipv4/conf/all/rp_filter`, "utf8").trim();
  } catch {
    // No such file: rp_filter is off.
  }
  let checked = want.size;
  for (const l of rpFilterLinks(links)) {
    const path = `ipv4/conf/${l}/rp_filter`;
    checked++;
    try {
      const v = relaxedRpFilter(all, readFileSync(`${root}/${path}`, "utf8").trim());
      if (v === undefined) continue;
      writeFileSync(`${root}/${path}`, v);
      repaired.push(path);
    } catch {
      // Vanished meanwhile (a pod deleted, the device recreated): the next pass sees the new one.
    }
  }
  return { checked, repaired, failed };
}
