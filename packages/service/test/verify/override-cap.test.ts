/**
 * A rate limit raised by an override must not stay locked out by the old, stricter policy's debt
 * (GCRA's stored arrival time); both limiters cap that debt at one full burst of the new policy.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryLimiter } from '../../src/limits/memory-limiter.js';
import { createRedisLimiter } from '../../src/limits/redis-limiter.js';
import type { Limiter } from '../../src/limits/limiter.js';

const REDIS_URL = process.env.KEYLEDGER_TEST_REDIS_URL;

function describeCap(name: string, create: (now: () => number) => Limiter) {
  describe(`${name} limiter: an override that raises the rate limit`, () => {
    const opened: Limiter[] = [];
    afterAll(async () => Promise.all(opened.map((l) => l.close())));

    it('caps the old debt at one burst of the new policy, then recovers at the new rate; never admits more than the burst', async () => {
      let clock = Date.parse('2026-05-01T10:00:00.000Z');
      const limiter = create(() => clock);
      opened.push(limiter);
      const subject = `cap-${randomBytes(4).toString('hex')}`;
      const strict = { limit: 1, windowSeconds: 3600 };
      const raised = { limit: 10, windowSeconds: 1 };
      expect((await limiter.check({ subject, rate: strict, cost: 1 })).allowed).toBe(true);
      expect((await limiter.check({ subject, rate: strict, cost: 1 })).allowed).toBe(false);

      const first = await limiter.check({ subject, rate: raised, cost: 1 });
      expect(first.allowed).toBe(false);
      expect(first.rate).toMatchObject({ remaining: 0, resetSeconds: 1 });
      clock += 100; // one emission interval of the new policy
      expect((await limiter.check({ subject, rate: raised, cost: 1 })).allowed).toBe(true);
      expect((await limiter.check({ subject, rate: raised, cost: 1 })).allowed).toBe(false);
      clock += 1000;
      let admitted = 0;
      for (let i = 0; i < 15; i++) if ((await limiter.check({ subject, rate: raised, cost: 1 })).allowed) admitted++;
      expect(admitted).toBe(10);
    });
  });
}

describeCap('memory', (now) => createMemoryLimiter({ now }));

describe.skipIf(!REDIS_URL)('redis (skipped: KEYLEDGER_TEST_REDIS_URL is unset)', () => {
  const prefix = `kltest-cap-${randomBytes(4).toString('hex')}:`;
  afterAll(async () => {
    const redis = new Redis(REDIS_URL!);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
  describeCap('redis', (now) => createRedisLimiter({ url: REDIS_URL!, keyPrefix: prefix, clock: now, commandTimeoutMs: 500 }));
});
