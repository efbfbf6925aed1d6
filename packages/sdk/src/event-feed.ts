/**
 * The live ledger feed (GET /v1/events/stream) as an async iterable that survives disconnects.
 *
 * Resume point: `checkpoint` is the id of the last frame consumed — an event handed to the
 * consumer, or an `event: checkpoint` frame the server sends so filtered readers skip what they
 * do not want. Every reconnect sends it as `Last-Event-ID`, so the server continues right after
 * it: no gap, and no event delivered twice.
 *
 * Liveness: the server writes a heartbeat comment when the ledger is quiet; a connection that
 * stays silent for `idleTimeoutMs` (default a little over twice the server's 15 s heartbeat) is
 * treated as dead and replaced, since a half-open TCP connection would otherwise hang forever.
 *
 * Reconnects wait with capped exponential backoff starting at the server's `retry` hint. Errors
 * that a retry cannot fix (401, 403, a 400 for a bad checkpoint) end the iteration with a
 * KeyledgerApiError. The connection opens when iteration starts; one iteration per feed.
 */
import { KeyledgerApiError, KeyledgerProtocolError } from './errors.js';
import { backoffDelay, sleep } from './retry.js';
import { SseParser } from './sse.js';
import type { Transport } from './transport.js';
import type { LedgerEvent } from './types.js';

export interface EventStreamOptions {
  /** Start after this checkpoint (exclusive); from the beginning of the ledger when absent. */
  after?: string;
  /** Only events of this stream category, e.g. "key". */
  category?: string;
  /** Only these event types, e.g. ["KeyRevoked", "KeySuspended"]. */
  types?: string[];
  /** Aborting closes the feed. */
  signal?: AbortSignal;
  /** Silence (no event, checkpoint or heartbeat) after which the connection is presumed dead. */
  idleTimeoutMs?: number;
  /** Upper bound on the wait between reconnect attempts. */
  maxReconnectDelayMs?: number;
}

export interface EventFeedListeners {
  connected: () => void;
  disconnected: (error: unknown) => void;
  checkpoint: (checkpoint: string) => void;
}

export interface EventFeed extends AsyncIterable<LedgerEvent> {
  /** Resume point: the last event (or checkpoint frame) consumed. */
  readonly checkpoint: string | undefined;
  /** True while a stream is open and healthy. */
  readonly connected: boolean;
  on<E extends keyof EventFeedListeners>(event: E, listener: EventFeedListeners[E]): () => void;
  /** Ends the iteration and the connection. */
  close(): void;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 35_000;
const DEFAULT_RECONNECT_DELAY_MS = 1_000;

class DeadConnectionError extends Error {
  override readonly name = 'DeadConnectionError';
}

export class LiveEventFeed implements EventFeed {
  readonly #transport: Transport;
  readonly #options: EventStreamOptions;
  readonly #closed = new AbortController();
  readonly #listeners: { [E in keyof EventFeedListeners]: Set<EventFeedListeners[E]> } = {
    connected: new Set(),
    disconnected: new Set(),
    checkpoint: new Set(),
  };
  #checkpoint: string | undefined;
  #connected = false;
  #iterating = false;

  constructor(transport: Transport, options: EventStreamOptions = {}) {
    this.#transport = transport;
    this.#options = options;
    this.#checkpoint = options.after;
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) this.close();
      else signal.addEventListener('abort', () => this.close(), { once: true });
    }
  }

  get checkpoint(): string | undefined {
    return this.#checkpoint;
  }

  get connected(): boolean {
    return this.#connected;
  }

  on<E extends keyof EventFeedListeners>(event: E, listener: EventFeedListeners[E]): () => void {
    const set = this.#listeners[event] as Set<EventFeedListeners[E]>;
    set.add(listener);
    return () => set.delete(listener);
  }

  close(): void {
    this.#closed.abort();
  }

  [Symbol.asyncIterator](): AsyncIterator<LedgerEvent> {
    if (this.#iterating) throw new Error('an EventFeed can be iterated once; create another with events.stream()');
    this.#iterating = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<LedgerEvent, void, undefined> {
    let failures = 0;
    let retryHintMs = DEFAULT_RECONNECT_DELAY_MS;
    while (!this.#closed.signal.aborted) {
      const connection = new AbortController();
      const stopConnection = () => connection.abort();
      this.#closed.signal.addEventListener('abort', stopConnection, { once: true });
      let lastError: unknown;
      let delivered = false;
      try {
        const response = await this.#transport.openStream({
          path: '/v1/events/stream',
          query: {
            category: this.#options.category,
            type: this.#options.types && this.#options.types.length > 0 ? this.#options.types.join(',') : undefined,
          },
          headers: this.#checkpoint !== undefined ? { 'last-event-id': this.#checkpoint } : {},
          signal: connection.signal,
        });
        this.#setConnected(true);
        const parser = new SseParser(this.#checkpoint ?? '');
        const idleMs = this.#options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
        // Armed only while waiting on the network: a slow consumer is not a dead connection.
        let watchdog: NodeJS.Timeout | undefined;
        const arm = () => {
          clearTimeout(watchdog);
          watchdog = setTimeout(() => connection.abort(new DeadConnectionError(`no data for ${idleMs} ms`)), idleMs);
        };
        arm();
        try {
          for await (const chunk of response.body) {
            clearTimeout(watchdog);
            for (const message of parser.push(chunk)) {
              if (message.event === 'checkpoint') {
                this.#advance(message.lastEventId);
                continue;
              }
              const event = parseLedgerEvent(message.data, message.event);
              // Advance before yielding: once the consumer has the event, a reconnect must not resend it.
              this.#advance(message.lastEventId || event.checkpoint);
              delivered = true;
              yield event;
              if (this.#closed.signal.aborted) return;
            }
            if (parser.lastEventId) this.#advance(parser.lastEventId);
            if (parser.retry !== undefined) retryHintMs = parser.retry;
            arm();
          }
          lastError = new DeadConnectionError('the server ended the stream');
        } finally {
          clearTimeout(watchdog);
        }
      } catch (error) {
        if (this.#closed.signal.aborted) return;
        if (error instanceof KeyledgerProtocolError) throw error;
        if (error instanceof KeyledgerApiError && error.status < 500 && error.status !== 408 && error.status !== 429) throw error;
        lastError = connection.signal.aborted && connection.signal.reason instanceof DeadConnectionError ? connection.signal.reason : error;
      } finally {
        this.#closed.signal.removeEventListener('abort', stopConnection);
        connection.abort();
        if (this.#connected) this.#setConnected(false, lastError);
      }
      if (this.#closed.signal.aborted) return;
      // A connection that delivered something was healthy: start the backoff over.
      failures = delivered ? 0 : failures + 1;
      try {
        await sleep(
          backoffDelay(failures, { baseDelayMs: retryHintMs, maxDelayMs: this.#options.maxReconnectDelayMs ?? 30_000 }),
          this.#closed.signal,
        );
      } catch {
        return;
      }
    }
  }

  #advance(checkpoint: string): void {
    if (checkpoint === '' || checkpoint === this.#checkpoint) return;
    this.#checkpoint = checkpoint;
    for (const listener of this.#listeners.checkpoint) notify(() => listener(checkpoint));
  }

  #setConnected(connected: boolean, error?: unknown): void {
    this.#connected = connected;
    if (connected) for (const listener of this.#listeners.connected) notify(listener);
    else for (const listener of this.#listeners.disconnected) notify(() => listener(error));
  }
}

/** A throwing listener must not break the feed (or skip the other listeners). */
function notify(listener: () => void): void {
  try {
    listener();
  } catch {
    /* the listener's own bug; the feed carries on */
  }
}

function parseLedgerEvent(data: string, type: string): LedgerEvent {
  let event: unknown;
  try {
    event = JSON.parse(data);
  } catch {
    throw new KeyledgerProtocolError(`event frame "${type}" does not carry JSON`);
  }
  const candidate = event as Partial<LedgerEvent> | null;
  if (!candidate || typeof candidate !== 'object' || typeof candidate.id !== 'string' || typeof candidate.checkpoint !== 'string' || typeof candidate.type !== 'string') {
    throw new KeyledgerProtocolError(`event frame "${type}" is not a ledger event`);
  }
  return candidate as LedgerEvent;
}
