import { describe, expect, it } from 'vitest';
import { KeyledgerApiError, KeyledgerNetworkError, KeyledgerTimeoutError, failedBeforeSending } from '../src/errors.js';
import { backoffDelay, shouldRetry } from '../src/retry.js';

const apiError = (status: number) => new KeyledgerApiError({ type: 'about:blank', title: 'x', status });
const refused = new KeyledgerNetworkError('could not connect', { ambiguous: false });
const reset = new KeyledgerNetworkError('socket closed', { ambiguous: true });
const timeout = new KeyledgerTimeoutError(100);

describe('shouldRetry', () => {
  it('retries idempotent calls on network failures, timeouts and 5xx', () => {
    for (const error of [refused, reset, timeout, apiError(500), apiError(502), apiError(503)]) {
      expect(shouldRetry(error, 'idempotent', 0, 3)).toBe(true);
    }
  });

  it('never retries a 4xx', () => {
    for (const status of [400, 401, 403, 404, 409, 412, 422, 429]) {
      expect(shouldRetry(apiError(status), 'idempotent', 0, 3)).toBe(false);
      expect(shouldRetry(apiError(status), 'charging', 0, 3)).toBe(false);
    }
  });

  it('retries a charging call (verify) only when the request cannot have been sent', () => {
    expect(shouldRetry(refused, 'charging', 0, 3)).toBe(true);
    expect(shouldRetry(reset, 'charging', 0, 3)).toBe(false);
    expect(shouldRetry(timeout, 'charging', 0, 3)).toBe(false);
    expect(shouldRetry(apiError(503), 'charging', 0, 3)).toBe(false);
    expect(shouldRetry(new KeyledgerTimeoutError(100, { ambiguous: false }), 'charging', 0, 3)).toBe(true);
  });

  it('stops after the configured number of retries', () => {
    expect(shouldRetry(reset, 'idempotent', 2, 3)).toBe(true);
    expect(shouldRetry(reset, 'idempotent', 3, 3)).toBe(false);
    expect(shouldRetry(reset, 'idempotent', 0, 0)).toBe(false);
  });

  it('does not retry aborts or unknown errors', () => {
    expect(shouldRetry(new DOMException('aborted', 'AbortError'), 'idempotent', 0, 3)).toBe(false);
    expect(shouldRetry(new TypeError('bug'), 'idempotent', 0, 3)).toBe(false);
  });
});

describe('backoffDelay', () => {
  const policy = { baseDelayMs: 100, maxDelayMs: 1_000 };

  it('grows exponentially between half and all of the ceiling', () => {
    expect(backoffDelay(0, policy, { random: () => 0 })).toBe(50);
    expect(backoffDelay(0, policy, { random: () => 1 })).toBe(100);
    expect(backoffDelay(2, policy, { random: () => 0 })).toBe(200);
    expect(backoffDelay(2, policy, { random: () => 1 })).toBe(400);
  });

  it('is capped at maxDelayMs however many attempts failed', () => {
    expect(backoffDelay(30, policy, { random: () => 1 })).toBe(1_000);
    expect(backoffDelay(1_000, policy, { random: () => 0.5 })).toBeLessThanOrEqual(1_000);
  });

  it('spreads clients out with jitter', () => {
    const delays = new Set(Array.from({ length: 20 }, (_, i) => backoffDelay(3, policy, { random: () => i / 20 })));
    expect(delays.size).toBeGreaterThan(10);
  });

  it('honours Retry-After as a floor, still capped', () => {
    expect(backoffDelay(0, policy, { retryAfterSeconds: 0.5, random: () => 0 })).toBe(500);
    expect(backoffDelay(0, policy, { retryAfterSeconds: 3_600, random: () => 0 })).toBe(1_000);
  });
});

describe('failedBeforeSending', () => {
  it('recognises connect failures, including happy-eyeballs aggregates', () => {
    const econnrefused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(failedBeforeSending(econnrefused)).toBe(true);
    expect(failedBeforeSending(new AggregateError([econnrefused, econnrefused]))).toBe(true);
    expect(failedBeforeSending(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(false);
    expect(failedBeforeSending(Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }))).toBe(false);
    expect(failedBeforeSending(new AggregateError([econnrefused, new Error('?')]))).toBe(false);
  });
});
