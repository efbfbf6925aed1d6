/**
 * The open live-feed streams of one HTTP app: admission against a global cap and a cap per
 * credential, and the handle to close streams when their credential stops being allowed.
 */
import type { SseConnection } from './sse-connection.js';

export interface EventStreamLimits {
  maxStreams: number;
  maxStreamsPerCredential: number;
  stallTimeoutMs: number;
}

export const DEFAULT_EVENT_STREAM_LIMITS: EventStreamLimits = { maxStreams: 256, maxStreamsPerCredential: 8, stallTimeoutMs: 30_000 };

interface OpenStream {
  /** The management key id the stream was opened with. */
  credential: string;
  /** null while the stream is admitted but not yet streaming. */
  connection: SseConnection | null;
}

export type Admission =
  | { admitted: true; attach(connection: SseConnection): void; release(): void }
  | { admitted: false; scope: 'global' | 'credential'; limit: number };

export class EventStreamRegistry {
  readonly limits: EventStreamLimits;
  readonly #open = new Set<OpenStream>();
  readonly #perCredential = new Map<string, number>();
  #opened = 0;

  constructor(limits: EventStreamLimits = DEFAULT_EVENT_STREAM_LIMITS) {
    this.limits = limits;
  }

  /**
   * Takes a slot for one more stream of `credential`, or says which cap refuses it. The slot is
   * held from here on (so concurrent requests cannot overshoot a cap while they read their first
   * page); `attach` gives it its connection, `release` frees it (call once, when the stream ends).
   */
  admit(credential: string): Admission {
    if ((this.#perCredential.get(credential) ?? 0) >= this.limits.maxStreamsPerCredential) {
      return { admitted: false, scope: 'credential', limit: this.limits.maxStreamsPerCredential };
    }
    if (this.#open.size >= this.limits.maxStreams) return { admitted: false, scope: 'global', limit: this.limits.maxStreams };
    const stream: OpenStream = { credential, connection: null };
    this.#open.add(stream);
    this.#opened++;
    this.#perCredential.set(credential, (this.#perCredential.get(credential) ?? 0) + 1);
    return {
      admitted: true,
      attach: (connection) => {
        stream.connection = connection;
      },
      release: () => {
        if (!this.#open.delete(stream)) return;
        const left = (this.#perCredential.get(credential) ?? 1) - 1;
        if (left === 0) this.#perCredential.delete(credential);
        else this.#perCredential.set(credential, left);
      },
    };
  }

  /** Streams admitted since the start. */
  get opened(): number {
    return this.#opened;
  }

  /** Streams open now for one credential. */
  openFor(credential: string): number {
    return this.#perCredential.get(credential) ?? 0;
  }

  /** Streams open now. */
  get size(): number {
    return this.#open.size;
  }

  /** Bytes written to open streams and not yet handed to the kernel. */
  bufferedBytes(): number {
    let total = 0;
    for (const stream of this.#open) total += stream.connection?.bufferedBytes ?? 0;
    return total;
  }

  /** Closes every stream for which `refused(credential)` names a reason (sent as the final frame). */
  closeWhere(refused: (credential: string) => string | null): number {
    let closed = 0;
    for (const stream of [...this.#open]) {
      if (stream.connection === null) continue; // checked again when it starts streaming
      const reason = refused(stream.credential);
      if (reason !== null) {
        stream.connection.close(reason);
        closed++;
      }
    }
    return closed;
  }

  closeAll(reason: string): void {
    for (const stream of [...this.#open]) stream.connection?.close(reason);
  }
}
