import { Socket, type Server } from "node:net";
import { native } from "../../core/native/index.js";

/**
 * TCP-MD5 (RFC 2385) and GTSM (RFC 5082) for BGP sessions, through the small
 * native addon in core/native (built by scripts/setup.sh with node-gyp).
 */

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

export function socketSecurityAvailable(): boolean {
  try {
    native();
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
  native().setMd5(fdOf(s), peer, key);
}

/** GTSM: send with `ttl` and drop what arrives below `minTtl` (0 leaves a value as it is). */
export function setTtlSecurity(s: Socket | Server, ttl: number, minTtl: number): void {
  native().setTtl(fdOf(s), ttl, minTtl);
}

/**
 * Connects with MD5 and TTL options in place before the SYN leaves, which
 * net.connect cannot do, and returns an ordinary net.Socket.
 */
export async function connectSecure(opts: ConnectOptions): Promise<Socket> {
  if (opts.md5Key !== undefined && Buffer.byteLength(opts.md5Key) > 80)
    throw new RangeError(`TCP-MD5 key for ${opts.peer} is longer than 80 bytes`);
  const fd = await native().connect(opts);
  return new Socket({ fd, readable: true, writable: true });
}
