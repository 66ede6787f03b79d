import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { hostIfName } from "../core/ifname.js";
import { Allocator, type AssignedAddress, type ClaimMode } from "../ipam/allocator.js";
import { IpamError } from "../ipam/errors.js";
import { openIpamDatastore } from "../ipam/open.js";
import { eligiblePools, podRequest } from "../ipam/select.js";
import {
  handleName,
  isNotFound,
  type IpamDatastore,
  type IpamObject,
  type IPAMHandleSpec,
} from "../ipam/store.js";
import {
  SUPPORTED_VERSIONS,
  parseNetConf,
  podOf,
  readEnv,
  type CniEnv,
  type CniResult,
  type NetConf,
} from "./config.js";
import { GATEWAY4, GATEWAY6, HOST_MAC, attach, detach, podMac, verify } from "./dataplane.js";
import { CNI_CODES, CniError } from "./errors.js";

export type PluginKind = "main" | "ipam";

/** The IPAM handle of one attachment: network name + container id, as Calico's `k8s-pod-network.<id>`. */
export function handleOf(conf: NetConf, env: CniEnv): string {
  return `${conf.name}.${env.containerId}`;
}

async function annotations(ds: IpamDatastore, ns: string, pod: string) {
  const get = async (kind: "Pod" | "Namespace", name: string, namespace?: string) => {
    try {
      return (await ds.get(kind, name, namespace)).metadata.annotations ?? {};
    } catch (e) {
      if (isNotFound(e)) return {};
      throw e;
    }
  };
  const [p, n] = await Promise.all([get("Pod", pod, ns), get("Namespace", ns)]);
  return { pod: p, namespace: n };
}

function flag(v: unknown): boolean | undefined {
  if (v === undefined) return undefined;
  return v === true || v === "true";
}

/** What a resident server wants to hear from the allocators it keeps (cni/agent.ts: the background claim). */
export interface ResidentHooks {
  /** Every block a resident allocator claims, inline (an ADD waited for it) or in the background. */
  readonly onClaim?: (cidr: string, mode: ClaimMode, node: string) => void;
  /** After an ADD got its addresses: the allocator it used and the node, to top the node's blocks up. */
  readonly afterAssign?: (alloc: Allocator, node: string) => void;
}

/** Datastores a resident server keeps open: their allocators (and caches) live from call to call. */
const resident = new WeakMap<IpamDatastore, { allocators: Map<boolean, Allocator>; hooks: ResidentHooks }>();

/**
 * The allocator a resident server keeps for `ds` (made resident with `hooks`
 * if it is not yet). It keeps the blocks it last wrote (a CAS from a stale one
 * is refused, so never wrong) and pools and node labels for a second (a pool
 * edited meanwhile is seen on the next ADD after that).
 */
export function residentAllocator(ds: IpamDatastore, strictAffinity: boolean, hooks: ResidentHooks = {}) {
  let r = resident.get(ds);
  if (!r) {
    r = { allocators: new Map(), hooks };
    resident.set(ds, r);
  }
  let a = r.allocators.get(strictAffinity);
  if (!a) {
    const onClaim = r.hooks.onClaim;
    a = new Allocator(ds, { strictAffinity, configCacheMs: 1_000, ...(onClaim ? { onClaim } : {}) });
    r.allocators.set(strictAffinity, a);
  }
  return a;
}

/** The allocator for a call: the resident one in a server, a fresh one in a one-shot process. */
function allocatorFor(ds: IpamDatastore, conf: NetConf): Allocator {
  const strictAffinity = flag(conf.ipam["strictAffinity"]) ?? false;
  if (!resident.has(ds)) return new Allocator(ds, { strictAffinity });
  return residentAllocator(ds, strictAffinity);
}

async function ipamAdd(conf: NetConf, env: CniEnv, ds: IpamDatastore): Promise<AssignedAddress[]> {
  const who = podOf(env);
  const alloc = allocatorFor(ds, conf);
  // Independent reads, at once: each one is a round trip (etcd) or a file read behind other writers.
  const [ann, pools, labels] = await Promise.all([
    who ? annotations(ds, who.namespace, who.pod) : { pod: {}, namespace: {} },
    alloc.poolConfig(),
    alloc.nodeLabels(conf.nodeName),
  ]);
  const ref = who ? `${who.namespace}/${who.pod}` : env.containerId;
  let request;
  try {
    request = podRequest(ref, ann.pod, ann.namespace);
  } catch (e) {
    throw new CniError(CNI_CODES.InvalidNetworkConfig, (e as Error).message);
  }
  // Each family whose pools select this node gets an address, unless the config says otherwise.
  const want = (family: 4 | 6, key: string): number => {
    const f = flag(conf.ipam[key]);
    if (f !== undefined) return f ? 1 : 0;
    return eligiblePools(pools, family, labels).length > 0 || request.pools[family] ? 1 : 0;
  };
  const num4 = want(4, "assign_ipv4");
  const num6 = want(6, "assign_ipv6");
  if (num4 + num6 === 0 && request.fixed.length === 0)
    throw new CniError(CNI_CODES.IpamFailure, `no enabled IPPool selects node ${conf.nodeName}`);
  const assigned = await alloc.assign({
    handle: handleOf(conf, env),
    node: conf.nodeName,
    ...(who ? { namespace: who.namespace, pod: who.pod } : {}),
    num4,
    num6,
    ...(request.pools[4] ? { pools4: request.pools[4] } : {}),
    ...(request.pools[6] ? { pools6: request.pools[6] } : {}),
    ...(request.fixed.length > 0 ? { fixed: request.fixed } : {}),
  });
  resident.get(ds)?.hooks.afterAssign?.(alloc, conf.nodeName);
  return assigned;
}

function ipamResult(conf: NetConf, ips: readonly AssignedAddress[]): CniResult {
  return {
    cniVersion: conf.cniVersion,
    ips: ips.map((a) => ({
      address: `${a.address}/${a.family === 4 ? 32 : 128}`,
      gateway: a.family === 4 ? GATEWAY4 : GATEWAY6,
    })),
    routes: [
      ...(ips.some((a) => a.family === 4) ? [{ dst: "0.0.0.0/0", gw: GATEWAY4 }] : []),
      ...(ips.some((a) => a.family === 6) ? [{ dst: "::/0", gw: GATEWAY6 }] : []),
    ],
    dns: {},
  };
}

/** Runs a delegated IPAM plugin that is not ours, as the spec says: same env, config on stdin. */
function delegate(conf: NetConf, env: CniEnv, stdin: string): CniResult | undefined {
  const bin = env.path.map((d) => join(d, conf.ipam.type)).find((p) => existsSync(p));
  if (!bin)
    throw new CniError(CNI_CODES.InvalidNetworkConfig, `IPAM plugin ${conf.ipam.type} not found in CNI_PATH`);
  const r = spawnSync(bin, [], {
    input: stdin,
    encoding: "utf8",
    env: { ...process.env, ...env.vars, CNI_COMMAND: env.command },
  });
  if (r.status !== 0) {
    let msg = r.stdout;
    try {
      msg = (JSON.parse(r.stdout) as { msg?: string }).msg ?? r.stdout;
    } catch {
      /* not JSON */
    }
    throw new CniError(
      CNI_CODES.IpamFailure,
      `IPAM plugin ${conf.ipam.type}: ${msg.trim() || r.stderr.trim()}`,
    );
  }
  return env.command === "ADD" ? (JSON.parse(r.stdout) as CniResult) : undefined;
}

function ipamError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof IpamError) return new CniError(CNI_CODES.IpamFailure, e.message);
  const code = (e as { code?: unknown }).code;
  if (code === "Conflict") return new CniError(CNI_CODES.TryAgainLater, (e as Error).message);
  return new CniError(CNI_CODES.IOFailure, `datastore: ${(e as Error).message}`);
}

function endpointName(conf: NetConf, pod: string, ifname: string): string {
  return `${conf.nodeName}.${pod}.${ifname}`.toLowerCase();
}

async function writeEndpoint(
  ds: IpamDatastore,
  conf: NetConf,
  env: CniEnv,
  ns: string,
  pod: string,
  hostIf: string,
  mac: string,
  ips: readonly AssignedAddress[],
): Promise<void> {
  const name = endpointName(conf, pod, env.ifname);
  const obj = {
    apiVersion: "tortie.io/v1",
    kind: "WorkloadEndpoint",
    metadata: { name, namespace: ns },
    spec: {
      node: conf.nodeName,
      pod,
      containerID: env.containerId,
      network: conf.name,
      interfaceName: hostIf,
      ifname: env.ifname,
      mac,
      netns: env.netns,
      ipNetworks: ips.map((a) => `${a.address}/${a.family === 4 ? 32 : 128}`),
    },
  };
  try {
    await ds.create("WorkloadEndpoint", obj);
  } catch (e) {
    if ((e as { code?: unknown }).code !== "AlreadyExists") throw e;
    await ds.update("WorkloadEndpoint", obj);
  }
}

/** The pod of an attachment: from CNI_ARGS, else (a DEL without them) from its IPAM handle. */
async function podFor(ds: IpamDatastore, conf: NetConf, env: CniEnv) {
  const who = podOf(env);
  if (who) return who;
  try {
    const h = (await ds.get("IPAMHandle", handleName(handleOf(conf, env)))).spec as IPAMHandleSpec;
    return h.namespace && h.pod ? { namespace: h.namespace, pod: h.pod } : undefined;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

async function cmdMain(
  conf: NetConf,
  env: CniEnv,
  stdin: string,
  ds: IpamDatastore,
): Promise<CniResult | undefined> {
  const ours = conf.ipam.type === "tortie-ipam";
  switch (env.command) {
    case "ADD": {
      const who = podOf(env);
      if (!who)
        throw new CniError(
          CNI_CODES.InvalidEnvironment,
          "CNI_ARGS must name K8S_POD_NAMESPACE and K8S_POD_NAME",
        );
      if (!existsSync(env.netns))
        throw new CniError(CNI_CODES.UnknownContainer, `CNI_NETNS ${env.netns} does not exist`);
      // Our IPAM runs in-process: a second Node start would double ADD's latency.
      let ips: AssignedAddress[];
      try {
        ips = ours
          ? await ipamAdd(conf, env, ds)
          : (delegate(conf, env, stdin)?.ips ?? []).map((i) => {
              const address = i.address.split("/")[0] ?? "";
              return { address, family: address.includes(":") ? 6 : 4, pool: "" };
            });
      } catch (e) {
        throw ipamError(e);
      }
      const hostIf = hostIfName(who.namespace, who.pod);
      // The pod's MAC is derived from the container id, so the endpoint record (a datastore write:
      // an fsync or an etcd round trip) is written while the links are made, not after.
      const mac = podMac(env.containerId);
      const [wired, recorded] = await Promise.allSettled([
        attach({
          hostIf,
          ifname: env.ifname,
          netns: env.netns,
          mtu: conf.mtu,
          addresses: ips.map((i) => i.address),
          containerId: env.containerId,
        }),
        writeEndpoint(ds, conf, env, who.namespace, who.pod, hostIf, mac, ips),
      ]);
      try {
        if (wired.status === "rejected") throw wired.reason;
        if (recorded.status === "rejected") throw recorded.reason;
        const r = ipamResult(conf, ips);
        return {
          ...r,
          interfaces: [
            { name: hostIf, mac: HOST_MAC },
            { name: env.ifname, mac, sandbox: env.netns },
          ],
          ips: r.ips.map((i) => ({ ...i, interface: 1 })),
        };
      } catch (e) {
        // Leave nothing half-made: the kubelet will retry ADD or call DEL.
        if (wired.status === "fulfilled") await detach(hostIf).catch(() => undefined);
        if (recorded.status === "fulfilled")
          await ds
            .delete("WorkloadEndpoint", endpointName(conf, who.pod, env.ifname), who.namespace)
            .catch(() => undefined);
        if (ours)
          await allocatorFor(ds, conf)
            .releaseHandle(handleOf(conf, env))
            .catch(() => undefined);
        else delegateQuiet(conf, { ...env, command: "DEL" }, stdin);
        throw e instanceof CniError ? e : new CniError(CNI_CODES.IOFailure, (e as Error).message);
      }
    }
    case "DEL": {
      const who = await podFor(ds, conf, env);
      if (who)
        await Promise.all([
          detach(hostIfName(who.namespace, who.pod)),
          ds
            .delete("WorkloadEndpoint", endpointName(conf, who.pod, env.ifname), who.namespace)
            .catch((e: unknown) => {
              if (!isNotFound(e)) throw e;
            }),
        ]);
      try {
        if (ours) await allocatorFor(ds, conf).releaseHandle(handleOf(conf, env));
        else delegate(conf, env, stdin);
      } catch (e) {
        throw ipamError(e);
      }
      return undefined;
    }
    case "CHECK": {
      const who = podOf(env);
      if (!who)
        throw new CniError(
          CNI_CODES.InvalidEnvironment,
          "CNI_ARGS must name K8S_POD_NAMESPACE and K8S_POD_NAME",
        );
      if (!conf.prevResult)
        throw new CniError(
          CNI_CODES.InvalidNetworkConfig,
          "CHECK needs prevResult in the network configuration",
        );
      const addresses = conf.prevResult.ips.map((i) => i.address.split("/")[0] ?? "");
      const what = `pod ${who.namespace}/${who.pod}`;
      if (!existsSync(env.netns))
        throw new CniError(
          CNI_CODES.UnknownContainer,
          `CHECK ${what}: CNI_NETNS ${env.netns} does not exist`,
        );
      if (ours) {
        const held = await new Allocator(ds).addressesOf(handleOf(conf, env));
        for (const a of addresses)
          if (!held.includes(a))
            throw new CniError(
              CNI_CODES.CheckFailed,
              `CHECK ${what}: address ${a} is not allocated to handle ${handleOf(conf, env)}`,
            );
      }
      await verify(
        {
          hostIf: hostIfName(who.namespace, who.pod),
          ifname: env.ifname,
          netns: env.netns,
          mtu: conf.mtu,
          addresses,
          containerId: env.containerId,
        },
        what,
      );
      return undefined;
    }
    case "GC":
      await gc(conf, ds, true);
      return undefined;
    case "STATUS":
    case "VERSION":
      return undefined;
  }
}

function delegateQuiet(conf: NetConf, env: CniEnv, stdin: string): void {
  try {
    delegate(conf, env, stdin);
  } catch {
    /* best effort while unwinding a failed ADD */
  }
}

interface EndpointSpec {
  readonly node: string;
  readonly pod: string;
  readonly containerID: string;
  readonly network: string;
  readonly interfaceName: string;
}

/**
 * CNI 1.1 GC: drop every attachment of this node and network that the
 * runtime no longer lists in `cni.dev/valid-attachments`: its host veth (the
 * pod end goes with it), its WorkloadEndpoint and its addresses. The host
 * link is named by namespace and pod, not by container: a link that a valid
 * attachment of the same pod uses (the pod's sandbox was re-created) is kept.
 * With `links` false (the IPAM plugin) only addresses are released.
 */
async function gc(conf: NetConf, ds: IpamDatastore, links: boolean): Promise<void> {
  const valid = new Set((conf.validAttachments ?? []).map((a) => a.containerID));
  const alloc = new Allocator(ds);
  const prefix = `${conf.name}.`;
  const stale: { containerID: string; namespace?: string; pod?: string; endpoint?: IpamObject }[] = [];
  const inUse = new Set<string>();
  if (links) {
    for (const o of (await ds.list("WorkloadEndpoint")).items) {
      const w = o.spec as EndpointSpec;
      if (w.node !== conf.nodeName || w.network !== conf.name) continue;
      if (valid.has(w.containerID)) inUse.add(w.interfaceName);
      else
        stale.push({
          containerID: w.containerID,
          ...(o.metadata.namespace !== undefined ? { namespace: o.metadata.namespace } : {}),
          pod: w.pod,
          endpoint: o,
        });
    }
  }
  for (const o of (await ds.list("IPAMHandle")).items) {
    const h = o.spec as IPAMHandleSpec;
    if (h.node !== conf.nodeName || !h.handleID.startsWith(prefix)) continue;
    const containerID = h.handleID.slice(prefix.length);
    if (valid.has(containerID) || stale.some((s) => s.containerID === containerID)) continue;
    stale.push({
      containerID,
      ...(h.namespace !== undefined ? { namespace: h.namespace } : {}),
      ...(h.pod !== undefined ? { pod: h.pod } : {}),
    });
  }
  for (const s of stale) {
    if (links && s.namespace && s.pod) {
      const hostIf = hostIfName(s.namespace, s.pod);
      if (!inUse.has(hostIf)) await detach(hostIf);
    }
    if (s.endpoint)
      await ds
        .delete("WorkloadEndpoint", s.endpoint.metadata.name, s.endpoint.metadata.namespace)
        .catch((e: unknown) => {
          if (!isNotFound(e)) throw e;
        });
    await alloc.releaseHandle(`${prefix}${s.containerID}`);
  }
}

async function status(conf: NetConf, ds: IpamDatastore): Promise<void> {
  let pools;
  try {
    const alloc = new Allocator(ds);
    pools =
      eligiblePools(await alloc.pools(), 4, await alloc.nodeLabels(conf.nodeName)).length +
      eligiblePools(await alloc.pools(), 6, await alloc.nodeLabels(conf.nodeName)).length;
  } catch (e) {
    throw new CniError(
      CNI_CODES.PluginNotAvailable,
      `datastore ${conf.datastore} is not usable: ${(e as Error).message}`,
    );
  }
  if (pools === 0)
    throw new CniError(CNI_CODES.PluginNotAvailable, `no enabled IPPool selects node ${conf.nodeName}`);
}

async function cmdIpam(conf: NetConf, env: CniEnv, ds: IpamDatastore): Promise<CniResult | undefined> {
  const alloc = allocatorFor(ds, conf);
  try {
    switch (env.command) {
      case "ADD":
        return ipamResult(conf, await ipamAdd(conf, env, ds));
      case "DEL":
        await alloc.releaseHandle(handleOf(conf, env));
        return undefined;
      case "CHECK": {
        const held = await alloc.addressesOf(handleOf(conf, env));
        if (held.length === 0)
          throw new CniError(CNI_CODES.CheckFailed, `CHECK: handle ${handleOf(conf, env)} holds no address`);
        return undefined;
      }
      case "GC":
        await gc(conf, ds, false);
        return undefined;
      case "STATUS":
      case "VERSION":
        return undefined;
    }
  } catch (e) {
    throw ipamError(e);
  }
}

export interface RunOptions {
  /** How to open the configuration's datastore (the resident server hands out open ones). */
  readonly open?: (url: string) => Promise<IpamDatastore>;
  /** Leave the datastore open afterwards (it belongs to whoever opened it). */
  readonly keepOpen?: boolean;
  /** With keepOpen: the resident server's hooks, for a datastore it has not made resident yet. */
  readonly hooks?: ResidentHooks;
}

/**
 * One CNI invocation: reads env and stdin, writes the result or the error JSON
 * to stdout, returns the exit code. Never throws.
 */
export async function runPlugin(
  kind: PluginKind,
  env: NodeJS.ProcessEnv,
  stdin: string,
  opts: RunOptions = {},
): Promise<{ code: number; out: string }> {
  const open = opts.open ?? openIpamDatastore;
  let cniVersion = "1.0.0";
  try {
    const e = readEnv(env);
    if (e.command === "VERSION")
      return {
        code: 0,
        out: JSON.stringify({ cniVersion: "1.1.0", supportedVersions: SUPPORTED_VERSIONS }),
      };
    const conf = parseNetConf(stdin, e.command);
    cniVersion = conf.cniVersion;
    if (kind === "main" && conf.type !== "tortie")
      throw new CniError(
        CNI_CODES.InvalidNetworkConfig,
        `network configuration: "type" is ${conf.type}, this is the tortie plugin`,
      );
    let ds: IpamDatastore;
    try {
      ds = await open(conf.datastore);
      if (opts.keepOpen && !resident.has(ds))
        resident.set(ds, { allocators: new Map(), hooks: opts.hooks ?? {} });
    } catch (err) {
      throw new CniError(
        e.command === "STATUS" ? CNI_CODES.PluginNotAvailable : CNI_CODES.InvalidNetworkConfig,
        `datastore ${conf.datastore}: ${(err as Error).message}`,
      );
    }
    try {
      if (e.command === "STATUS") {
        await status(conf, ds);
        return { code: 0, out: "" };
      }
      const result = kind === "main" ? await cmdMain(conf, e, stdin, ds) : await cmdIpam(conf, e, ds);
      return { code: 0, out: result ? JSON.stringify(result) : "" };
    } finally {
      if (!opts.keepOpen) await ds.close();
    }
  } catch (err) {
    const ce = err instanceof CniError ? err : new CniError(CNI_CODES.IOFailure, (err as Error).message);
    return { code: 1, out: JSON.stringify(ce.toJSON(cniVersion)) };
  }
}
