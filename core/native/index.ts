import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** The functions of core/native (C, built by scripts/setup.sh with node-gyp). */
export interface NativeAddon {
  setMd5(fd: number, peer: string, key: string): void;
  setTtl(fd: number, ttl: number, minTtl: number): void;
  connect(opts: object): Promise<number>;
  /** A bound UDP socket sending with TTL `ttl` and receiving only datagrams that arrived with it. */
  udpSocket(address: string, port: number, ttl: number): number;
  netlinkOpen(protocol: number, netnsPath: string, rcvbuf: number): number;
  netlinkClose(fd: number): void;
  netlinkExchange(
    fd: number,
    req: Buffer,
    chunkEnds: Uint32Array,
    chunkSeqs: Uint32Array,
    dump: boolean,
    /** Run on the calling thread (small requests: no thread-pool round trip). */
    inline?: boolean,
  ): Promise<Buffer>;
  /** Replaces this process (same PID); returns only by throwing. */
  execve(path: string, argv: readonly string[], env: readonly string[]): never;
}

export class NativeAddonUnavailable extends Error {
  constructor(why: string) {
    super(`tortie's native addon (core/native) is not available: ${why}`);
    this.name = "NativeAddonUnavailable";
  }
}

const addonPath = fileURLToPath(
  new URL("../../../core/native/build/Release/tortie_native.node", import.meta.url),
);
let addon: NativeAddon | undefined;
let loadError: string | undefined;

export function native(): NativeAddon {
  if (addon) return addon;
  if (loadError === undefined) {
    if (!existsSync(addonPath)) loadError = `${addonPath} is missing: run scripts/setup.sh`;
    else {
      try {
        addon = createRequire(import.meta.url)(addonPath) as NativeAddon;
        return addon;
      } catch (err) {
        loadError = err instanceof Error ? err.message : String(err);
      }
    }
  }
  throw new NativeAddonUnavailable(loadError ?? "unknown");
}
