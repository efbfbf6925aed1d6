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

  describe('several limits', () => {
    const named = (name: string, overrides: Partial<RateState> = {}) => ({ name, ...rate(overrides) });
    const monthlyQuota = dailyQuota({ period: 'month', limit: 20_000, remaining: 19_000, used: 1000, windowStart: new Date('2026-03-01T00:00:00Z'), resetAt: new Date('2026-04-01T00:00:00Z') });

    it('one item per named rate limit and per further quota, in RateLimit the more restrictive first', () => {
      const decision: LimitDecision = {
        allowed: true,
        rates: [named('burst', { limit: 20, windowSeconds: 1, remaining: 19, resetSeconds: 1 }), named('sustained', { limit: 5000, windowSeconds: 3600, remaining: 4990, resetSeconds: 8 })],
        quotas: [monthlyQuota],
      };
      const headers = rateLimitHeaders(decision, NOW);
      expect(headers['RateLimit-Policy']).toBe(`"burst";q=20;w=1, "sustained";q=5000;w=3600, "quota-month";q=20000;w=${31 * 86_400}`);
      expect(headers.RateLimit).toBe(`"burst";r=19;t=1, "sustained";r=4990;t=8, "quota-month";r=19000;t=${(Date.parse('2026-04-01T00:00:00Z') - NOW) / 1000}`);
      expect(headers['Retry-After']).toBeUndefined();
    });

    it('Retry-After waits for every refusing rate limit', () => {
      const decision: LimitDecision = {
        allowed: false,
        code: 'RATE_LIMITED',
        refusedBy: 'burst',
        rates: [named('burst', { remaining: 0, retryAfterSeconds: 1 }), named('sustained', { remaining: 0, retryAfterSeconds: 40 })],
      };
      expect(rateLimitHeaders(decision, NOW)['Retry-After']).toBe('40');
    });

    it('Retry-After for a further quota is until the refusing quota resets', () => {
      const decision: LimitDecision = { allowed: false, code: 'QUOTA_EXCEEDED', refusedBy: 'quota-month', quota: dailyQuota(), quotas: [monthlyQuota] };
      expect(rateLimitHeaders(decision, NOW)['Retry-After']).toBe(String((Date.parse('2026-04-01T00:00:00Z') - NOW) / 1000));
    });

    it('credits with a refill: a policy item and t until the refill; exhausted, Retry-After until then', () => {
      const credits = { balance: 0, refillAt: new Date('2026-03-15T00:00:00Z'), refill: { amount: 1000, period: 'day', mode: 'reset' } } as const;
      const headers = rateLimitHeaders({ allowed: false, code: 'CREDITS_EXHAUSTED', refusedBy: 'credits', rate: rate(), credits }, NOW);
      const untilMidnight = (Date.parse('2026-03-15T00:00:00Z') - NOW) / 1000;
      expect(headers['RateLimit-Policy']).toBe('"rate";q=100;w=60, "credits";q=1000;w=86400');
      expect(headers.RateLimit).toBe(`"credits";r=0;t=${untilMidnight}, "rate";r=42;t=17`);
      expect(headers['Retry-After']).toBe(String(untilMidnight));
    });

    it('credits without a refill: no policy item, no t, and no Retry-After (only a top-up helps)', () => {
      const credits = { balance: 0, refillAt: null, refill: null };
      expect(rateLimitHeaders({ allowed: false, code: 'CREDITS_EXHAUSTED', refusedBy: 'credits', credits }, NOW)).toEqual({ RateLimit: '"credits";r=0' });
      const both = rateLimitHeaders({ allowed: true, rate: rate({ remaining: 5 }), credits: { ...credits, balance: 5 } }, NOW);
      // Equal remaining: the one that never resets is the more restrictive.
      expect(both.RateLimit).toBe('"credits";r=5, "rate";r=5;t=17');
    });
  });
});
