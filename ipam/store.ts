import type { AllocationAttrs, BlockData } from "./block.js";

/**
 * The part of the datastore (datastore/types.ts: Datastore) that IPAM and the
 * CNI plugin use, written structurally so the allocator's core can run over any
 * backend (file, etcd, Kubernetes) and over an in-memory store in unit tests.
 */
export type IpamKind =
  | "IPAMBlock"
  | "IPAMHandle"
  | "BlockAffinity"
  | "IPPool"
  | "IPReservation"
  | "Node"
  | "Pod"
  | "Namespace"
  | "WorkloadEndpoint";

export interface IpamMeta {
  name: string;
  namespace?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface IpamObject<S = unknown> {
  apiVersion: string;
  kind: string;
  metadata: IpamMeta;
  spec?: S;
  [field: string]: unknown;
}

export interface IpamDatastore {
  readonly url: string;
  get(kind: IpamKind, name: string, namespace?: string): Promise<IpamObject>;
  list(kind: IpamKind, opts?: { namespace?: string }): Promise<{ items: IpamObject[] }>;
  create(kind: IpamKind, obj: IpamObject): Promise<IpamObject>;
  update(kind: IpamKind, obj: IpamObject): Promise<IpamObject>;
  delete(
    kind: IpamKind,
    name: string,
    namespace?: string,
    opts?: { resourceVersion?: string },
  ): Promise<void>;
  close(): Promise<void>;
}

/** The datastore's typed failures, recognised by their stable code (datastore/errors.ts). */
export function errCode(e: unknown): string | undefined {
  if (typeof e === "object" && e !== null && "code" in e) {
    const c = e.code;
    return typeof c === "string" ? c : undefined;
  }
  return undefined;
}
export const isNotFound = (e: unknown): boolean => errCode(e) === "NotFound";
export const isConflict = (e: unknown): boolean => errCode(e) === "Conflict";
export const isAlreadyExists = (e: unknown): boolean => errCode(e) === "AlreadyExists";

/** For `.catch()`: an object that is not there reads as undefined; any other failure stays one. */
export function ignoreNotFound(e: unknown): undefined {
  if (isNotFound(e)) return undefined;
  throw e;
}

export const API_VERSION = "tortie.io/v1";

export type AffinityState = "pending" | "confirmed" | "pendingDeletion";

/** A node's claim on a block. The block's own `affinity` field is the truth; this record is the index. */
export interface BlockAffinitySpec {
  readonly node: string;
  readonly cidr: string;
  readonly state: AffinityState;
  /** When the state was last set (ms); a pending claim older than the claim timeout is debris of a dead allocator. */
  readonly time: number;
}

/** Everything allocated to one owner, and the blocks to look in when it is released. */
export interface IPAMHandleSpec {
  readonly handleID: string;
  readonly blocks: readonly string[];
  readonly node: string;
  readonly namespace?: string;
  readonly pod?: string;
  readonly time: number;
}

export interface IPReservationSpec {
  readonly reservedCIDRs: readonly string[];
}

export type BlockObject = IpamObject<BlockData>;
export type AffinityObject = IpamObject<BlockAffinitySpec>;
export type HandleObject = IpamObject<IPAMHandleSpec>;
export type { AllocationAttrs };

/** Object names are DNS-1123 subdomains: addresses and CIDRs are spelled with dashes. */
export function blockName(cidr: string): string {
  return cidr.replace(/[:./]/g, "-").toLowerCase();
}

export function affinityName(cidr: string, node: string): string {
  return `${blockName(cidr)}.${node}`;
}

/** A handle id (container id or `k8s-pod-network.<id>`) made a valid name; ids are hex, so it is one to one in practice. */
export function handleName(handle: string): string {
  const n = handle
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, "-")
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "");
  return n === "" ? "handle" : n.slice(0, 253);
}

export function ipamObject<S>(
  kind: IpamKind,
  name: string,
  spec: S,
  resourceVersion?: string,
): IpamObject<S> {
  return {
    apiVersion: API_VERSION,
    kind,
    metadata: resourceVersion === undefined ? { name } : { name, resourceVersion },
    spec,
  };
}

export function specOf<S>(o: IpamObject): S {
  return o.spec as S;
}
