/**
 * Behaviour every Limiter must have, run against the memory and the Redis implementation alike.
 * Each case injects a clock, so windows and recovery are exercised without sleeping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidLimitRequestError, type LimitDecision, type LimitRequest, type Limiter } from '../../src/limits/limiter.js';
import { nextRefillMs, openingCreditBalance } from '../../src/limits/credits.js';
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

    describe('several named rate limits', () => {
      const burst = { name: 'burst', limit: 2, windowSeconds: 1 };
      const sustained = { name: 'sustained', limit: 5, windowSeconds: 3600 };

      it('charges all of them or none, and the first refusing one names the refusal', async () => {
        const l = await limiter();
        const s = subject();
        const rates = [burst, sustained];
        expect(await l.check({ subject: s, rates, cost: 1 })).toEqual({
          allowed: true,
          rates: [
            { name: 'burst', limit: 2, remaining: 1, resetSeconds: 1, windowSeconds: 1 },
            { name: 'sustained', limit: 5, remaining: 4, resetSeconds: 720, windowSeconds: 3600 },
          ],
        });
        expect((await l.check({ subject: s, rates, cost: 1 })).allowed).toBe(true);
        // The burst refuses; the sustained limit, which would have admitted, is not charged.
        const refused = await l.check({ subject: s, rates, cost: 1 });
        expect(refused).toMatchObject({ allowed: false, code: 'RATE_LIMITED', refusedBy: 'burst' });
        expect(refused.rates?.[0]).toMatchObject({ remaining: 0, retryAfterSeconds: 1 });
        expect(refused.rates?.[1]).toEqual({ name: 'sustained', limit: 5, remaining: 3, resetSeconds: 1440, windowSeconds: 3600 });
        // Spread the calls out: the sustained limit runs out after 5 in total and then names the refusal.
        const outcomes = [];
        for (let i = 0; i < 4; i++) {
          clock += 1000;
          outcomes.push(await l.check({ subject: s, rates, cost: 1 }));
        }
        expect(outcomes.map((d) => d.refusedBy ?? 'ok')).toEqual(['ok', 'ok', 'ok', 'sustained']);
        // The refusal by "sustained" charged no burst: two calls' worth of burst are back after 1 s.
        expect((await l.peek({ subject: s, rates })).rates?.map((r) => r.remaining)).toEqual([2, 0]);
      });

      it('when several refuse, the order given decides which one is named', async () => {
        const l = await limiter();
        const s = subject();
        const a = { name: 'a', limit: 1, windowSeconds: 60 };
        const b = { name: 'b', limit: 1, windowSeconds: 3600 };
        expect((await l.check({ subject: s, rates: [a, b], cost: 1 })).allowed).toBe(true);
        const ab = await l.check({ subject: s, rates: [a, b], cost: 1 });
        const ba = await l.check({ subject: s, rates: [b, a], cost: 1 });
        expect([ab.refusedBy, ba.refusedBy]).toEqual(['a', 'b']);
        // Every refusing limit reports when it conforms again.
        expect(ab.rates?.map((r) => r.retryAfterSeconds)).toEqual([60, 3600]);
        // The single rate limit is checked before the named ones and is named by its code alone.
        const single = await l.check({ subject: s, rate: { limit: 1, windowSeconds: 10 }, rates: [a], cost: 1 });
        expect(single).toMatchObject({ allowed: false, code: 'RATE_LIMITED', refusedBy: 'a', rate: { remaining: 1 } });
        const both = await l.check({ subject: s, rate: { limit: 1, windowSeconds: 10 }, cost: 1 });
        expect(both.allowed).toBe(true);
        const singleFirst = await l.check({ subject: s, rate: { limit: 1, windowSeconds: 10 }, rates: [a], cost: 1 });
        expect(singleFirst.code).toBe('RATE_LIMITED');
        expect(singleFirst.refusedBy).toBeUndefined();
      });

      it('keeps state per name and window: revising one limit leaves the others alone', async () => {
        const l = await limiter();
        const s = subject();
        for (let i = 0; i < 3; i++) await l.check({ subject: s, rates: [burst, sustained], cost: 1 });
        clock += 1000;
        // Revision: "sustained" moves to a daily window (fresh state); "burst" keeps its state.
        const revised = [burst, { name: 'sustained', limit: 100, windowSeconds: 86_400 }];
        expect((await l.peek({ subject: s, rates: revised })).rates?.map((r) => r.remaining)).toEqual([2, 100]);
        // The old hourly state is still there for a plan version that uses it.
        expect((await l.peek({ subject: s, rates: [sustained] })).rates?.[0]?.remaining).toBe(3);
        // A limit renamed starts fresh too, and a single `rate` never shares state with a named one.
        expect((await l.peek({ subject: s, rates: [{ ...sustained, name: 'hourly' }] })).rates?.[0]?.remaining).toBe(5);
        expect((await l.peek({ subject: s, rate: { limit: 5, windowSeconds: 3600 } })).rate?.remaining).toBe(5);
      });

      it('200 concurrent checks against burst 50 and sustained 30 admit exactly 30, charging both alike', async () => {
        const l = await limiter();
        const s = subject();
        const rates = [
          { name: 'burst', limit: 50, windowSeconds: 1 },
          { name: 'sustained', limit: 30, windowSeconds: 3600 },
        ];
        const decisions = await Promise.all(Array.from({ length: 200 }, () => l.check({ subject: s, rates, cost: 1 })));
        expect(countAllowed(decisions)).toBe(30);
        expect(decisions.filter((d) => !d.allowed).every((d) => d.refusedBy === 'sustained')).toBe(true);
        expect((await l.peek({ subject: s, rates })).rates?.map((r) => r.remaining)).toEqual([20, 0]);
      });
    });

    describe('several quotas', () => {
      it('charges every quota or none; the first refusing one is named', async () => {
        const l = await limiter();
        const s = subject();
        const quotas = [
          { limit: 5, period: 'day' },
          { limit: 7, period: 'month' },
        ] as const;
        expect((await l.check({ subject: s, quotas: [...quotas], cost: 4 })).quotas?.map((q) => q.used)).toEqual([4, 4]);
        const dayRefuses = await l.check({ subject: s, quotas: [...quotas], cost: 2 });
        expect(dayRefuses).toMatchObject({ allowed: false, code: 'QUOTA_EXCEEDED', refusedBy: 'quota-day' });
        expect(dayRefuses.quotas?.map((q) => q.used)).toEqual([4, 4]);
        clock = Date.parse('2026-03-15T10:00:00.000Z');
        expect((await l.check({ subject: s, quotas: [...quotas], cost: 3 })).quotas?.map((q) => q.used)).toEqual([3, 7]);
        const monthRefuses = await l.check({ subject: s, quotas: [...quotas], cost: 1 });
        expect(monthRefuses).toMatchObject({ code: 'QUOTA_EXCEEDED', refusedBy: 'quota-month' });
        expect(monthRefuses.quotas?.[1]).toMatchObject({ remaining: 0, windowStart: new Date('2026-03-01T00:00:00.000Z') });
      });

      it('a single quota and further quotas combine; a refusal by a quota charges no rate', async () => {
        const l = await limiter();
        const s = subject();
        const request = { subject: s, rates: [{ name: 'r', limit: 10, windowSeconds: 60 }], quota: { limit: 10, period: 'hour' as const }, quotas: [{ limit: 2, period: 'minute' as const }] };
        expect((await l.check({ ...request, cost: 2 })).allowed).toBe(true);
        const refused = await l.check({ ...request, cost: 1 });
        expect(refused).toMatchObject({ code: 'QUOTA_EXCEEDED', refusedBy: 'quota-minute', quota: { used: 2 }, rates: [{ remaining: 9 }] });
        // restoreQuotaUsage feeds further quotas too (one counter per period).
        await l.restoreQuotaUsage(s, 'minute', new Date(T0), 0);
        await l.restoreQuotaUsage(s, 'hour', new Date(T0), 8);
        expect((await l.peek(request)).quota).toMatchObject({ used: 10 });
      });
    });

    describe('prepaid credits', () => {
      const noRefill = { initial: 5, refill: null };

      it('spends cost per allowed check and refuses below zero, charging nothing anywhere', async () => {
        const l = await limiter();
        const s = subject();
        const request = { subject: s, credits: noRefill, rates: [{ name: 'r', limit: 100, windowSeconds: 60 }], quota: { limit: 100, period: 'day' as const } };
        expect(await l.check({ ...request, cost: 3 })).toMatchObject({ allowed: true, credits: { balance: 2, refillAt: null, refill: null }, quota: { used: 3 } });
        const refused = await l.check({ ...request, cost: 3 });
        expect(refused).toMatchObject({ allowed: false, code: 'CREDITS_EXHAUSTED', refusedBy: 'credits', credits: { balance: 2 }, quota: { used: 3 }, rates: [{ remaining: 99 }] });
        expect((await l.check({ ...request, cost: 2 })).credits?.balance).toBe(0);
        // A free call passes an empty balance; a paid one does not.
        expect((await l.check({ ...request, cost: 0 })).allowed).toBe(true);
        expect((await l.check({ ...request, cost: 1 })).code).toBe('CREDITS_EXHAUSTED');
        // A rate refusal comes first and spends no credits.
        const rateFirst = await l.check({ ...request, rates: [{ name: 'r', limit: 1, windowSeconds: 60 }], cost: 1 });
        expect(rateFirst).toMatchObject({ code: 'RATE_LIMITED', refusedBy: 'r', credits: { balance: 0 } });
      });

      it('200 concurrent checks of cost 1 on a balance of 50 admit exactly 50', async () => {
        const l = await limiter();
        const s = subject();
        const credits = { initial: 50, refill: null };
        const decisions = await Promise.all(Array.from({ length: 200 }, () => l.check({ subject: s, credits, cost: 1 })));
        expect(countAllowed(decisions)).toBe(50);
        expect(decisions.filter((d) => !d.allowed).every((d) => d.code === 'CREDITS_EXHAUSTED')).toBe(true);
        expect((await l.peek({ subject: s, credits })).credits?.balance).toBe(0);
      });

      it('add: each UTC day boundary crossed adds the amount, unused credits carry over', async () => {
        const l = await limiter();
        const s = subject();
        const credits = { initial: 3, refill: { amount: 2, period: 'day', mode: 'add' } } as const;
        expect(await l.check({ subject: s, credits, cost: 3 })).toMatchObject({ credits: { balance: 0, refillAt: new Date('2026-03-15T00:00:00.000Z') } });
        expect((await l.check({ subject: s, credits, cost: 1 })).code).toBe('CREDITS_EXHAUSTED');
        clock = Date.parse('2026-03-14T23:59:59.999Z');
        expect((await l.check({ subject: s, credits, cost: 1 })).code).toBe('CREDITS_EXHAUSTED');
        clock = Date.parse('2026-03-15T00:00:00.000Z');
        expect((await l.check({ subject: s, credits, cost: 1 })).credits?.balance).toBe(1);
        // Three days idle: three refills, on top of the 1 left.
        clock = Date.parse('2026-03-18T12:00:00.000Z');
        expect((await l.peek({ subject: s, credits })).credits?.balance).toBe(7);
        expect((await l.check({ subject: s, credits, cost: 7 })).credits?.balance).toBe(0);
      });

      it('reset: each UTC month boundary sets the balance to the amount', async () => {
        const l = await limiter();
        const s = subject();
        const credits = { initial: 10, refill: { amount: 4, period: 'month', mode: 'reset' } } as const;
        expect((await l.check({ subject: s, credits, cost: 1 })).credits?.balance).toBe(9);
        clock = Date.parse('2026-04-01T00:00:00.000Z');
        expect((await l.check({ subject: s, credits, cost: 1 })).credits).toEqual({ balance: 3, refillAt: new Date('2026-05-01T00:00:00.000Z'), refill: credits.refill });
        clock = Date.parse('2026-12-31T23:59:59.999Z');
        expect((await l.check({ subject: s, credits, cost: 4 })).credits?.balance).toBe(0);
        clock = Date.parse('2027-01-01T00:00:00.000Z');
        expect((await l.peek({ subject: s, credits })).credits).toMatchObject({ balance: 4, refillAt: new Date('2027-02-01T00:00:00.000Z') });
      });

      it('sinceMs: a new account counts the refills since it began', async () => {
        const l = await limiter();
        const s = subject();
        const credits = { initial: 1, refill: { amount: 10, period: 'hour', mode: 'add' }, sinceMs: Date.parse('2026-03-14T12:30:00.000Z') } as const;
        // 13:00, 14:00 and 15:00 crossed since 12:30.
        expect((await l.peek({ subject: s, credits })).credits?.balance).toBe(31);
        expect((await l.check({ subject: s, credits, cost: 1 })).credits?.balance).toBe(30);
        // Once there is state, sinceMs is not read again.
        expect((await l.peek({ subject: s, credits: { ...credits, sinceMs: Date.parse('2026-01-01T00:00:00.000Z') } })).credits?.balance).toBe(30);
      });

      it('opening balances agree with credits.ts for arbitrary instants, every period and mode', async () => {
        const l = await limiter();
        const s = subject();
        for (const period of ['minute', 'hour', 'day', 'month'] as const) {
          for (const mode of ['add', 'reset'] as const) {
            for (let i = 0; i < 6; i++) {
              const sinceMs = Date.parse('1995-01-01T00:00:00Z') + Math.floor(Math.random() * 1e12);
              clock = sinceMs + Math.floor(Math.random() * (period === 'month' ? 2e11 : period === 'minute' ? 3e8 : 3e10));
              const credits = { initial: 3, refill: { amount: 7, period, mode }, sinceMs };
              const expected = openingCreditBalance(credits, clock);
              const peeked = await l.peek({ subject: s, credits });
              expect(peeked.credits, `${period} ${mode} since ${new Date(sinceMs).toISOString()} at ${new Date(clock).toISOString()}`).toEqual({
                balance: expected.balance,
                refillAt: new Date(nextRefillMs(credits.refill, clock)!),
                refill: credits.refill,
              });
            }
          }
        }
      });

      it('top-ups apply once per topUpId; in reset mode one from an ended period is gone', async () => {
        const l = await limiter();
        const s = subject();
        const credits = { initial: 0, refill: null };
        expect((await l.check({ subject: s, credits, cost: 1 })).code).toBe('CREDITS_EXHAUSTED');
        const results = await Promise.all(Array.from({ length: 10 }, () => l.addCredits({ subject: s, credits, amount: 25, topUpId: 'evt_1' })));
        expect(results.filter((r) => r.applied)).toHaveLength(1);
        expect(await l.addCredits({ subject: s, credits, amount: 5, topUpId: 'evt_2' })).toEqual({ applied: true, balance: 30 });
        expect((await l.check({ subject: s, credits, cost: 30 })).credits?.balance).toBe(0);
        expect(await l.addCredits({ subject: s, credits, amount: 25, topUpId: 'evt_1' })).toEqual({ applied: false, balance: 0 });

        const r = subject();
        const daily = { initial: 2, refill: { amount: 2, period: 'day', mode: 'reset' } } as const;
        expect(await l.addCredits({ subject: r, credits: daily, amount: 9, topUpId: 'evt_old', at: new Date('2026-03-13T23:00:00.000Z') })).toEqual({ applied: false, balance: 2 });
        expect(await l.addCredits({ subject: r, credits: daily, amount: 9, topUpId: 'evt_new', at: new Date('2026-03-14T01:00:00.000Z') })).toEqual({ applied: true, balance: 11 });
        clock = Date.parse('2026-03-15T00:00:00.000Z');
        expect((await l.peek({ subject: r, credits: daily })).credits?.balance).toBe(2);
      });

      it('restoreCredits subtracts what the ledger says was spent (never below zero; reset mode: this period only)', async () => {
        const l = await limiter();
        const add = subject();
        const addPolicy = { initial: 100, refill: { amount: 10, period: 'day', mode: 'add' }, sinceMs: Date.parse('2026-03-10T08:00:00.000Z') } as const;
        // Opening: 100 + 4 days of refills; spending of earlier days still counts (it carried over).
        await l.restoreCredits({ subject: add, credits: addPolicy, spent: 30, windowStart: new Date('2026-03-11T00:00:00.000Z') });
        await l.restoreCredits({ subject: add, credits: addPolicy, spent: 5, windowStart: new Date('2026-03-14T09:00:00.000Z') });
        expect((await l.peek({ subject: add, credits: addPolicy })).credits?.balance).toBe(105);

        const reset = subject();
        const resetPolicy = { initial: 50, refill: { amount: 20, period: 'day', mode: 'reset' }, sinceMs: Date.parse('2026-03-10T08:00:00.000Z') } as const;
        await l.restoreCredits({ subject: reset, credits: resetPolicy, spent: 40, windowStart: new Date('2026-03-13T00:00:00.000Z') });
        await l.restoreCredits({ subject: reset, credits: resetPolicy, spent: 15, windowStart: new Date('2026-03-14T00:00:00.000Z') });
        expect((await l.peek({ subject: reset, credits: resetPolicy })).credits?.balance).toBe(5);
        await l.restoreCredits({ subject: reset, credits: resetPolicy, spent: 15, windowStart: new Date('2026-03-14T00:00:00.000Z') });
        expect((await l.peek({ subject: reset, credits: resetPolicy })).credits?.balance).toBe(0);
      });
    });

    describe('idempotent charging (chargeId)', () => {
      it('with no limit at all, a chargeId is still remembered: the retry says replayed (its units are billed once)', async () => {
        const l = await limiter();
        const s = subject();
        expect(await l.check({ subject: s, cost: 1, chargeId: 'bill-1' })).toEqual({ allowed: true });
        expect(await l.check({ subject: s, cost: 1, chargeId: 'bill-1' })).toEqual({ allowed: true, replayed: true });
        expect(await l.check({ subject: s, cost: 1, chargeId: 'bill-2' })).toEqual({ allowed: true });
        // Without a chargeId nothing is remembered.
        expect(await l.check({ subject: s, cost: 1 })).toEqual({ allowed: true });
      });

      it('a retry with the same chargeId gets the first decision, replayed, and is charged once', async () => {
        const l = await limiter();
        const s = subject();
        const request = { subject: s, rate: { limit: 10, windowSeconds: 60 }, quota: { limit: 10, period: 'day' as const }, credits: { initial: 10, refill: null }, cost: 3 };
        const first = await l.check({ ...request, chargeId: 'req-1' });
        expect(first).toMatchObject({ allowed: true, quota: { used: 3 }, credits: { balance: 7 }, rate: { remaining: 9 } });
        expect(first.replayed).toBeUndefined();
        clock += 5000;
        const retry = await l.check({ ...request, chargeId: 'req-1' });
        expect(retry).toEqual({ ...first, replayed: true });
        expect(await l.peek(request)).toMatchObject({ quota: { used: 3 }, credits: { balance: 7 } });
        // Another chargeId, or the same one for another subject, is a new charge.
        expect((await l.check({ ...request, chargeId: 'req-2' })).quota?.used).toBe(6);
        expect((await l.check({ ...request, subject: subject(), chargeId: 'req-1' })).replayed).toBeUndefined();
      });

      it('concurrent retries with one chargeId charge once', async () => {
        const l = await limiter();
        const s = subject();
        const request = { subject: s, quota: { limit: 100, period: 'day' as const }, credits: { initial: 100, refill: null }, cost: 5, chargeId: 'once' };
        const decisions = await Promise.all(Array.from({ length: 20 }, () => l.check(request)));
        expect(decisions.every((d) => d.allowed)).toBe(true);
        expect(decisions.filter((d) => d.replayed === true)).toHaveLength(19);
        expect(await l.peek(request)).toMatchObject({ quota: { used: 5 }, credits: { balance: 95 } });
      });

      it('a refused check is not remembered: its retry is decided afresh', async () => {
        const l = await limiter();
        const s = subject();
        const request = { subject: s, rate: { limit: 1, windowSeconds: 60 }, cost: 1 };
        expect((await l.check(request)).allowed).toBe(true);
        expect((await l.check({ ...request, chargeId: 'late' })).allowed).toBe(false);
        clock += 60_000;
        const retried = await l.check({ ...request, chargeId: 'late' });
        expect(retried.allowed).toBe(true);
        expect(retried.replayed).toBeUndefined();
      });
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
        { subject: s, quota, cost: 1, chargeId: '' },
        { subject: s, quota, cost: 1, chargeId: 'has space' },
        { subject: s, quota, cost: 1, chargeId: 'x'.repeat(129) },
        { subject: s, quota, rates: [{ name: 'Burst', limit: 1, windowSeconds: 1 }], cost: 1 },
        { subject: s, quota, rates: [{ name: 'a', limit: 1, windowSeconds: 1 }, { name: 'a', limit: 2, windowSeconds: 60 }], cost: 1 },
        { subject: s, quota, rates: [{ name: 'a', limit: 0, windowSeconds: 1 }], cost: 1 },
        { subject: s, quota, rates: [{ name: 'credits', limit: 1, windowSeconds: 1 }], cost: 1 },
        { subject: s, quota, rates: [{ name: 'quota-day', limit: 1, windowSeconds: 1 }], cost: 1 },
        { subject: s, quota, rate: { limit: 1, windowSeconds: 1 }, rates: [{ name: 'rate', limit: 1, windowSeconds: 1 }], cost: 1 },
        { subject: s, quota, quotas: [{ limit: 1, period: 'day' }], cost: 1 },
        { subject: s, quota, quotas: [{ limit: 1, period: 'week' }], cost: 1 },
        { subject: s, quota, credits: { initial: -1, refill: null }, cost: 1 },
        { subject: s, quota, credits: { initial: 1, refill: { amount: 1, period: 'day', mode: 'double' } }, cost: 1 },
        { subject: s, quota, credits: { initial: 1 }, cost: 1 },
      ];
      for (const request of bad) {
        await expect(l.check(request as LimitRequest)).rejects.toBeInstanceOf(InvalidLimitRequestError);
      }
      await expect(l.restoreQuotaUsage(s, 'day', new Date(Number.NaN), 1)).rejects.toBeInstanceOf(InvalidLimitRequestError);
      await expect(l.restoreQuotaUsage(s, 'day', new Date(T0), -3)).rejects.toBeInstanceOf(InvalidLimitRequestError);
      // The error names the list entry.
      const twoRates = [{ name: 'a', limit: 1, windowSeconds: 1 }, { name: 'b', limit: 0, windowSeconds: 1 }];
      await expect(l.check({ subject: s, rates: twoRates, cost: 1 })).rejects.toMatchObject({ field: 'rates[1].limit' });
      await expect(l.check({ subject: s, quotas: [{ limit: 1, period: 'week' }], cost: 1 } as unknown as LimitRequest)).rejects.toMatchObject({ field: 'quotas[0].period' });
      const credits = { initial: 1, refill: null };
      await expect(l.addCredits({ subject: s, credits, amount: 1, topUpId: '' })).rejects.toBeInstanceOf(InvalidLimitRequestError);
      await expect(l.addCredits({ subject: s, credits, amount: -1, topUpId: 't' })).rejects.toBeInstanceOf(InvalidLimitRequestError);
      await expect(l.restoreCredits({ subject: s, credits, spent: 1, windowStart: new Date(Number.NaN) })).rejects.toBeInstanceOf(InvalidLimitRequestError);
      expect((await l.peek({ subject: s, quota })).quota?.used).toBe(0);
    });
  });
}
