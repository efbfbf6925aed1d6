/**
 * Behaviour every Limiter must have, run against the memory and the Redis implementation alike.
 * Each case injects a clock, so windows and recovery are exercised without sleeping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidLimitRequestError, type LimitDecision, type LimitRequest, type Limiter } from '../../src/limits/limiter.js';
import { quotaWindow } from '../../src/limits/quota-window.js';

export interface LimiterHarness {
  create(now: () => number): Limiter | Promise<Limiter>;
  /** Called after each case (after the limiters were closed) to remove stored state. */
  cleanup?(): Promise<void>;
}

const T0 = Date.parse('2026-03-14T15:09:26.000Z');
const HOUR_RATE = { limit: 50, windowSeconds: 3600, burst: 50 } as const;

export function countAllowed(decisions: LimitDecision[]): number {
  return decisions.filter((d) => d.allowed).length;
}

export function describeLimiterContract(label: string, harness: LimiterHarness): void {
  describe(`${label}: limiter contract`, () => {
    let clock = T0;
    const opened: Limiter[] = [];
    let subjectCounter = 0;
    const subject = () => `key_contract_${++subjectCounter}`;

    async function limiter(): Promise<Limiter> {
      clock = T0;
      const created = await harness.create(() => clock);
      opened.push(created);
      return created;
    }

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((l) => l.close()));
      await harness.cleanup?.();
    });

    it('200 concurrent checks against a rate limit of 50 (burst 50) admit exactly 50', async () => {
      const l = await limiter();
      const s = subject();
      const decisions = await Promise.all(Array.from({ length: 200 }, () => l.check({ subject: s, rate: HOUR_RATE, cost: 1 })));
      expect(countAllowed(decisions)).toBe(50);
      expect(decisions.filter((d) => !d.allowed).every((d) => d.code === 'RATE_LIMITED' && d.rate?.remaining === 0)).toBe(true);
    });

    it('200 concurrent checks against a quota of 50 admit exactly 50', async () => {
      const l = await limiter();
      const s = subject();
      const quota = { limit: 50, period: 'day' } as const;
      const decisions = await Promise.all(Array.from({ length: 200 }, () => l.check({ subject: s, quota, cost: 1 })));
      expect(countAllowed(decisions)).toBe(50);
      expect(decisions.filter((d) => !d.allowed).every((d) => d.code === 'QUOTA_EXCEEDED')).toBe(true);
      expect((await l.peek({ subject: s, quota })).quota).toMatchObject({ used: 50, remaining: 0 });
    });

    it('a call rejected by the quota charges no rate', async () => {
      const l = await limiter();
      const s = subject();
      const rate = { limit: 5, windowSeconds: 3600 };
      const quota = { limit: 2, period: 'hour' } as const;
      expect((await l.check({ subject: s, rate, quota, cost: 1 })).allowed).toBe(true);
      expect((await l.check({ subject: s, rate, quota, cost: 1 })).rate?.remaining).toBe(3);
      const rejected = await l.check({ subject: s, rate, quota, cost: 1 });
      expect(rejected).toMatchObject({ allowed: false, code: 'QUOTA_EXCEEDED', rate: { remaining: 3 }, quota: { used: 2, remaining: 0 } });
      expect((await l.peek({ subject: s, rate })).rate?.remaining).toBe(3);
      // A raised quota (an override) applies at once, and only now is the rate charged again.
      const raised = await l.check({ subject: s, rate, quota: { limit: 10, period: 'hour' }, cost: 1 });
      expect(raised).toMatchObject({ allowed: true, rate: { remaining: 2 }, quota: { used: 3, remaining: 7 } });
    });

    it('a call rejected by the rate limit charges no quota, and the rate code wins', async () => {
      const l = await limiter();
      const s = subject();
      const rate = { limit: 1, windowSeconds: 3600 };
      const quota = { limit: 1, period: 'day' } as const;
      expect((await l.check({ subject: s, rate, quota, cost: 1 })).allowed).toBe(true);
      // Both would reject now; rate is checked first.
      const rejected = await l.check({ subject: s, rate, quota: { limit: 10, period: 'day' }, cost: 1 });
      expect(rejected).toMatchObject({ allowed: false, code: 'RATE_LIMITED', quota: { used: 1 } });
      expect(rejected.rate?.retryAfterSeconds).toBe(3600);
      const bothExceeded = await l.check({ subject: s, rate, quota, cost: 1 });
      expect(bothExceeded.code).toBe('RATE_LIMITED');
      expect((await l.peek({ subject: s, quota })).quota?.used).toBe(1);
    });

    it('a cost above the remaining quota rejects without charging anything', async () => {
      const l = await limiter();
      const s = subject();
      const rate = { limit: 10, windowSeconds: 60 };
      const quota = { limit: 10, period: 'month' } as const;
      expect(await l.check({ subject: s, rate, quota, cost: 7 })).toMatchObject({ allowed: true, quota: { used: 7, remaining: 3 } });
      expect(await l.check({ subject: s, rate, quota, cost: 4 })).toMatchObject({ allowed: false, code: 'QUOTA_EXCEEDED', quota: { used: 7 }, rate: { remaining: 9 } });
      expect(await l.check({ subject: s, rate, quota, cost: 3 })).toMatchObject({ allowed: true, quota: { used: 10, remaining: 0 }, rate: { remaining: 8 } });
      // A free call (cost 0) still passes an exhausted quota and still counts against the rate.
      expect(await l.check({ subject: s, rate, quota, cost: 0 })).toMatchObject({ allowed: true, quota: { used: 10 }, rate: { remaining: 7 } });
    });

    it('reports rate state: remaining, reset and retry-after', async () => {
      const l = await limiter();
      const s = subject();
      const rate = { limit: 10, windowSeconds: 10 };
      const first = await l.check({ subject: s, rate, cost: 1 });
      expect(first).toEqual({ allowed: true, rate: { limit: 10, remaining: 9, resetSeconds: 1, windowSeconds: 10 } });
      for (let i = 0; i < 9; i++) await l.check({ subject: s, rate, cost: 1 });
      const limited = await l.check({ subject: s, rate, cost: 1 });
      expect(limited).toEqual({
        allowed: false,
        code: 'RATE_LIMITED',
        rate: { limit: 10, remaining: 0, resetSeconds: 10, windowSeconds: 10, retryAfterSeconds: 1 },
      });
      clock += 1000;
      expect(await l.check({ subject: s, rate, cost: 1 })).toMatchObject({ allowed: true, rate: { remaining: 0, resetSeconds: 10 } });
      clock += 2500;
      expect(await l.peek({ subject: s, rate })).toMatchObject({ allowed: true, rate: { remaining: 2, resetSeconds: 8 } });
    });

    it('quota windows reset at the next UTC window', async () => {
      const l = await limiter();
      const s = subject();
      const quota = { limit: 3, period: 'minute' } as const;
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await l.check({ subject: s, quota, cost: 1 }));
      expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
      expect(results[3]?.quota).toEqual({
        limit: 3,
        remaining: 0,
        used: 3,
        period: 'minute',
        windowStart: new Date('2026-03-14T15:09:00.000Z'),
        resetAt: new Date('2026-03-14T15:10:00.000Z'),
      });
      clock = Date.parse('2026-03-14T15:09:59.999Z');
      expect((await l.check({ subject: s, quota, cost: 1 })).allowed).toBe(false);
      clock = Date.parse('2026-03-14T15:10:00.000Z');
      const next = await l.check({ subject: s, quota, cost: 1 });
      expect(next).toMatchObject({ allowed: true, quota: { used: 1, remaining: 2, windowStart: new Date('2026-03-14T15:10:00.000Z') } });
    });

    it('month windows follow the calendar, including December -> January and leap Februaries', async () => {
      const l = await limiter();
      const s = subject();
      const quota = { limit: 5, period: 'month' } as const;
      const instants = [
        '2026-12-31T23:59:59.999Z',
        '2027-01-01T00:00:00.000Z',
        '2024-02-29T12:00:00.000Z',
        '2024-03-01T00:00:00.000Z',
        '2100-02-28T23:59:59.999Z',
        '2000-02-29T00:00:00.000Z',
        '1999-12-31T23:59:59.999Z',
        '2026-07-01T00:00:00.000Z',
        '2026-06-30T23:59:59.999Z',
      ].map(Date.parse);
      // And a spread of arbitrary instants across two centuries.
      for (let i = 0; i < 40; i++) instants.push(Date.parse('1990-01-01T00:00:00Z') + Math.floor(Math.random() * 3.5e12));
      for (const instant of instants) {
        clock = instant;
        const expected = quotaWindow('month', instant);
        const peeked = await l.peek({ subject: s, quota });
        expect([peeked.quota?.windowStart.toISOString(), peeked.quota?.resetAt.toISOString()], new Date(instant).toISOString()).toEqual([
          new Date(expected.startMs).toISOString(),
          new Date(expected.endMs).toISOString(),
        ]);
      }
      // Usage in December does not leak into January.
      clock = Date.parse('2026-12-31T23:59:59.000Z');
      expect((await l.check({ subject: s, quota, cost: 5 })).allowed).toBe(true);
      expect((await l.check({ subject: s, quota, cost: 1 })).allowed).toBe(false);
      clock = Date.parse('2027-01-01T00:00:00.000Z');
      expect(await l.check({ subject: s, quota, cost: 1 })).toMatchObject({ allowed: true, quota: { used: 1 } });
    });

    it('restoreQuotaUsage adds to the current window and ignores ended windows', async () => {
      const l = await limiter();
      const s = subject();
      const quota = { limit: 50, period: 'day' } as const;
      // Any instant inside the window identifies it.
      await l.restoreQuotaUsage(s, 'day', new Date('2026-03-14T01:00:00.000Z'), 30);
      await l.restoreQuotaUsage(s, 'day', new Date('2026-03-14T00:00:00.000Z'), 10);
      await l.restoreQuotaUsage(s, 'day', new Date('2026-03-13T00:00:00.000Z'), 1000);
      await l.restoreQuotaUsage(s, 'hour', new Date('2026-03-14T15:00:00.000Z'), 7);
      expect((await l.peek({ subject: s, quota })).quota).toMatchObject({ used: 40, remaining: 10 });
      expect((await l.peek({ subject: s, quota: { limit: 10, period: 'hour' } })).quota).toMatchObject({ used: 7 });
      expect((await l.check({ subject: s, quota, cost: 10 })).allowed).toBe(true);
      expect((await l.check({ subject: s, quota, cost: 1 })).code).toBe('QUOTA_EXCEEDED');
    });

    it('peek charges nothing', async () => {
      const l = await limiter();
      const s = subject();
      const request = { subject: s, rate: { limit: 2, windowSeconds: 60 }, quota: { limit: 2, period: 'day' as const } };
      for (let i = 0; i < 5; i++) expect((await l.peek(request)).allowed).toBe(true);
      expect(await l.peek(request)).toMatchObject({ rate: { remaining: 2 }, quota: { used: 0 } });
      await l.check({ ...request, cost: 2 });
      expect(await l.peek(request)).toMatchObject({ allowed: false, code: 'QUOTA_EXCEEDED', rate: { remaining: 1 }, quota: { used: 2 } });
    });

    it('a request without policies is allowed and reports nothing', async () => {
      const l = await limiter();
      expect(await l.check({ subject: subject(), cost: 5 })).toEqual({ allowed: true });
    });

    it('rejects malformed requests with a typed error and charges nothing', async () => {
      const l = await limiter();
      const s = subject();
      const quota = { limit: 5, period: 'day' } as const;
      const bad: unknown[] = [
        { subject: s, quota, cost: -1 },
        { subject: s, quota, cost: 1.5 },
        { subject: s, quota, cost: Number.NaN },
        { subject: '', quota, cost: 1 },
        { subject: 'a{b}', quota, cost: 1 },
        { subject: s, quota: { limit: 5, period: 'week' }, cost: 1 },
        { subject: s, quota: { limit: -5, period: 'day' }, cost: 1 },
        { subject: s, rate: { limit: 0, windowSeconds: 60 }, quota, cost: 1 },
      ];
      for (const request of bad) {
        await expect(l.check(request as LimitRequest)).rejects.toBeInstanceOf(InvalidLimitRequestError);
      }
      await expect(l.restoreQuotaUsage(s, 'day', new Date(Number.NaN), 1)).rejects.toBeInstanceOf(InvalidLimitRequestError);
      await expect(l.restoreQuotaUsage(s, 'day', new Date(T0), -3)).rejects.toBeInstanceOf(InvalidLimitRequestError);
      expect((await l.peek({ subject: s, quota })).quota?.used).toBe(0);
    });
  });
}
