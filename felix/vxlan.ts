/**
 * The VXLAN overlay's shell in the agent: this node's tunnel address (IPAM, handle
 * `vxlan-tunnel-addr-<node>`) and VTEP published on its Node, the calculation (calc/vxlan.ts) and
 * the device reconciler (dataplane/vxlan.ts). The agent calls sync() once per programming pass,
 * before routes, and adds `routes` to its local routes: a block of a VXLAN pool is routed from the
 * datastore, so a BGP-learned route for the same prefix is not installed over it.
 */
import { errorMessage } from "../core/errors.js";
import type { RouteSpec } from "../core/kernel-routes.js";
import { log } from "../core/log.js";
import { ConflictError, NotFoundError, type Datastore } from "../datastore/index.js";
import { Allocator } from "../ipam/allocator.js";
import { ipamDatastore } from "../ipam/open.js";
import type { ClusterCache } from "./calc/cache.js";
import {
  ANN_VXLAN_ADDR,
  ANN_VXLAN_MAC,
  VXLAN_DEVICE,
  computeVxlan,
  tunnelHandle,
  vtepMac,
  vxlanInput,
  type VxlanDesired,
} from "./calc/vxlan.js";
import { VxlanReconciler } from "./dataplane/vxlan.js";

export class VxlanManager {
  private readonly reconciler = new VxlanReconciler();
  private mtu: number | undefined;
  private mtuRead = false;
  private problems = "";
  private assignFailed = false;
  /** What the kernel was last made to hold: an event pass with the same skips the netlink dumps. */
  private programmedKey = "";
  private synced = false;
  /** The overlay's routes as last computed; kept when a pass fails, so routes are not withdrawn by an error. */
  routes: readonly RouteSpec[] = [];
  last: VxlanDesired | undefined;

  constructor(
    private readonly ds: Datastore,
    private readonly node: string,
    private readonly ip: string | undefined,
    private readonly onRepair: (n: number) => void,
  ) {}

  close(): void {
    this.reconciler.close();
  }

  async sync(cache: ClusterCache, full: boolean): Promise<void> {
    if (!this.mtuRead || full) {
      this.mtu = await this.reconciler.underlayMtu(this.ip);
      this.mtuRead = true;
    }
    const d = computeVxlan(vxlanInput(cache, { name: this.node, ip: this.ip }, this.mtu));
    const problems = d.problems.join("\n");
    if (problems !== this.problems && problems !== "")
      for (const p of d.problems) log().warn({ problem: p }, "VXLAN: object ignored");
    this.problems = problems;
    this.last = d;
    this.routes = d.routes;
    // The datastore being unreachable must not stop the kernel from being reconciled.
    const published = await this.publish(cache, d, full).then(
      () => undefined,
      (err: unknown) => `tunnel address not published: ${errorMessage(err)}`,
    );
    const key = JSON.stringify([d.device, d.neighbours, d.fdb]);
    if (!full && key === this.programmedKey) {
      if (published !== undefined) throw new Error(`VXLAN: ${published}`);
      return;
    }
    this.programmedKey = "";
    const r = await this.reconciler.sync(d, VXLAN_DEVICE);
    if (r.changes.length > 0) {
      log().info({ changes: r.changes }, "VXLAN programmed");
      // The first programming after start is not drift; later changes found by a resync are.
      if (full && this.synced) this.onRepair(r.changes.length);
    }
    if (r.failed.length === 0) this.programmedKey = key;
    this.synced = true;
    const failed = [...r.failed, ...(published !== undefined ? [published] : [])];
    if (failed.length > 0) throw new Error(`VXLAN: ${failed.join("; ")}`);
  }

  /**
   * Gives this node a tunnel address while an enabled VXLAN pool exists, and releases it when none
   * does; the Node's annotations follow, and their echo through the informer programs the device.
   * A full pass also checks that IPAM still holds the published address for our handle (a release
   * by hand would otherwise let a pod get the same address).
   */
  private async publish(cache: ClusterCache, d: VxlanDesired, full: boolean): Promise<void> {
    if (this.ip === undefined) return;
    const ann = cache.get("Node", this.node)?.metadata.annotations ?? {};
    const current = ann[ANN_VXLAN_ADDR];
    const mac = vtepMac(this.node);
    const handle = tunnelHandle(this.node);
    const alloc = new Allocator(ipamDatastore(this.ds));
    if (d.tunnelPools.length > 0) {
      const fresh = current !== undefined && d.tunnelValid && ann[ANN_VXLAN_MAC] === mac;
      if (fresh && !full) return;
      // After a failure (no pool selects this node, pool exhausted) only full passes try again.
      if (!fresh && this.assignFailed && !full) return;
      const held = await alloc.addressesOf(handle);
      if (fresh && current !== undefined && held.includes(current)) return;
      // The held address left every VXLAN pool (pool changed or disabled): give it back first.
      if (!d.tunnelValid && held.length > 0) await alloc.releaseHandle(handle);
      let got: string | undefined;
      try {
        // Assigning again with the same handle returns the address it already holds (a restart).
        [got] = (
          await alloc.assign({ handle, node: this.node, num4: 1, num6: 0, pools4: d.tunnelPools })
        ).map((a) => a.address);
        this.assignFailed = false;
      } catch (err) {
        if (!this.assignFailed)
          log().warn(
            { err: errorMessage(err), pools: d.tunnelPools },
            "VXLAN: no tunnel address for this node",
          );
        this.assignFailed = true;
        return;
      }
      if (got === undefined) return;
      if (got !== current || ann[ANN_VXLAN_MAC] !== mac) {
        await this.annotate({ [ANN_VXLAN_ADDR]: got, [ANN_VXLAN_MAC]: mac });
        log().info({ address: got, mac }, "VXLAN tunnel address assigned");
      }
    } else if (current !== undefined && d.device === undefined) {
      await alloc.releaseHandle(handle);
      await this.annotate({ [ANN_VXLAN_ADDR]: undefined, [ANN_VXLAN_MAC]: undefined });
      log().info("no VXLAN pool left: tunnel address released");
    }
  }

  /** Sets (or, with undefined, removes) annotations on this node's Node; CAS, retried. */
  private async annotate(change: Record<string, string | undefined>): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      let node;
      try {
        node = await this.ds.get("Node", this.node);
      } catch (err) {
        if (err instanceof NotFoundError) return;
        throw err;
      }
      const annotations: Record<string, string> = { ...(node.metadata.annotations ?? {}) };
      for (const [k, v] of Object.entries(change))
        if (v === undefined) delete annotations[k];
        else annotations[k] = v;
      try {
        await this.ds.update("Node", { ...node, metadata: { ...node.metadata, annotations } });
        return;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        log().debug({ err: errorMessage(err) }, "Node changed meanwhile: annotating again");
      }
    }
    throw new Error(`cannot annotate Node ${this.node}: too many conflicting writes`);
  }
}
