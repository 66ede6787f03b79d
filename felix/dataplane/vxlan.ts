/**
 * The VXLAN device, its tunnel address, ARP neighbours and FDB entries, reconciled over rtnetlink in
 * the agent's own namespace. Only the link named vxlan.tortie and what hangs off it is ever touched:
 * everything on that link is ours, nothing else is. Idempotent; every sync re-reads the kernel.
 */
import { networkInterfaces } from "node:os";
import { RTM_LINK, addAddress, deleteLink, getLink } from "../../core/netlink/link.js";
import { NETLINK_ROUTE, NetlinkSocket } from "../../core/netlink/socket.js";
import { linkDumpRequest } from "../../core/netlink/route.js";
import {
  GETADDR,
  RTM_NEIGH,
  addrDumpRequest,
  createVxlan,
  decodeAddress,
  decodeNeighbour,
  decodeVxlanLink,
  deleteAddress,
  deleteNeighbour,
  neighDumpRequest,
  replaceNeighbour,
  setLink,
  type NeighbourEntry,
  type VxlanLink,
} from "../../core/netlink/vxlan.js";
import { decodeLinkInfo } from "../../core/netlink/link.js";
import type { VxlanDesired, VxlanDevice } from "../calc/vxlan.js";

export interface VxlanReport {
  /** What had to change, e.g. "created vxlan.tortie", "neigh 10.244.2.0 added"; empty when all held. */
  readonly changes: readonly string[];
  readonly failed: readonly string[];
}

/** The MTU of the interface holding `ip` (ADDR or ADDR/LEN) in this namespace, if any holds it. */
export async function underlayMtu(ip: string | undefined, sock?: NetlinkSocket): Promise<number | undefined> {
  const addr = ip?.split("/")[0];
  if (!addr) return undefined;
  const name = Object.entries(networkInterfaces()).find(([, as]) => as?.some((a) => a.address === addr))?.[0];
  if (!name) return undefined;
  const own = sock === undefined;
  const s = sock ?? new NetlinkSocket(NETLINK_ROUTE);
  try {
    const [m] = await s.request(getLink(name));
    return m ? decodeLinkInfo(m)?.mtu : undefined;
  } catch {
    return undefined;
  } finally {
    if (own) s.close();
  }
}

/** Attributes a live VXLAN link cannot change: a difference means delete and create again. */
function fixedDrift(have: VxlanLink, want: VxlanDevice): string | undefined {
  if (have.kind !== "vxlan") return `kind ${have.kind ?? "?"}`;
  if (have.vni !== want.vni) return `vni ${have.vni ?? "?"}`;
  if (have.port !== want.port) return `port ${have.port ?? "?"}`;
  if (have.local !== want.local) return `local ${have.local ?? "?"}`;
  if (have.learning !== false) return "learning on";
  return undefined;
}

const key = (e: { ip: string; mac: string }): string => `${e.ip} ${e.mac}`;

export class VxlanReconciler {
  private readonly sock: NetlinkSocket;

  constructor(netns?: string) {
    this.sock = new NetlinkSocket(NETLINK_ROUTE, netns, 4 * 1024 * 1024);
  }

  close(): void {
    this.sock.close();
  }

  underlayMtu(ip: string | undefined): Promise<number | undefined> {
    return underlayMtu(ip, this.sock);
  }

  private async link(name: string): Promise<VxlanLink | undefined> {
    for (const m of await this.sock.dump(RTM_LINK.GETLINK, linkDumpRequest())) {
      const l = decodeVxlanLink(m);
      if (l?.name === name) return l;
    }
    return undefined;
  }

  async sync(d: VxlanDesired, deviceName: string): Promise<VxlanReport> {
    const changes: string[] = [];
    const failed: string[] = [];
    let have = await this.link(deviceName);
    const want = d.device;
    if (!want) {
      if (have) {
        await this.sock.request(deleteLink(deviceName));
        changes.push(`deleted ${deviceName}`);
      }
      return { changes, failed };
    }
    const drift = have ? fixedDrift(have, want) : undefined;
    if (have && drift) {
      await this.sock.request(deleteLink(deviceName));
      changes.push(`deleted ${deviceName} (${drift})`);
      have = undefined;
    }
    if (!have) {
      await this.sock.request(createVxlan({ ...want, ...(want.mtu ? { mtu: want.mtu } : {}) }));
      changes.push(`created ${deviceName}`);
      have = await this.link(deviceName);
      if (!have) throw new Error(`${deviceName} created but not found`);
    }
    const fix: { mtu?: number; mac?: string; up?: boolean } = {};
    if (want.mtu !== undefined && have.mtu !== want.mtu) fix.mtu = want.mtu;
    if (have.mac !== want.mac) fix.mac = want.mac;
    if (!have.up) fix.up = true;
    if (Object.keys(fix).length > 0) {
      await this.sock.request(setLink(have.index, fix));
      changes.push(`${deviceName} ${Object.keys(fix).join(",")}`);
    }
    await this.syncAddress(have.index, want.address, changes, failed);
    for (const kind of ["neigh", "fdb"] as const) {
      const wanted = kind === "neigh" ? d.neighbours : d.fdb.map((f) => ({ ip: f.dst, mac: f.mac }));
      await this.syncEntries(kind, have.index, wanted, changes, failed);
    }
    return { changes, failed };
  }

  private async syncAddress(
    index: number,
    address: string | undefined,
    changes: string[],
    failed: string[],
  ): Promise<void> {
    const have = (await this.sock.dump(GETADDR, addrDumpRequest()))
      .map(decodeAddress)
      .filter((a) => a?.ifindex === index);
    let found = false;
    for (const a of have) {
      if (!a) continue;
      if (a.address === address && a.prefixLen === 32) {
        found = true;
        continue;
      }
      await this.sock
        .request(deleteAddress(index, a.address, a.prefixLen))
        .then(() => changes.push(`address ${a.address}/${a.prefixLen} removed`))
        .catch((e: unknown) => failed.push(`address ${a.address}: ${String(e)}`));
    }
    if (address !== undefined && !found)
      await this.sock
        .request(addAddress(index, address, 32))
        .then(() => changes.push(`address ${address}/32 added`))
        .catch((e: unknown) => failed.push(`address ${address}: ${String(e)}`));
  }

  /** Makes the device's entries of one kind exactly `wanted`: adds, replaces and removes. */
  private async syncEntries(
    kind: "neigh" | "fdb",
    ifindex: number,
    wanted: readonly { ip: string; mac: string }[],
    changes: string[],
    failed: string[],
  ): Promise<void> {
    const have: NeighbourEntry[] = [];
    for (const m of await this.sock.dump(RTM_NEIGH.GETNEIGH, neighDumpRequest(kind))) {
      const e = decodeNeighbour(m);
      if (e && e.kind === kind && e.ifindex === ifindex) have.push(e);
    }
    // An ARP entry is keyed by its IP (one MAC each); an FDB entry by its MAC (one dst each).
    const id = (e: { ip: string; mac: string }): string => (kind === "neigh" ? e.ip : e.mac);
    const want = new Map(wanted.map((w) => [id(w), w]));
    const ok = new Set<string>();
    for (const e of have) {
      const w = want.get(id(e));
      if (w && key(w) === key(e) && e.state === 0x80 && !ok.has(id(e))) ok.add(id(e));
      else if (!w || key(w) !== key(e)) {
        const r = await this.sock.request(deleteNeighbour({ kind, ifindex, ip: e.ip, mac: e.mac })).then(
          () => true,
          (err: unknown) => (failed.push(`${kind} ${key(e)}: ${String(err)}`), false),
        );
        if (r) changes.push(`${kind} ${key(e)} removed`);
      }
    }
    for (const w of want.values()) {
      if (ok.has(id(w))) continue;
      await this.sock
        .request(replaceNeighbour({ kind, ifindex, ip: w.ip, mac: w.mac }))
        .then(() => changes.push(`${kind} ${key(w)} added`))
        .catch((err: unknown) => failed.push(`${kind} ${key(w)}: ${String(err)}`));
    }
  }
}
