import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { withFailurePolicy } from '../../src/limits/failure-policy.js';
import { LimiterUnavailableError, type Limiter } from '../../src/limits/limiter.js';
import { createRedisLimiter } from '../../src/limits/redis-limiter.js';
import { countAllowed, describeLimiterContract } from './limiter-contract.js';

const url = process.env.KEYLEDGER_TEST_REDIS_URL;

/** A fresh prefix per test so parallel runs never share keys; everything under it is deleted after. */
function prefixes() {
  let current = '';
  return {
    next(): string {
      current = `kltest:${randomUUID()}:`;
      return current;
    },
    get current() {
      return current;
    },
  };
}

async function deleteByPrefix(admin: Redis, prefix: string): Promise<void> {
  if (prefix === '') return;
  let cursor = '0';
  do {
    const [nextCursor, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = nextCursor;
  } while (cursor !== '0');
}

describe.skipIf(!url)('redis limiter (needs KEYLEDGER_TEST_REDIS_URL; skipped when unset)', () => {
  let admin: Redis;
  const prefix = prefixes();
  beforeAll(() => {
    admin = new Redis(url!);
  });
  afterAll(async () => {
    await admin.quit();
  });

  // Generous timeouts: a loaded CI machine must not turn into false "unavailable" errors.
  describeLimiterContract('redis (injected clock)', {
    create: (now) => createRedisLimiter({ url: url!, keyPrefix: prefix.next(), clock: now, commandTimeoutMs: 2000 }),
    cleanup: () => deleteByPrefix(admin, prefix.current),
  });

  describe('with the Redis clock', () => {
    const opened: Limiter[] = [];
    let keyPrefix = '';
    const open = () => {
      const limiter = createRedisLimiter({ url: url!, keyPrefix, commandTimeoutMs: 2000 });
      opened.push(limiter);
      return limiter;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((l) => l.close()));
      await deleteByPrefix(admin, keyPrefix);
    });
    const fresh = () => {
      keyPrefix = prefix.next();
    };

    it('200 concurrent checks against a rate limit of 50 admit exactly 50', async () => {
      fresh();
      const limiter = open();
      const request = { subject: 'key_one', rate: { limit: 50, windowSeconds: 3600 }, cost: 1 };
      const decisions = await Promise.all(Array.from({ length: 200 }, () => limiter.check(request)));
      expect(countAllowed(decisions)).toBe(50);
    });

    it('three limiter instances (three connections) sharing Redis admit exactly 50 of 200, for rate and for quota', async () => {
      fresh();
      const instances = [open(), open(), open()];
      const rateRequest = { subject: 'key_shared_rate', rate: { limit: 50, windowSeconds: 3600, burst: 50 }, cost: 1 };
      const rateDecisions = await Promise.all(Array.from({ length: 200 }, (_, i) => instances[i % 3]!.check(rateRequest)));
      expect(countAllowed(rateDecisions)).toBe(50);

      const quotaRequest = { subject: 'key_shared_quota', quota: { limit: 50, period: 'day' as const }, cost: 1 };
      const quotaDecisions = await Promise.all(Array.from({ length: 200 }, (_, i) => instances[i % 3]!.check(quotaRequest)));
      expect(countAllowed(quotaDecisions)).toBe(50);
      expect((await instances[0]!.peek(quotaRequest)).quota?.used).toBe(50);
    });

    it('three instances charging rate and quota together never split a charge', async () => {
      fresh();
      const instances = [open(), open(), open()];
      // Rate admits 30, quota admits 20 cost-2 calls; whichever runs out first, charges must match.
      const request = { subject: 'key_both', rate: { limit: 30, windowSeconds: 3600 }, quota: { limit: 40, period: 'hour' as const }, cost: 2 };
      const decisions = await Promise.all(Array.from({ length: 120 }, (_, i) => instances[i % 3]!.check(request)));
      const allowed = countAllowed(decisions);
      expect(allowed).toBe(20);
      const state = await instances[1]!.peek(request);
      expect(state.quota?.used).toBe(2 * allowed);
      expect(state.rate?.remaining).toBe(30 - allowed);
    });

    it('recovers after the window passes in real time (windowSeconds = 1)', async () => {
      fresh();
      const limiter = open();
      const request = { subject: 'key_realtime', rate: { limit: 2, windowSeconds: 1 }, cost: 1 };
      expect(countAllowed(await Promise.all([limiter.check(request), limiter.check(request), limiter.check(request)]))).toBe(2);
      const limited = await limiter.check(request);
      expect(limited).toMatchObject({ allowed: false, code: 'RATE_LIMITED', rate: { retryAfterSeconds: 1 } });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(countAllowed(await Promise.all([limiter.check(request), limiter.check(request), limiter.check(request)]))).toBe(2);
    });

    it('stores state under hash-tagged keys that expire when idle', async () => {
      fresh();
      const limiter = open();
      const decision = await limiter.check({ subject: 'key_ttl', rate: { limit: 10, windowSeconds: 60 }, quota: { limit: 5, period: 'minute' }, cost: 3 });
      const rateKey = `${keyPrefix}{key_ttl}:rate`;
      const quotaKey = `${keyPrefix}{key_ttl}:quota:minute:${decision.quota!.windowStart.getTime()}`;
      expect(await admin.get(quotaKey)).toBe('3');
      // The rate TTL is the time to full recovery (one call = 6 s); the quota TTL ends with its window.
      const ratePttl = await admin.pttl(rateKey);
      expect(ratePttl).toBeGreaterThan(0);
      expect(ratePttl).toBeLessThanOrEqual(6000);
      const quotaPttl = await admin.pttl(quotaKey);
      expect(quotaPttl).toBeGreaterThan(0);
      expect(quotaPttl).toBeLessThanOrEqual(60_000);
    });
  });
});

describe('redis limiter: unavailable store', () => {
  const opened: Limiter[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((l) => l.close()));
  });
  const request = { subject: 'key_down', rate: { limit: 10, windowSeconds: 60 }, quota: { limit: 5, period: 'day' as const }, cost: 1 };

  /** Liveness, not speed: the call must settle with the typed error instead of hanging. */
  async function expectUnavailable(limiter: Limiter): Promise<void> {
    const started = Date.now();
    await expect(limiter.check(request)).rejects.toBeInstanceOf(LimiterUnavailableError);
    expect(Date.now() - started).toBeLessThan(5000);
  }

  it('a closed port raises LimiterUnavailableError, on the first call and on later ones', async () => {
    const limiter = createRedisLimiter({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 50, connectTimeoutMs: 200 });
    opened.push(limiter);
    await expectUnavailable(limiter);
    await expectUnavailable(limiter);
    await expect(limiter.peek(request)).rejects.toBeInstanceOf(LimiterUnavailableError);
    await expect(limiter.restoreQuotaUsage('key_down', 'day', new Date(), 3)).rejects.toBeInstanceOf(LimiterUnavailableError);
  });

  describe('a hung server (accepts connections, never answers)', () => {
    let server: Server;
    const sockets: Socket[] = [];
    let port = 0;
    beforeAll(async () => {
      server = createServer((socket) => {
        sockets.push(socket);
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });

    it('times out with LimiterUnavailableError instead of hanging', async () => {
      const limiter = createRedisLimiter({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 50 });
      opened.push(limiter);
      await expectUnavailable(limiter);
      const concurrent = await Promise.allSettled(Array.from({ length: 20 }, () => limiter.check(request)));
      expect(concurrent.every((r) => r.status === 'rejected' && r.reason instanceof LimiterUnavailableError)).toBe(true);
    });

    it('failure policy: closed rejects, open admits, both marked degraded and reported', async () => {
      const errors: unknown[] = [];
      const inner = createRedisLimiter({ url: `redis://127.0.0.1:${port}`, commandTimeoutMs: 50 });
      opened.push(inner);
      const closed = withFailurePolicy(inner, { mode: 'closed', onError: (e) => errors.push(e) });
      const open = withFailurePolicy(inner, {
        mode: 'open',
        onError: (e) => {
          errors.push(e);
          throw new Error('a broken logger must not break verification');
        },
      });
      expect(closed.kind).toBe('redis');
      expect(await closed.check(request)).toEqual({
        allowed: false,
        code: 'RATE_LIMITED',
        degraded: 'fail_closed',
        rate: { limit: 10, remaining: 0, resetSeconds: 1, windowSeconds: 60, retryAfterSeconds: 1 },
      });
      expect(await open.check(request)).toEqual({ allowed: true, degraded: 'fail_open' });
      expect(await open.peek(request)).toEqual({ allowed: true, degraded: 'fail_open' });
      expect(errors).toHaveLength(3);
      expect(errors.every((e) => e instanceof LimiterUnavailableError)).toBe(true);
      // Restoring usage must not be silently dropped: it is reported and rethrown.
      await expect(closed.restoreQuotaUsage('key_down', 'day', new Date(), 1)).rejects.toBeInstanceOf(LimiterUnavailableError);
      expect(errors).toHaveLength(4);
    });
  });
});
