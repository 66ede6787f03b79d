/**
 * Forwarding and per-pod-interface sysctls in the agent's own network namespace (/proc/sys/net is
 * the namespace of the process reading it). The CNI plugin sets proxy ARP when it wires a pod; the
 * agent owns it too, so a reset by hand or by another tool is repaired at the next resync.
 */
import { readFileSync, readdirSync, writeFileSync } from "node:fs";

export const WORKLOAD_PREFIX = "tort";

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
  return { checked: want.size, repaired, failed };
}
