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

    it('three instances sharing Redis: 200 concurrent credit checks of cost 1 on a balance of 50 admit exactly 50', async () => {
      fresh();
      const instances = [open(), open(), open()];
      const request = { subject: 'key_shared_credits', credits: { initial: 50, refill: null }, rates: [{ name: 'hourly', limit: 1000, windowSeconds: 3600 }], cost: 1 };
      const decisions = await Promise.all(Array.from({ length: 200 }, (_, i) => instances[i % 3]!.check(request)));
      expect(countAllowed(decisions)).toBe(50);
      const state = await instances[2]!.peek(request);
      expect(state.credits?.balance).toBe(0);
      // The refused 150 charged no rate either.
      expect(state.rates?.[0]?.remaining).toBe(1000 - 50);
      console.log(`credits across 3 instances: ${countAllowed(decisions)} of 200 admitted on a balance of 50`);
    });

    it('three instances racing with one chargeId charge once, and the others answer the first decision', async () => {
      fresh();
      const instances = [open(), open(), open()];
      const request = { subject: 'key_charge_race', quota: { limit: 1000, period: 'day' as const }, credits: { initial: 1000, refill: null }, cost: 7 };
      const decisions = await Promise.all(Array.from({ length: 30 }, (_, i) => instances[i % 3]!.check({ ...request, chargeId: `race-${i % 2}` })));
      expect(decisions.filter((d) => d.replayed !== true)).toHaveLength(2);
      expect(await instances[0]!.peek(request)).toMatchObject({ quota: { used: 14 }, credits: { balance: 986 } });
      const firsts = new Map(decisions.filter((d) => d.replayed !== true).map((d) => [d.quota?.used, d]));
      for (const replayed of decisions.filter((d) => d.replayed === true)) {
        const first = firsts.get(replayed.quota?.used);
        expect(replayed).toEqual({ ...first, replayed: true });
      }
    });

    it('three instances reporting one top-up apply it once', async () => {
      fresh();
      const instances = [open(), open(), open()];
      const credits = { initial: 0, refill: { amount: 5, period: 'month' as const, mode: 'add' as const } };
      const results = await Promise.all(
        Array.from({ length: 9 }, (_, i) => instances[i % 3]!.addCredits({ subject: 'key_topup', credits, amount: 100, topUpId: 'evt_topup_1' })),
      );
      expect(results.filter((r) => r.applied)).toHaveLength(1);
      expect((await instances[1]!.peek({ subject: 'key_topup', credits })).credits?.balance).toBe(100);
    });

    it('a chargeId is forgotten after its retention (a real Redis TTL)', async () => {
      fresh();
      const limiter = createRedisLimiter({ url: url!, keyPrefix, commandTimeoutMs: 2000, chargeRetentionMs: 200 });
      opened.push(limiter);
      const request = { subject: 'key_retention', quota: { limit: 10, period: 'day' as const }, cost: 1, chargeId: 'short-lived' };
      await limiter.check(request);
      expect((await limiter.check(request)).replayed).toBe(true);
      const ttl = await admin.pttl(`${keyPrefix}{key_retention}:charge:short-lived`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(200);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const again = await limiter.check(request);
      expect(again.replayed).toBeUndefined();
      expect(again.quota?.used).toBe(2);
    });

    it('keys: named rate state per name and window, credits and top-up ids without expiry', async () => {
      fresh();
      const limiter = open();
      await limiter.check({ subject: 'key_named', rates: [{ name: 'burst', limit: 20, windowSeconds: 1 }, { name: 'sustained', limit: 5000, windowSeconds: 3600 }], credits: { initial: 9, refill: null }, cost: 2 });
      await limiter.addCredits({ subject: 'key_named', credits: { initial: 9, refill: null }, amount: 1, topUpId: 'evt_9' });
      const keys = (await admin.keys(`${keyPrefix}*`)).map((k) => k.slice(keyPrefix.length)).sort();
      expect(keys).toEqual(['{key_named}:credits', '{key_named}:rate:burst:1', '{key_named}:rate:sustained:3600', '{key_named}:topups']);
      expect(await admin.hget(`${keyPrefix}{key_named}:credits`, 'b')).toBe('8');
      expect(await admin.pttl(`${keyPrefix}{key_named}:credits`)).toBe(-1);
      expect(await admin.pttl(`${keyPrefix}{key_named}:rate:burst:1`)).toBeGreaterThan(0);
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
    const credits = { initial: 5, refill: null };
    await expect(limiter.addCredits({ subject: 'key_down', credits, amount: 5, topUpId: 'evt_down' })).rejects.toBeInstanceOf(LimiterUnavailableError);
    await expect(limiter.restoreCredits({ subject: 'key_down', credits, spent: 1, windowStart: new Date() })).rejects.toBeInstanceOf(LimiterUnavailableError);
    await expect(limiter.check({ ...request, credits, chargeId: 'c1' })).rejects.toBeInstanceOf(LimiterUnavailableError);
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
      // So must top-ups and restored credits: reported and rethrown, for the caller to retry.
      const credits = { initial: 5, refill: null };
      await expect(closed.addCredits({ subject: 'key_down', credits, amount: 5, topUpId: 'evt_down' })).rejects.toBeInstanceOf(LimiterUnavailableError);
      await expect(open.restoreCredits({ subject: 'key_down', credits, spent: 1, windowStart: new Date() })).rejects.toBeInstanceOf(LimiterUnavailableError);
      expect(errors).toHaveLength(6);
    });
  });
});
