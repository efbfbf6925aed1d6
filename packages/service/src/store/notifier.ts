/**
 * Waiters for "something new may have been appended". Backends wake them from their own append
 * path (and SQLite from a poll, PostgreSQL from LISTEN/NOTIFY); a wake carries no data because
 * the waiter re-reads from its checkpoint anyway, so spurious wakes are harmless and cheap.
 */

import { EventStoreError } from './errors.js';
import type { WaitOptions } from './port.js';

/** setTimeout fires at once for delays above 2^31 - 1 ms, so longer waits are clamped. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface EventWaitersHooks {
  /** Called when the first waiter arrives (e.g. to start polling). */
  onActive?: () => void;
  /** Called when the last waiter leaves (e.g. to stop polling). */
  onIdle?: () => void;
}

export class EventWaiters {
  readonly #waiting = new Set<() => void>();

  constructor(private readonly hooks: EventWaitersHooks = {}) {}

  get size(): number {
    return this.#waiting.size;
  }

  /** Resolves on the next `wakeAll`, on timeout, on abort or on `close`; never rejects. */
  wait(options: WaitOptions = {}): Promise<void> {
    const timeoutMs = parseTimeout(options.timeoutMs);
    const { signal } = options;
    return new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (!this.#waiting.delete(done)) return;
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
        if (this.#waiting.size === 0) this.hooks.onIdle?.();
      };
      this.#waiting.add(done);
      if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      if (this.#waiting.size === 1) this.hooks.onActive?.();
    });
  }

  wakeAll(): void {
    if (this.#waiting.size === 0) return;
    for (const done of [...this.#waiting]) done();
  }

  /** Releases every waiter, e.g. when the store closes, so nobody hangs on a dead store. */
  close(): void {
    this.wakeAll();
  }
}

/** Checks wait options up front, so a bad call fails even when the wait would end at once. */
export function checkWaitOptions(options: WaitOptions | undefined): void {
  parseTimeout(options?.timeoutMs);
  const signal: unknown = options?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new EventStoreError('waitForEvents signal must be an AbortSignal');
  }
}

function parseTimeout(timeoutMs: unknown): number | undefined {
  if (timeoutMs === undefined) return undefined;
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs)) {
    throw new EventStoreError(`waitForEvents timeoutMs must be a number of milliseconds, got ${typeof timeoutMs}`);
  }
  return Math.min(Math.max(0, timeoutMs), MAX_TIMER_MS);
}
