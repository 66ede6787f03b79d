/**
 * The in-process speaker, configured from the calculated BgpWant. Learned best routes reach the
 * route reconciler through `onBestChange` (the routing branch's API) when the speaker has it, else
 * through the Loc-RIB's change listener, which carries the same information.
 */
import { checkConfig, type ParsedConfig } from "../bgp/config.js";
import { formatPrefix } from "../bgp/rib/prefix.js";
import { LOCAL_SOURCE } from "../bgp/rib/rib.js";
import type { Speaker } from "../bgp/session/speaker.js";
import type { BgpWant } from "./calc/desired.js";

export type BestListener = (prefix: string, nextHops: readonly string[] | undefined) => void;

/** The speaker config for a node; the node's address is where it listens and connects from. */
export function speakerConfig(want: BgpWant): ParsedConfig {
  return checkConfig(
    {
      routerId: want.routerId,
      asn: want.asn,
      listen: { address: want.routerId, port: want.listenPort },
      peers: want.peers.map((p) => ({
        address: p.address,
        asn: p.asn,
        ...(p.port !== 179 ? { port: p.port } : {}),
        ...(p.address.includes(":") ? {} : { localAddress: want.routerId }),
      })),
      originate: [...want.originate],
    },
    "felix bgp config",
  );
}

/** Subscribes to learned best routes; replays the current ones first. */
export function onLearnedBest(speaker: Speaker, fn: BestListener): void {
  const withApi = speaker as unknown as { onBestChange?: (l: BestListener) => () => void };
  if (typeof withApi.onBestChange === "function") {
    withApi.onBestChange(fn);
    return;
  }
  speaker.rib.onChange((k, best) => {
    fn(formatPrefix(k), best && best.source !== LOCAL_SOURCE ? best.attrs.nextHop : undefined);
  });
  for (const [k, c] of speaker.rib.entries())
    if (c.source !== LOCAL_SOURCE) fn(formatPrefix(k), c.attrs.nextHop);
}
