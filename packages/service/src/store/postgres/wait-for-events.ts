/**
 * Waiting for new events without busy polling. Wake-ups come from LISTEN/NOTIFY (every instance)
 * and from appends in this process. A wake-up is only a hint: the snapshot fence can still hide
 * a committed event behind an older transaction that is open and, if it never appends, never
 * notifies. So after a wake-up whose check finds nothing, the waiter re-checks with a short
 * doubling backoff (2 ms up to 200 ms) for a bounded window; outside that window a slow safety
 * poll covers notifications lost while the listener was reconnecting.
 */

import type { WaitOptions } from '../port.js';
import type { WakeSignal } from './wake-signal.js';

export interface WaitTuning {
  /** Slow poll while nothing wakes us. */
  safetyPollMs: number;
  repollMinMs: number;
  repollMaxMs: number;
  /** How long after a wake-up the waiter keeps re-checking with backoff. */
  repollWindowMs: number;
}

export const DEFAULT_WAIT_TUNING: WaitTuning = {
  safetyPollMs: 1_000,
  repollMinMs: 2,
  repollMaxMs: 200,
  repollWindowMs: 3_000,
};

type Outcome = 'woken' | 'timer' | 'aborted';

/**
 * Resolves when `isReady()` says yes, the timeout passes, the signal aborts or `isDone()` says the
 * store closed. Errors from `isReady` reject.
 */
export async function waitUntilReady(
  isReady: () => Promise<boolean>,
  isDone: () => boolean,
  wake: WakeSignal,
  tuning: WaitTuning,
  options: WaitOptions = {},
): Promise<void> {
  const deadline = options.timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + Math.max(0, options.timeoutMs);
  const signal = options.signal;
  let repollUntil = 0;
  let repollDelay = tuning.repollMinMs;
  for (;;) {
    if (isDone() || signal?.aborted || Date.now() >= deadline) return;
    // Read the generation before checking: a wake-up during the check makes the sleep end at once.
    const seen = wake.generation;
    if (await isReady()) return;
    if (isDone() || signal?.aborted) return;
    const now = Date.now();
    const repolling = now < repollUntil;
    const sleepMs = Math.min(repolling ? repollDelay : tuning.safetyPollMs, deadline - now);
    if (sleepMs <= 0) return;
    const outcome = await sleepUntilWoken(wake, seen, sleepMs, signal);
    if (outcome === 'aborted') return;
    if (outcome === 'woken') {
      repollUntil = Date.now() + tuning.repollWindowMs;
      repollDelay = tuning.repollMinMs;
    } else if (repolling) {
      repollDelay = Math.min(repollDelay * 2, tuning.repollMaxMs);
    }
  }
}

function sleepUntilWoken(wake: WakeSignal, seen: number, ms: number, signal: AbortSignal | undefined): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const woken = wake.after(seen);
    const finish = (outcome: Outcome) => {
      clearTimeout(timer);
      woken.cancel();
      signal?.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const onAbort = () => finish('aborted');
    const timer = setTimeout(() => finish('timer'), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    void woken.promise.then(() => finish('woken'));
  });
}
