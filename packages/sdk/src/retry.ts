/**
 * When a failed attempt may be sent again, and how long to wait first. Pure functions, so the
 * policy is tested without a network.
 *
 * - `idempotent` calls (GETs, and writes carrying an Idempotency-Key the server deduplicates on)
 *   retry on any network failure, timeout or 5xx: a repeat cannot write twice.
 * - `charging` calls (verify: each call may consume rate limit and quota) retry only when the
 *   request provably never reached the server (connection refused, DNS failure, connect timeout).
 *   After a timeout or a 5xx the server may have charged already, so the error goes to the caller.
 * - 4xx answers are the caller's to fix and are never retried.
 */
import { KeyledgerApiError, KeyledgerNetworkError } from './errors.js';

export type RetryClass = 'idempotent' | 'charging';

export interface BackoffPolicy {
  /** Delay before the first retry, before jitter. */
  baseDelayMs: number;
  /** Upper bound on any single delay. */
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseDelayMs: 100, maxDelayMs: 5_000 };

/** Whether `error`, raised by attempt number `attempt` (0-based), warrants another attempt. */
export function shouldRetry(error: unknown, retryClass: RetryClass, attempt: number, maxRetries: number): boolean {
  if (attempt >= maxRetries) return false;
  if (error instanceof KeyledgerApiError) {
    return retryClass === 'idempotent' && error.status >= 500;
  }
  if (error instanceof KeyledgerNetworkError) {
    return retryClass === 'idempotent' || !error.ambiguous;
  }
  // Caller aborts and programming errors are not transient.
  return false;
}

/**
 * Delay before retry number `attempt` (0-based): exponential, capped, with "full jitter" so that
 * clients failing together do not retry together. A server's Retry-After is honoured as a floor
 * (still capped, so a hostile header cannot stall the caller).
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  options: { retryAfterSeconds?: number; random?: () => number } = {},
): number {
  const random = options.random ?? Math.random;
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt));
  // Never zero: half the ceiling is fixed, the other half random.
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  const floor = options.retryAfterSeconds !== undefined ? Math.min(policy.maxDelayMs, options.retryAfterSeconds * 1000) : 0;
  return Math.round(Math.max(jittered, floor));
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
