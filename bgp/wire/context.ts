import { findCapability, type Capability, type GracefulRestartCapability } from "./capabilities/index.js";
import { Afi, afiSafiKey, Safi } from "./constants.js";
import { openAs, type OpenMessage } from "./open.js";

/**
 * What a session negotiated, as the codec needs it. Built once per session by `negotiate` (or by
 * hand in tests) and passed to every UPDATE decode and encode.
 */
export interface WireContext {
  /** RFC 6793: both sides advertised the 4-octet AS capability (AS numbers are 4 octets). */
  readonly asn4: boolean;
  /** RFC 8654: both sides advertised Extended Message (UPDATEs up to 65535 bytes). */
  readonly extendedMessage: boolean;
  /** RFC 7911: families (afiSafiKey) whose NLRI we receive with a Path Identifier. */
  readonly addPathReceive: ReadonlySet<number>;
  /** RFC 7911: families whose NLRI we send with a Path Identifier. */
  readonly addPathSend: ReadonlySet<number>;
  /** The session is eBGP: LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST from it are discarded. */
  readonly ebgp: boolean;
  /**
   * RFC 4271 §6.3: when set, an AS_PATH whose leftmost AS is not this one is malformed
   * (treat-as-withdraw). `negotiate` sets it to the peer AS on eBGP sessions; a route server
   * peer must clear it.
   */
  readonly enforceFirstAs?: number;
}

export const defaultContext: WireContext = {
  asn4: true,
  extendedMessage: false,
  addPathReceive: new Set(),
  addPathSend: new Set(),
  ebgp: false,
};

export function makeContext(partial: Partial<WireContext> = {}): WireContext {
  return { ...defaultContext, ...partial };
}

export interface Negotiated {
  readonly context: WireContext;
  /** RFC 4271 §4.2: the smaller of the two; 0 means no keepalives and no hold timer. */
  readonly holdTime: number;
  readonly peerAs: number;
  /** Families both sides advertised (IPv4 unicast when neither side sent Multiprotocol). */
  readonly families: ReadonlySet<number>;
  readonly routeRefresh: boolean;
  /** The peer's graceful restart capability, if it sent one. */
  readonly gracefulRestart: GracefulRestartCapability | undefined;
}

function mpFamilies(caps: readonly Capability[]): Set<number> {
  const out = new Set<number>();
  for (const c of caps) if (c.kind === "multiprotocol") out.add(afiSafiKey(c.afi, c.safi));
  // RFC 4760 §8: a speaker that advertises no Multiprotocol capability does IPv4 unicast only.
  if (out.size === 0) out.add(afiSafiKey(Afi.IPV4, Safi.UNICAST));
  return out;
}

function addPathDir(caps: readonly Capability[], bit: 1 | 2): Set<number> {
  const out = new Set<number>();
  const ap = findCapability(caps, "add-path");
  for (const f of ap?.families ?? []) if ((f.sendReceive & bit) !== 0) out.add(afiSafiKey(f.afi, f.safi));
  return out;
}

/** Combines our OPEN and the peer's into what the session runs with. */
export function negotiate(local: OpenMessage, remote: OpenMessage): Negotiated {
  const has = (caps: readonly Capability[], kind: Capability["kind"]): boolean =>
    caps.some((c) => c.kind === kind);
  const both = (kind: Capability["kind"]): boolean =>
    has(local.capabilities, kind) && has(remote.capabilities, kind);
  const localFamilies = mpFamilies(local.capabilities);
  const families = new Set([...mpFamilies(remote.capabilities)].filter((f) => localFamilies.has(f)));
  const localRx = addPathDir(local.capabilities, 1);
  const localTx = addPathDir(local.capabilities, 2);
  const remoteRx = addPathDir(remote.capabilities, 1);
  const remoteTx = addPathDir(remote.capabilities, 2);
  const peerAs = openAs(remote);
  return {
    context: {
      asn4: both("four-octet-as"),
      extendedMessage: both("extended-message"),
      addPathReceive: new Set([...localRx].filter((f) => remoteTx.has(f) && families.has(f))),
      addPathSend: new Set([...localTx].filter((f) => remoteRx.has(f) && families.has(f))),
      ebgp: peerAs !== openAs(local),
      ...(peerAs !== openAs(local) ? { enforceFirstAs: peerAs } : {}),
    },
    holdTime: Math.min(local.holdTime, remote.holdTime),
    peerAs,
    families,
    routeRefresh: both("route-refresh"),
    gracefulRestart: findCapability(remote.capabilities, "graceful-restart"),
  };
}
