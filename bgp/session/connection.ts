import type { Socket } from "node:net";
import { BgpError, Framer, type Frame } from "../wire/index.js";

/**
 * One TCP connection to a peer: framing fed by socket reads, and the two
 * flow-control rules of the speaker.
 *
 * Reads: frames are handled in slices of at most `sliceMs`; when a slice runs
 * out the socket is paused and the rest waits for the next turn of the event
 * loop, so our own timers (KEEPALIVE, hold) still fire while a peer pours a
 * million routes into us.
 *
 * Writes: `send` reports whether the socket wants more; producers of UPDATEs
 * stop when it returns false and resume on `drained`, so a slow peer costs a
 * bounded buffer, never the whole table.
 */
export interface ConnectionHandlers {
  onFrame(frame: Frame): void;
  onFramingError(err: BgpError): void;
  onClose(hadError: boolean, err?: Error): void;
  onDrain(): void;
}

export type Direction = "outgoing" | "incoming";

export class Connection {
  readonly framer = new Framer();
  private queue: Frame[] = [];
  private head = 0;
  private scheduled = false;
  private closed = false;
  private handlers: ConnectionHandlers | undefined;

  constructor(
    readonly socket: Socket,
    readonly direction: Direction,
    private readonly sliceMs = 10,
  ) {
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("drain", () => this.handlers?.onDrain());
    socket.on("error", (err) => this.finish(true, err));
    socket.on("close", (hadError) => this.finish(hadError));
    // Until a handler is attached nothing may be lost: hold the bytes in the socket.
    socket.pause();
  }

  /** Attaches the session that consumes this connection and starts reading. */
  attach(h: ConnectionHandlers): void {
    this.handlers = h;
    if (!this.closed) this.socket.resume();
  }

  get localAddress(): string {
    return this.socket.localAddress ?? "";
  }
  get remoteAddress(): string {
    return this.socket.remoteAddress ?? "";
  }
  get isClosed(): boolean {
    return this.closed;
  }

  /** Writes one or more whole messages; false means stop producing until `onDrain`. */
  send(buf: Buffer): boolean {
    if (this.closed) return false;
    return this.socket.write(buf);
  }

  /** Writes a batch of messages in one system call (writev) rather than one per message. */
  sendAll(bufs: readonly Buffer[]): boolean {
    if (this.closed || bufs.length === 0) return !this.closed;
    this.socket.cork();
    let ok = true;
    for (const b of bufs) ok = this.socket.write(b);
    this.socket.uncork();
    return ok;
  }

  /** True while the kernel and Node buffers can take more without growing past the high-water mark. */
  get writable(): boolean {
    return !this.closed && !this.socket.writableNeedDrain;
  }

  /** Flushes what is queued (a NOTIFICATION, say) and closes; hard-closes if the peer does not read. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.head = 0;
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), 1000);
    timer.unref();
    this.socket.once("close", () => clearTimeout(timer));
  }

  private finish(hadError: boolean, err?: Error): void {
    const wasClosed = this.closed;
    this.closed = true;
    this.socket.destroy();
    if (!wasClosed) this.handlers?.onClose(hadError, err);
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      if (err instanceof BgpError) {
        this.handlers?.onFramingError(err);
        return;
      }
      throw err;
    }
    for (const f of frames) this.queue.push(f);
    if (!this.scheduled) this.pump();
  }

  private pump(): void {
    this.scheduled = false;
    const start = performance.now();
    while (this.head < this.queue.length && !this.closed) {
      const f = this.queue[this.head++];
      if (f) this.handlers?.onFrame(f);
      if (performance.now() - start > this.sliceMs && this.head < this.queue.length) {
        this.socket.pause();
        this.scheduled = true;
        setImmediate(() => this.pump());
        return;
      }
    }
    this.queue = [];
    this.head = 0;
    if (!this.closed && this.socket.isPaused()) this.socket.resume();
  }
}
