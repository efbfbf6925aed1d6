import { describe, expect, it } from 'vitest';
import { createMemoryLimiter } from '../../src/limits/memory-limiter.js';
import { describeLimiterContract } from './limiter-contract.js';

describeLimiterContract('memory', { create: (now) => createMemoryLimiter({ now }) });

describe('memory limiter: bounded memory', () => {
  it('the sweep drops fully recovered rate state and ended quota windows, and nothing else', async () => {
    let clock = Date.parse('2026-03-14T15:09:26.000Z');
    const limiter = createMemoryLimiter({ now: () => clock });
    const rate = { limit: 10, windowSeconds: 10 };
    await limiter.check({ subject: 'rate-only', rate, cost: 1 }); // recovers after 1 s
    await limiter.check({ subject: 'minute-quota', quota: { limit: 5, period: 'minute' }, cost: 1 });
    await limiter.check({ subject: 'day-quota', quota: { limit: 5, period: 'day' }, cost: 2 });
    expect(limiter.trackedSubjects()).toBe(3);

    clock += 999;
    limiter.sweep();
    expect(limiter.trackedSubjects()).toBe(3);

    clock += 1;
    limiter.sweep();
    expect(limiter.trackedSubjects()).toBe(2);

    clock = Date.parse('2026-03-14T15:10:00.000Z');
    limiter.sweep();
    expect(limiter.trackedSubjects()).toBe(1);
    // The surviving day counter still counts.
    expect((await limiter.peek({ subject: 'day-quota', quota: { limit: 5, period: 'day' } })).quota?.used).toBe(2);

    clock = Date.parse('2026-03-15T00:00:00.000Z');
    limiter.sweep();
    expect(limiter.trackedSubjects()).toBe(0);
    await limiter.close();
  });

  it('rejected and no-op calls create no state', async () => {
    const limiter = createMemoryLimiter();
    await limiter.peek({ subject: 'peeked', rate: { limit: 1, windowSeconds: 60 }, quota: { limit: 1, period: 'day' } });
    await limiter.check({ subject: 'too-expensive', quota: { limit: 1, period: 'day' }, cost: 2 });
    await limiter.check({ subject: 'free', quota: { limit: 1, period: 'day' }, cost: 0 });
    expect(limiter.trackedSubjects()).toBe(0);
    await limiter.close();
  });
});

describe('memory limiter: credits and chargeIds', () => {
  it('chargeIds are remembered for the retention window and within the bound, oldest dropped first', async () => {
    let clock = Date.parse('2026-03-14T15:09:26.000Z');
    const limiter = createMemoryLimiter({ now: () => clock, chargeRetentionMs: 60_000, maxRememberedCharges: 3 });
    const request = { subject: 'key_a', quota: { limit: 100, period: 'day' as const }, cost: 1 };
    for (const id of ['c1', 'c2', 'c3', 'c4']) await limiter.check({ ...request, chargeId: id });
    expect(limiter.rememberedCharges()).toBe(3);
    // c1 was dropped by the bound: its retry is charged again; c4 is still replayed.
    expect((await limiter.check({ ...request, chargeId: 'c4' })).replayed).toBe(true);
    expect((await limiter.check({ ...request, chargeId: 'c1' })).replayed).toBeUndefined();
    clock += 60_000;
    expect((await limiter.check({ ...request, chargeId: 'c4' })).replayed).toBeUndefined();
    limiter.sweep();
    // Everything charged before the wait has expired; only c4's new charge remains.
    expect(limiter.rememberedCharges()).toBe(1);
    expect((await limiter.peek(request)).quota?.used).toBe(6);
    await limiter.close();
  });

  it('refuses a retention or bound that is not a positive integer', () => {
    expect(() => createMemoryLimiter({ chargeRetentionMs: 0 })).toThrow(/chargeRetentionMs/);
    expect(() => createMemoryLimiter({ maxRememberedCharges: 1.5 })).toThrow(/maxRememberedCharges/);
  });

  it('the sweep keeps credit balances (money, not idle state)', async () => {
    let clock = Date.parse('2026-03-14T15:09:26.000Z');
    const limiter = createMemoryLimiter({ now: () => clock });
    const credits = { initial: 10, refill: null };
    await limiter.check({ subject: 'key_c', credits, cost: 4 });
    clock += 365 * 86_400_000;
    limiter.sweep();
    expect(limiter.trackedSubjects()).toBe(1);
    expect((await limiter.peek({ subject: 'key_c', credits })).credits?.balance).toBe(6);
    await limiter.close();
  });

  it('after a restart, restoreCredits (spending per period) and addCredits (top-ups) rebuild the balance exactly', async () => {
    let clock = Date.parse('2026-03-10T08:00:00.000Z');
    const credits = { initial: 20, refill: { amount: 5, period: 'day', mode: 'add' }, sinceMs: clock } as const;
    const before = createMemoryLimiter({ now: () => clock });
    // The ledger: what was spent per refill period, and the top-ups.
    const spentByDay = new Map<number, number>();
    const topUps: { id: string; amount: number; at: number }[] = [];
    for (let day = 0; day < 5; day++) {
      for (let call = 0; call < 4; call++) {
        const decision = await before.check({ subject: 'key_r', credits, cost: 3 });
        if (decision.allowed) {
          const start = Date.UTC(2026, 2, 10 + day);
          spentByDay.set(start, (spentByDay.get(start) ?? 0) + 3);
        }
        clock += 60_000;
      }
      if (day === 2) {
        topUps.push({ id: `evt_${day}`, amount: 7, at: clock });
        await before.addCredits({ subject: 'key_r', credits, amount: 7, topUpId: `evt_${day}`, at: new Date(clock) });
      }
      clock += 86_400_000;
    }
    const expected = (await before.peek({ subject: 'key_r', credits })).credits?.balance;
    await before.close();

    const after = createMemoryLimiter({ now: () => clock });
    for (const topUp of topUps) await after.addCredits({ subject: 'key_r', credits, amount: topUp.amount, topUpId: topUp.id, at: new Date(topUp.at) });
    for (const [start, spent] of spentByDay) await after.restoreCredits({ subject: 'key_r', credits, spent, windowStart: new Date(start) });
    const restored = (await after.peek({ subject: 'key_r', credits })).credits?.balance;
    console.log(`credits restored after restart: ${restored} (before: ${expected})`);
    expect(restored).toBe(expected);
    expect(expected).toBeGreaterThan(0);
    await after.close();
  });
});
