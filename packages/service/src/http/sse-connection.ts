/**
 * One Server-Sent Events response with backpressure. A write that the socket cannot take at once
 * waits for `drain`, so a slow reader holds at most the socket's high-water mark plus one batch
 * of frames in this process; a reader that drains nothing for `stallTimeoutMs` is too far behind
 * and is closed (it reconnects with Last-Event-ID and reads the ledger from the store instead of
 * from our memory).
 *
 * Every close ends the response with a comment frame saying why, so a client can tell a policy
 * close from a network failure.
 */
import type { ServerResponse } from 'node:http';

/** How long a closed response may take to flush its final frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 5_000;

export class SseConnection {
  readonly #res: ServerResponse;
  readonly #stallTimeoutMs: number;
  readonly #controller = new AbortController();
  #closed = false;

  constructor(res: ServerResponse, options: { stallTimeoutMs: number }) {
    this.#res = res;
    this.#stallTimeoutMs = options.stallTimeoutMs;
    res.on('close', () => this.#markClosed());
    // The client may have gone while the first page was read: its 'close' has fired already.
    if (res.destroyed || res.socket === null || res.socket.destroyed) this.#markClosed();
  }

  /** Aborted when the connection is closed, by us or by the client. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes written but not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.#closed ? 0 : this.#res.writableLength;
  }

  /** Writes frames; resolves false when the connection is (or got) closed. */
  async write(frames: string): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#res.write(frames)) return true;
    const drained = await this.#drainOrStall();
    if (!drained && !this.#closed) this.close('reader too far behind; reconnect with Last-Event-ID');
    return !this.#closed;
  }

  /** Ends the stream with `: closed: <reason>`; idempotent. */
  close(reason: string): void {
    if (this.#closed) return;
    this.#markClosed();
    const res = this.#res;
    const socket = res.socket;
    res.end(`: closed: ${reason.replace(/[\r\n]+/g, ' ')}\n\n`);
    // The client reconnects anyway: do not keep the connection as an idle keep-alive one.
    res.once('finish', () => socket?.end());
    // A reader that does not read would keep the final frame (and its socket) forever.
    const grace = setTimeout(() => res.destroy(), CLOSE_GRACE_MS);
    grace.unref();
    res.once('close', () => clearTimeout(grace));
  }

  #markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#controller.abort();
  }

  /** true on `drain`; false after stallTimeoutMs without one, or when the connection closes. */
  #drainOrStall(): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (drained: boolean) => {
        clearTimeout(timer);
        this.#res.off('drain', onDrain);
        this.#controller.signal.removeEventListener('abort', onAbort);
        resolve(drained);
      };
      const onDrain = () => done(true);
      const onAbort = () => done(false);
      const timer = setTimeout(() => done(false), this.#stallTimeoutMs);
      this.#res.on('drain', onDrain);
      this.#controller.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
