/**
 * Follows the ledger's key events and says whether the verifier may trust its cache: "live" only
 * while the feed is connected AND has delivered every key event committed so far.
 *
 * Caught up is proven, not guessed: after each (re)connect we ask the ledger (GET /v1/events) for
 * one key event after the feed's checkpoint; an empty page means every key event committed before
 * that read has been handed to us. Until then, and from the moment the connection drops, the
 * verifier answers every call remotely.
 */
import type { KeyledgerClient } from '../client.js';
import type { EventFeed } from '../event-feed.js';
import type { LedgerEvent } from '../types.js';

const FOLLOWED_CATEGORIES = 'key,consumer';

export interface FeedFollowerOptions {
  client: KeyledgerClient;
  onEvent(event: LedgerEvent): void;
  /** Called when trust is lost (disconnect) so cached decisions are dropped. */
  onUntrusted(): void;
  onError(error: unknown): void;
  /** The feed ended for good (401, 403, a bad checkpoint); default: onError. */
  onFailed?(error: unknown): void;
  /** Pause between catch-up probes while the feed is still replaying. */
  probeIntervalMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class FeedFollower {
  readonly #options: FeedFollowerOptions;
  readonly #feed: EventFeed;
  #live = false;
  /** Bumped on every connect and disconnect: a probe from an older connection must not declare live. */
  #epoch = 0;
  #closed = false;
  /** Why the feed ended for good (401, 403, a bad checkpoint): nothing will make it live again. */
  #failure: unknown;
  #waiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  readonly done: Promise<void>;

  constructor(options: FeedFollowerOptions) {
    this.#options = options;
    // Keys, and consumers: a consumer's registration, suspension or closure changes what its keys may do.
    this.#feed = options.client.events.stream({ category: FOLLOWED_CATEGORIES });
    this.#feed.on('connected', () => {
      const epoch = ++this.#epoch;
      void this.#probe(epoch);
    });
    this.#feed.on('disconnected', () => this.#untrust());
    this.done = this.#consume();
  }

  get live(): boolean {
    return this.#live;
  }

  /** The feed's position: the last key or consumer event (or checkpoint frame) it has handed over. */
  get checkpoint(): string | undefined {
    return this.#feed.checkpoint;
  }

  /** Changes whenever trust may have been lost; cache fills started in another epoch are discarded. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Resolves once live; rejects with the feed's error if it ended for good. */
  whenLive(): Promise<void> {
    if (this.#live) return Promise.resolve();
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  close(): void {
    this.#closed = true;
    this.#untrust();
    this.#feed.close();
    // Nobody waits for a closed follower to become live.
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
  }

  #untrust(): void {
    this.#epoch++;
    const was = this.#live;
    this.#live = false;
    if (was || this.#closed) this.#options.onUntrusted();
  }

  async #consume(): Promise<void> {
    try {
      for await (const event of this.#feed) this.#options.onEvent(event);
    } catch (error) {
      // 401/403 or a bad checkpoint: a retry cannot fix it. Stay untrusted (remote verification).
      if (!this.#closed) {
        this.#failure = error;
        for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
        (this.#options.onFailed ?? this.#options.onError)(error);
      }
    } finally {
      this.#untrust();
    }
  }

  async #probe(epoch: number): Promise<void> {
    const interval = this.#options.probeIntervalMs ?? 20;
    while (!this.#closed && epoch === this.#epoch && this.#feed.connected) {
      try {
        const after = this.#feed.checkpoint;
        const page = await this.#options.client.events.list({ category: FOLLOWED_CATEGORIES, limit: 1, ...(after !== undefined ? { after } : {}) });
        if (epoch !== this.#epoch || !this.#feed.connected) return;
        if (page.events.length === 0) {
          this.#live = true;
          for (const waiter of this.#waiters.splice(0)) waiter.resolve();
          return;
        }
      } catch (error) {
        this.#options.onError(error);
        await sleep(interval * 10);
        continue;
      }
      await sleep(interval);
    }
  }
}
