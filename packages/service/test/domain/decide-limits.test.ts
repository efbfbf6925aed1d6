import { describe, it } from 'vitest';
import { issued, throttled } from './fixtures.js';
import { given } from './given.js';

const rateLimit = { limit: 100, windowSeconds: 60 };
const quota = { limit: 10_000, period: 'day' as const };
const key = issued({ rateLimit, quota });

describe('SetLimits', () => {
  it('given a key, when the rate limit changes and the quota is left out, then the quota is kept', () => {
    given([key])
      .when({ type: 'SetLimits', rateLimit: { limit: 5, windowSeconds: 1, burst: 10 } })
      .then([throttled({ rateLimit: { limit: 5, windowSeconds: 1, burst: 10 }, quota })]);
  });

  it('given a key, when the quota changes and the rate limit is left out, then the rate limit is kept', () => {
    given([key])
      .when({ type: 'SetLimits', quota: { limit: 1, period: 'month' } })
      .then([throttled({ rateLimit, quota: { limit: 1, period: 'month' } })]);
  });

  it('given a key, when a limit is set to null, then it is removed', () => {
    given([key]).when({ type: 'SetLimits', rateLimit: null }).then([throttled({ rateLimit: null, quota })]);
    given([key]).when({ type: 'SetLimits', rateLimit: null, quota: null }).then([throttled({ rateLimit: null, quota: null })]);
  });

  it('given a key without limits, when limits are added, then KeyThrottled carries them', () => {
    given([issued({ rateLimit: null, quota: null })])
      .when({ type: 'SetLimits', rateLimit, quota })
      .then([throttled({ rateLimit, quota })]);
  });

  it('given a key, when the same limits are set (fields in another order), then no event', () => {
    given([key])
      .when({ type: 'SetLimits', rateLimit: { windowSeconds: 60, limit: 100 }, quota: { period: 'day', limit: 10_000 } })
      .then([]);
  });

  it('given a key, when nothing is given, then no event', () => {
    given([key]).when({ type: 'SetLimits' }).then([]);
  });

  it('given a key without limits, when null is set, then no event', () => {
    given([issued({ rateLimit: null, quota: null })]).when({ type: 'SetLimits', rateLimit: null, quota: null }).then([]);
  });

  it('given a key, when only a burst is added, then that is a change', () => {
    given([key])
      .when({ type: 'SetLimits', rateLimit: { ...rateLimit, burst: 200 } })
      .then([throttled({ rateLimit: { ...rateLimit, burst: 200 }, quota })]);
  });

  it('given a throttled key, when set back to the issued limits, then the comparison is with the latest limits', () => {
    given([key, throttled({ rateLimit: null, quota: null })])
      .when({ type: 'SetLimits', rateLimit, quota })
      .then([throttled({ rateLimit, quota })]);
  });

  it('given a key, when a limit is out of range, then INVALID_ARGUMENT names the field', () => {
    given([key])
      .when({ type: 'SetLimits', rateLimit: { limit: 0, windowSeconds: 60 } })
      .thenThrows('INVALID_ARGUMENT', /rateLimit\.limit/);
  });
});
