import ipaddr from "ipaddr.js";
import { createServer, type Server } from "node:net";
import type { Logger } from "../../core/log.js";
import type { ParsedConfig } from "../config.js";
import type { BgpPeerConfig } from "../config.js";
import { DEFAULT_FSM_CONFIG, systemClock, type Clock } from "../fsm/index.js";
import { formatPrefix, type PrefixKey } from "../rib/prefix.js";
import { LOCAL_SOURCE, LocRib, type Candidate } from "../rib/rib.js";
import { Connection } from "./connection.js";
import type { ControlTarget, RouteView, RoutesView, StatusView } from "./control.js";
import { Peer, type PeerHost, type PeerSettings } from "./peer.js";
import { LOCAL_ROUTE, RouteAttrsTable, attributesView, type RouteAttrs } from "./routes.js";

/** RFC 4271 §9.1 comes with issue 4; until then: our own routes, then the shorter AS path, then the older peer. */
export function simpleBestPath(a: Candidate<RouteAttrs>, b: Candidate<RouteAttrs>): number {
  if (a.source === LOCAL_SOURCE || b.source === LOCAL_SOURCE) return a.source - b.source;
  return a.attrs.asPathLength - b.attrs.asPathLength || a.source - b.source;
}

/** The canonical text of an address, so "::ffff:10.0.0.1", "10.0.0.1" and "2001:DB8::1" compare sanely. */
export function canonicalAddress(a: string): string {
  try {
    const p = ipaddr.process(a);
    return p.toString();
  } catch {
    return a;
  }
}

function peerSettings(p: BgpPeerConfig, globalHold: number | undefined): PeerSettings {
  return {
    address: canonicalAddress(p.address),
    asn: p.asn,
    port: p.port ?? 179,
    ...(p.localAddress !== undefined ? { localAddress: p.localAddress } : {}),
    fsm: {
      ...DEFAULT_FSM_CONFIG,
      holdTime: p.holdTime ?? globalHold ?? DEFAULT_FSM_CONFIG.holdTime,
      ...(p.keepalive !== undefined ? { keepalive: p.keepalive } : {}),
      passive: p.passive ?? false,
      connectRetryTime: p.connectRetryTime ?? DEFAULT_FSM_CONFIG.connectRetryTime,
      delayOpenTime: p.delayOpenTime ?? 0,
    },
  };
}

/**
 * The speaker: one Loc-RIB, one listening socket shared by every peer, and the
 * peers. It exports only what it originates; issue 4 adds transit, reflection
 * and filters on top of the same tables.
 */
export class Speaker implements ControlTarget {
  readonly rib = new LocRib<RouteAttrs>(simpleBestPath);
  private readonly peers = new Map<string, Peer>();
  private server: Server | undefined;
  private nextSource = 1;
  private originated = new Set<PrefixKey>();
  private readonly host: PeerHost;

  constructor(
    private parsed: ParsedConfig,
    readonly log: Logger,
    readonly clock: Clock = systemClock,
  ) {
    this.rib.addSource(LOCAL_SOURCE);
    const config = (): ParsedConfig["config"] => this.parsed.config;
    this.host = {
      get localAs() {
        return config().asn;
      },
      get routerId() {
        return config().routerId;
      },
      clock,
      rib: this.rib,
      log,
      attrs: new RouteAttrsTable(),
      exportable: () => this.exportable(),
    };
    this.rib.onChange((k, best) => {
      // Only what we originate is exported: a learned route's change concerns no peer (a million
      // of them arrive in a full feed, so this test runs before any per-peer work).
      if (best?.source !== LOCAL_SOURCE && !this.originated.has(k)) return;
      const want = best?.source === LOCAL_SOURCE ? best.attrs : undefined;
      for (const p of this.peers.values()) p.queueExport(k, want);
    });
  }

  private *exportable(): Iterable<[PrefixKey, RouteAttrs]> {
    for (const [k, c] of this.rib.entries()) if (c.source === LOCAL_SOURCE) yield [k, c.attrs];
  }

  async start(): Promise<void> {
    const { address, port } = this.parsed.config.listen;
    const server = createServer({ pauseOnConnect: true }, (sock) => {
      const remote = canonicalAddress(sock.remoteAddress ?? "");
      const peer = this.peers.get(remote);
      if (!peer) {
        this.log.info({ remote }, "refusing a connection from an unconfigured address");
        sock.destroy();
        return;
      }
      peer.incoming(new Connection(sock, "incoming"));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: address, port, ipv6Only: false }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    this.log.info({ address, port }, "listening for BGP connections");
    this.apply(this.parsed);
  }

  /** Brings originated routes and peers in line with a (new) config; untouched peers keep their sessions. */
  apply(next: ParsedConfig): void {
    const old = this.parsed;
    this.parsed = next;
    if (old.config.asn !== next.config.asn || old.config.routerId !== next.config.routerId) {
      this.log.warn("asn or routerId changed: restarting every session");
      for (const p of this.peers.values()) this.removePeer(p);
    }
    const wanted = new Set(next.originate);
    for (const k of this.originated) {
      if (!wanted.has(k)) {
        this.rib.withdraw(LOCAL_SOURCE, k);
        this.log.info({ prefix: formatPrefix(k) }, "no longer originated: withdrawn");
      }
    }
    for (const k of wanted) if (!this.originated.has(k)) this.rib.announce(LOCAL_SOURCE, k, LOCAL_ROUTE);
    this.originated = wanted;

    const settings = new Map<string, PeerSettings>();
    for (const p of next.config.peers) {
      const s = peerSettings(p, next.config.holdTime);
      settings.set(s.address, s);
    }
    for (const [addr, p] of this.peers) {
      const s = settings.get(addr);
      if (!s || JSON.stringify(s) !== JSON.stringify(p.settings)) this.removePeer(p);
    }
    for (const [addr, s] of settings) {
      if (this.peers.has(addr)) continue;
      const p = new Peer(this.nextSource++, s, this.host);
      this.peers.set(addr, p);
      p.start();
    }
  }

  private removePeer(p: Peer): void {
    p.stop();
    this.rib.removeSource(p.id);
    this.peers.delete(p.settings.address);
  }

  async stop(): Promise<void> {
    for (const p of this.peers.values()) p.stop();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  status(): StatusView {
    return {
      peers: [...this.peers.values()].map((p) => ({
        address: p.settings.address,
        asn: p.settings.asn,
        state: p.state,
        prefixesReceived: p.prefixesReceived,
        prefixesAdvertised: p.prefixesAdvertised,
        uptime: p.uptimeSeconds,
      })),
    };
  }

  private sourceName(id: number): string {
    if (id === LOCAL_SOURCE) return "local";
    for (const p of this.peers.values()) if (p.id === id) return p.settings.address;
    return `source ${id}`;
  }

  routes(): RoutesView {
    const received: RouteView[] = [];
    for (const p of this.peers.values()) {
      const t = this.rib.adjIn(p.id);
      if (!t) continue;
      for (const [k, attrs] of t.entries())
        received.push({
          prefix: formatPrefix(k),
          from: p.settings.address,
          attributes: attributesView(attrs),
        });
    }
    const best: RouteView[] = [];
    for (const [k, c] of this.rib.entries())
      best.push({
        prefix: formatPrefix(k),
        from: this.sourceName(c.source),
        attributes: attributesView(c.attrs),
      });
    return { received, best };
  }
}
