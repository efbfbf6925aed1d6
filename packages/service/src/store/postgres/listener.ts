/**
 * One dedicated connection (not from the pool: a pooled client cannot hold a LISTEN) that
 * listens on the schema's channel and wakes local waiters. When the connection drops it
 * reconnects with backoff, and wakes everyone once it is back: notifications sent while it was
 * away are lost, so waiters must re-read to catch up.
 */

import pg from 'pg';
import { quoteIdent } from './naming.js';

export interface ListenerOptions {
  connectionString: string;
  channel: string;
  connectTimeoutMs: number;
  onWake: () => void;
  /** Backoff between reconnect attempts: starts here and doubles up to maxRetryDelayMs. */
  minRetryDelayMs?: number;
  maxRetryDelayMs?: number;
}

export class NotificationListener {
  #client: pg.Client | undefined;
  #closed = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryDelayMs: number;
  readonly #options: Required<ListenerOptions>;

  constructor(options: ListenerOptions) {
    this.#options = { minRetryDelayMs: 50, maxRetryDelayMs: 5_000, ...options };
    this.#retryDelayMs = this.#options.minRetryDelayMs;
  }

  /** True while a connection is listening (false while reconnecting). */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  /**
   * Sends a notification on this schema's channel over the listening connection, which is
   * otherwise idle. False when it is not connected (the caller then uses another connection).
   */
  async notify(): Promise<boolean> {
    const client = this.#client;
    if (!client) return false;
    await client.query('select pg_notify($1, \'\')', [this.#options.channel]);
    return true;
  }

  /** The first connect is awaited so a store never opens half-working; failures throw. */
  async start(): Promise<void> {
    await this.#connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    const client = this.#client;
    this.#client = undefined;
    if (client) await client.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.#options.connectionString,
      connectionTimeoutMillis: this.#options.connectTimeoutMs,
      // Named after the schema so operators (and tests) can tell the listeners apart.
      application_name: `keyledger-listener:${this.#options.channel}`.slice(0, 63),
      keepAlive: true,
    });
    let dropped = false;
    const onDrop = () => {
      if (dropped) return;
      dropped = true;
      if (this.#client === client) this.#client = undefined;
      client.end().catch(() => undefined);
      this.#scheduleReconnect();
    };
    // Attached before connecting: an 'error' event without a listener would crash the process.
    client.on('error', onDrop);
    client.on('end', onDrop);
    client.on('notification', (message) => {
      if (message.channel === this.#options.channel) this.#options.onWake();
    });
    try {
      await client.connect();
      await client.query(`listen ${quoteIdent(this.#options.channel)}`);
    } catch (error) {
      dropped = true;
      client.removeAllListeners('end');
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#retryDelayMs = this.#options.minRetryDelayMs;
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#retryTimer) return;
    const delay = this.#retryDelayMs;
    this.#retryDelayMs = Math.min(this.#retryDelayMs * 2, this.#options.maxRetryDelayMs);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#closed) return;
      this.#connect().then(
        // Anything committed while we were not listening was never announced to us.
        () => this.#options.onWake(),
        () => this.#scheduleReconnect(),
      );
    }, delay);
    this.#retryTimer.unref();
  }
}
