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
