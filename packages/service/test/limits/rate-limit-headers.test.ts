import { describe, expect, it } from 'vitest';
import type { LimitDecision, QuotaState, RateState } from '../../src/limits/limiter.js';
import { rateLimitHeaders } from '../../src/limits/rate-limit-headers.js';

const NOW = Date.parse('2026-03-14T15:09:26.000Z');

const rate = (overrides: Partial<RateState> = {}): RateState => ({ limit: 100, remaining: 42, resetSeconds: 17, windowSeconds: 60, ...overrides });
const dailyQuota = (overrides: Partial<QuotaState> = {}): QuotaState => ({
  limit: 1000,
  remaining: 900,
  used: 100,
  period: 'day',
  windowStart: new Date('2026-03-14T00:00:00.000Z'),
  resetAt: new Date('2026-03-15T00:00:00.000Z'),
  ...overrides,
});

describe('rateLimitHeaders', () => {
  it('formats a rate-only decision', () => {
    expect(rateLimitHeaders({ allowed: true, rate: rate() }, NOW)).toEqual({
      'RateLimit-Policy': '"rate";q=100;w=60',
      RateLimit: '"rate";r=42;t=17',
    });
  });

  it('lists both policies, and in RateLimit the more restrictive first', () => {
    const quotaSeconds = (Date.parse('2026-03-15T00:00:00.000Z') - NOW) / 1000;
    const roomyQuota = rateLimitHeaders({ allowed: true, rate: rate(), quota: dailyQuota() }, NOW);
    expect(roomyQuota['RateLimit-Policy']).toBe('"rate";q=100;w=60, "quota";q=1000;w=86400');
    expect(roomyQuota.RateLimit).toBe(`"rate";r=42;t=17, "quota";r=900;t=${quotaSeconds}`);

    const tightQuota = rateLimitHeaders({ allowed: true, rate: rate(), quota: dailyQuota({ remaining: 3, used: 997 }) }, NOW);
    expect(tightQuota['RateLimit-Policy']).toBe('"rate";q=100;w=60, "quota";q=1000;w=86400');
    expect(tightQuota.RateLimit).toBe(`"quota";r=3;t=${quotaSeconds}, "rate";r=42;t=17`);
    expect(tightQuota['Retry-After']).toBeUndefined();
  });

  it('uses the current month length as w for a monthly quota', () => {
    const february = dailyQuota({ period: 'month', windowStart: new Date('2024-02-01T00:00:00Z'), resetAt: new Date('2024-03-01T00:00:00Z') });
    const headers = rateLimitHeaders({ allowed: true, quota: february }, Date.parse('2024-02-29T23:59:00Z'));
    expect(headers['RateLimit-Policy']).toBe(`"quota";q=1000;w=${29 * 86_400}`);
    expect(headers.RateLimit).toBe('"quota";r=900;t=60');
  });

  it('adds Retry-After from the rate state when rate limited', () => {
    const decision: LimitDecision = { allowed: false, code: 'RATE_LIMITED', rate: rate({ remaining: 0, retryAfterSeconds: 3 }), quota: dailyQuota() };
    expect(rateLimitHeaders(decision, NOW)['Retry-After']).toBe('3');
  });

  it('adds Retry-After until the quota window resets when the quota is exceeded', () => {
    const decision: LimitDecision = { allowed: false, code: 'QUOTA_EXCEEDED', rate: rate(), quota: dailyQuota({ remaining: 0, used: 1000 }) };
    const headers = rateLimitHeaders(decision, Date.parse('2026-03-14T23:59:58.500Z'));
    expect(headers['Retry-After']).toBe('2');
    expect(headers.RateLimit).toBe('"quota";r=0;t=2, "rate";r=42;t=17');
  });

  it('never answers Retry-After below 1, even without any state (fail-closed)', () => {
    expect(rateLimitHeaders({ allowed: false, code: 'RATE_LIMITED', degraded: 'fail_closed' }, NOW)).toEqual({ 'Retry-After': '1' });
    const atReset = { allowed: false, code: 'QUOTA_EXCEEDED', quota: dailyQuota({ remaining: 0 }) } as const;
    expect(rateLimitHeaders(atReset, Date.parse('2026-03-15T00:00:00.000Z'))['Retry-After']).toBe('1');
  });

  it('emits nothing for an allowed decision without policies', () => {
    expect(rateLimitHeaders({ allowed: true }, NOW)).toEqual({});
  });
});
