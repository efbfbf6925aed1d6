import { describe, expect, it } from 'vitest';
import { withFailurePolicy } from '../../src/limits/failure-policy.js';
import { InvalidLimitRequestError } from '../../src/limits/limiter.js';
import { createMemoryLimiter } from '../../src/limits/memory-limiter.js';

describe('withFailurePolicy around a healthy limiter', () => {
  it('passes decisions through unchanged and never calls onError', async () => {
    const errors: unknown[] = [];
    const limiter = withFailurePolicy(createMemoryLimiter(), { mode: 'closed', onError: (e) => errors.push(e) });
    expect(limiter.kind).toBe('memory');
    const request = { subject: 'key_a', rate: { limit: 1, windowSeconds: 60 }, cost: 1 };
    expect((await limiter.check(request)).allowed).toBe(true);
    const limited = await limiter.check(request);
    expect(limited).toMatchObject({ allowed: false, code: 'RATE_LIMITED' });
    expect(limited.degraded).toBeUndefined();
    expect(errors).toEqual([]);
    await limiter.close();
  });

  it('does not mask bad input as an outage', async () => {
    const errors: unknown[] = [];
    const limiter = withFailurePolicy(createMemoryLimiter(), { mode: 'open', onError: (e) => errors.push(e) });
    await expect(limiter.check({ subject: 'key_a', quota: { limit: 1, period: 'day' }, cost: -1 })).rejects.toBeInstanceOf(InvalidLimitRequestError);
    expect(errors).toEqual([]);
    await limiter.close();
  });

  it('refuses an unknown mode', () => {
    expect(() => withFailurePolicy(createMemoryLimiter(), { mode: 'sideways' as 'open', onError: () => undefined })).toThrow(/mode/);
  });
});
