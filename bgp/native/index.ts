import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { Socket, type Server } from "node:net";
import { fileURLToPath } from "node:url";

/**
 * TCP-MD5 (RFC 2385) and GTSM (RFC 5082) for BGP sessions, through the small
 * native addon in this folder (built by scripts/setup.sh with node-gyp).
 */

interface Addon {
  setMd5(fd: number, peer: string, key: string): void;
  setTtl(fd: number, ttl: number, minTtl: number): void;
  connect(opts: ConnectOptions): Promise<number>;
}

export interface ConnectOptions {
  readonly peer: string;
  readonly port: number;
  readonly localAddress?: string;
  readonly localPort?: number;
  /** RFC 2385 key; at most 80 bytes. */
  readonly md5Key?: string;
  /** TTL (hop limit) of what we send; 255 for GTSM. */
  readonly ttl?: number;
  /** Drop segments that arrive with a lower TTL; 254 for GTSM one hop away. */
  readonly minTtl?: number;
  readonly timeoutMs?: number;
}

export class SocketSecurityUnavailable extends Error {
  constructor(why: string) {
    super(`TCP-MD5/GTSM need the native addon (bgp/native), which is not available: ${why}`);
    this.name = "SocketSecurityUnavailable";
  }
}

const addonPath = fileURLToPath(
  new URL("../../../bgp/native/build/Release/tortie_sockopt.node", import.meta.url),
);
let addon: Addon | undefined;
let loadError: string | undefined;

function load(): Addon {
  if (addon) return addon;
  if (loadError === undefined) {
    if (!existsSync(addonPath)) loadError = `${addonPath} is missing: run scripts/setup.sh`;
    else {
      try {
        addon = createRequire(import.meta.url)(addonPath) as Addon;
        return addon;
      } catch (err) {
        loadError = err instanceof Error ? err.message : String(err);
      }
    }
  }
  throw new SocketSecurityUnavailable(loadError ?? "unknown");
}

export function socketSecurityAvailable(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}

/** The file descriptor behind a connected socket or a listening server (libuv keeps it on the handle). */
export function fdOf(s: Socket | Server): number {
  const handle = (s as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new Error("socket has no file descriptor (not open yet?)");
  return fd;
}

/**
 * Sets (or with an empty key, removes) the MD5 key for one peer on a listening
 * server or a socket. On a listener it must be set before the peer's SYN arrives.
 */
export function setMd5Key(s: Socket | Server, peer: string, key: string): void {
  if (Buffer.byteLength(key) > 80) throw new RangeError(`TCP-MD5 key for ${peer} is longer than 80 bytes`);
  load().setMd5(fdOf(s), peer, key);
}

/** GTSM: send with `ttl` and drop what arrives below `minTtl` (0 leaves a value as it is). */
export function setTtlSecurity(s: Socket | Server, ttl: number, minTtl: number): void {
  load().setTtl(fdOf(s), ttl, minTtl);
}

/**
 * Connects with MD5 and TTL options in place before the SYN leaves, which
 * net.connect cannot do, and returns an ordinary net.Socket.
 */
export async function connectSecure(opts: ConnectOptions): Promise<Socket> {
  if (opts.md5Key !== undefined && Buffer.byteLength(opts.md5Key) > 80)
    throw new RangeError(`TCP-MD5 key for ${opts.peer} is longer than 80 bytes`);
  const fd = await load().connect(opts);
  return new Socket({ fd, readable: true, writable: true });
}
