/**
 * The in-process speaker, configured from the calculated BgpWant. Learned best routes reach the
 * route reconciler through Speaker.onBestChange.
 */
import { checkConfig, type ParsedConfig } from "../bgp/config.js";
import type { BgpWant } from "./calc/desired.js";

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
        ...(p.routeReflectorClient ? { routeReflectorClient: true } : {}),
        ...(p.nextHopMode !== undefined ? { nextHopMode: p.nextHopMode } : {}),
        ...(p.filters !== undefined ? { filters: [...p.filters] } : {}),
        ...(p.ttlSecurity !== undefined ? { ttlSecurity: p.ttlSecurity } : {}),
        ...(p.bfd ? { bfd: true } : {}),
        ...(p.password !== undefined ? { password: p.password } : {}),
      })),
      filters: [...want.filters],
      pools: [...want.pools],
      serviceClusterIPs: want.serviceClusterIPs.map((cidr) => ({ cidr })),
      serviceExternalIPs: want.serviceExternalIPs.map((cidr) => ({ cidr })),
      serviceLoadBalancerIPs: want.serviceLoadBalancerIPs.map((cidr) => ({ cidr })),
      originate: [...want.originate],
      multipath: true,
      gracefulRestart: { restartTime: want.restartTime },
      ...(want.routeReflectorClusterId !== undefined ? { clusterId: want.routeReflectorClusterId } : {}),
    },
    "felix bgp config",
  );
}
