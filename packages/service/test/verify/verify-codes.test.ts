/**
 * POST /v1/verify through the real app (SQLite file, memory limiter): every code, the fixed check
 * order, nothing charged by a rejected check, the RateLimit header fields, cost, overrides and
 * window reset, and the credential checks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, wellFormedKey, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function quotaOf(id: string) {
  const response = await h.call('GET', `/v1/keys/${id}/quota`);
  expect(response.status).toBe(200);
  return response.body as {
    keyId: string;
    rate: { limit: number; remaining: number; resetSeconds: number } | null;
    quota: { limit: number; remaining: number; used: number; resetAt: string; period: string } | null;
  };
}

async function codeOf(body: Record<string, unknown>): Promise<string> {
  const response = await h.verify(body);
  expect(response.status).toBe(200);
  return response.body.code;
}

describe('verify: every code', () => {
  it('VALID answers the key, its consumer, scopes, meta and expiry', async () => {
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const key = await h.issue({ consumerId: 'shop-7', scopes: ['orders:read'], meta: { tier: 'gold' }, expiresAt });
    const response = await h.verify({ key: key.secret, scopes: ['orders:read'] });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      valid: true,
      code: 'VALID',
      keyId: key.id,
      consumerId: 'shop-7',
      scopes: ['orders:read'],
      meta: { tier: 'gold' },
      expiresAt: new Date(expiresAt).toISOString(),
      limits: { rate: null, quota: null, rates: [], credits: null },
      // A key of no registered consumer and on no plan: none of their policies applied.
      plan: null,
      reason: null,
      replayed: false,
      consumerRegistered: false,
      // The checkpoint this instance had applied: at least the key's issue, and the header's value.
      checkpoint: response.headers['keyledger-checkpoint'],
    });
    const [issued] = await h.service.store.readStream(`key-${key.id}`);
    expect(h.service.store.compareCheckpoints(response.body.checkpoint, issued?.checkpoint)).toBeGreaterThanOrEqual(0);
    // A key without limits advertises no policy.
    expect(response.headers['ratelimit-policy']).toBeUndefined();
    expect(response.headers['ratelimit']).toBeUndefined();
  });

  it('MALFORMED: bad shape, wrong checksum, an over-long key; answered without a lookup', async () => {
    const good = wellFormedKey();
    const wrongChecksum = good.slice(0, -1) + (good.endsWith('A') ? 'B' : 'A');
    for (const key of ['', 'not-a-key', 'kl_live_short', wrongChecksum, 'x'.repeat(4096), `${good}x`]) {
      const response = await h.verify({ key });
      expect(response.status, key.slice(0, 40)).toBe(200);
      expect(response.body).toMatchObject({ valid: false, code: 'MALFORMED', keyId: null, consumerId: null, scopes: [], meta: null });
    }
  });

  it('a 10 kB key is MALFORMED (200), never hashed, looked up or echoed back', async () => {
    const response = await h.verify({ key: `kl_live_${'a'.repeat(10 * 1024)}` });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ valid: false, code: 'MALFORMED', keyId: null });
    expect(JSON.stringify(response.body)).not.toContain('a'.repeat(100));
  });

  it('a key past 16 kB is a 400 problem naming body.key, without echoing it', async () => {
    const response = await h.verify({ key: `kl_live_${'a'.repeat(17 * 1024)}` });
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(JSON.stringify(response.body)).toContain('body.key');
    expect(JSON.stringify(response.body)).not.toContain('a'.repeat(100));
  });

  it('NOT_FOUND: a well-formed key the ledger never issued', async () => {
    const response = await h.verify({ key: wellFormedKey() });
    expect(response.body).toMatchObject({ valid: false, code: 'NOT_FOUND', keyId: null });
  });

  it('REVOKED', async () => {
    const key = await h.issue();
    expect((await h.call('POST', `/v1/keys/${key.id}/revoke`, { reason: 'leaked' })).status).toBe(200);
    const response = await h.verify({ key: key.secret });
    expect(response.body).toMatchObject({ valid: false, code: 'REVOKED', keyId: key.id });
  });

  it('EXPIRED: past its expiresAt', async () => {
    const key = await h.issue({ expiresAt: new Date(Date.now() + 800).toISOString() });
    expect(await codeOf({ key: key.secret })).toBe('VALID');
    await sleep(1000);
    expect(await codeOf({ key: key.secret })).toBe('EXPIRED');
  });

  it('EXPIRED: a rotated key past its grace period; the successor is VALID', async () => {
    const key = await h.issue();
    const rotated = await h.call('POST', `/v1/keys/${key.id}/rotate`, { gracePeriodSeconds: 0 });
    expect(rotated.status).toBe(201);
    expect(await codeOf({ key: key.secret })).toBe('EXPIRED');
    expect(await codeOf({ key: rotated.body.successor.secret })).toBe('VALID');
  });

  it('a rotated key still inside its grace period is VALID and reports when it stops working', async () => {
    const key = await h.issue();
    const rotated = await h.call('POST', `/v1/keys/${key.id}/rotate`, { gracePeriodSeconds: 1 });
    const during = await h.verify({ key: key.secret });
    expect(during.body.code).toBe('VALID');
    expect(during.body.expiresAt).toBe(rotated.body.previous.validUntil);
    await sleep(1100);
    expect(await codeOf({ key: key.secret })).toBe('EXPIRED');
  });

  it('SUSPENDED, and VALID again once reinstated', async () => {
    const key = await h.issue();
    await h.call('POST', `/v1/keys/${key.id}/suspend`, {});
    expect(await codeOf({ key: key.secret })).toBe('SUSPENDED');
    await h.call('POST', `/v1/keys/${key.id}/reinstate`, {});
    expect(await codeOf({ key: key.secret })).toBe('VALID');
  });

  it('FORBIDDEN for a scope the key does not cover; wildcards cover', async () => {
    const key = await h.issue({ scopes: ['orders:*', 'users:read'] });
    expect(await codeOf({ key: key.secret, scopes: ['orders:write'] })).toBe('VALID');
    expect(await codeOf({ key: key.secret, scopes: ['users:read', 'orders:read'] })).toBe('VALID');
    expect(await codeOf({ key: key.secret, scopes: ['users:write'] })).toBe('FORBIDDEN');
    expect(await codeOf({ key: key.secret, scopes: ['users:read', 'billing:read'] })).toBe('FORBIDDEN');
  });

  it('FORBIDDEN for an endpoint outside the key\'s rules, and when no endpoint is given', async () => {
    const key = await h.issue({ endpoints: ['GET /orders/*', 'POST /orders'] });
    expect(await codeOf({ key: key.secret, endpoint: { method: 'GET', path: '/orders/42' } })).toBe('VALID');
    expect(await codeOf({ key: key.secret, endpoint: { method: 'post', path: '/orders' } })).toBe('VALID');
    expect(await codeOf({ key: key.secret, endpoint: { method: 'DELETE', path: '/orders/42' } })).toBe('FORBIDDEN');
    expect(await codeOf({ key: key.secret, endpoint: { method: 'GET', path: '/users/1' } })).toBe('FORBIDDEN');
    expect(await codeOf({ key: key.secret })).toBe('FORBIDDEN');
  });

  it('RATE_LIMITED after the burst, with Retry-After', async () => {
    const key = await h.issue({ rateLimit: { limit: 2, windowSeconds: 60 } });
    expect(await codeOf({ key: key.secret })).toBe('VALID');
    expect(await codeOf({ key: key.secret })).toBe('VALID');
    const limited = await h.verify({ key: key.secret });
    expect(limited.body).toMatchObject({ valid: false, code: 'RATE_LIMITED', keyId: key.id });
    expect(limited.body.limits.rate).toEqual({ limit: 2, remaining: 0, resetSeconds: 60 });
    expect(limited.headers['retry-after']).toBe('30');
  });

  it('QUOTA_EXCEEDED once the window\'s units are used', async () => {
    const key = await h.issue({ quota: { limit: 3, period: 'day' } });
    for (let i = 0; i < 3; i++) expect(await codeOf({ key: key.secret })).toBe('VALID');
    const over = await h.verify({ key: key.secret });
    expect(over.body).toMatchObject({ valid: false, code: 'QUOTA_EXCEEDED' });
    expect(over.body.limits.quota).toMatchObject({ limit: 3, remaining: 0, period: 'day' });
    const reset = Date.parse(over.body.limits.quota.resetAt);
    const expectedReset = new Date();
    expectedReset.setUTCHours(24, 0, 0, 0);
    expect(reset).toBe(expectedReset.getTime());
    expect(Number(over.headers['retry-after'])).toBe(Math.max(1, Math.ceil((reset - Date.now()) / 1000)));
  });
});

describe('verify: check order (format, existence, revoked, expired, suspended, scope, rate, quota)', () => {
  it('a revoked key over its rate limit answers REVOKED', async () => {
    const key = await h.issue({ rateLimit: { limit: 1, windowSeconds: 3600 } });
    await codeOf({ key: key.secret });
    expect(await codeOf({ key: key.secret })).toBe('RATE_LIMITED');
    await h.call('POST', `/v1/keys/${key.id}/revoke`, {});
    expect(await codeOf({ key: key.secret })).toBe('REVOKED');
  });

  it('revoked beats expired, suspended and forbidden', async () => {
    const key = await h.issue({ scopes: ['a:read'], expiresAt: new Date(Date.now() + 600).toISOString() });
    await h.call('POST', `/v1/keys/${key.id}/suspend`, {});
    await h.call('POST', `/v1/keys/${key.id}/revoke`, {});
    await sleep(700);
    expect(await codeOf({ key: key.secret, scopes: ['b:write'] })).toBe('REVOKED');
  });

  it('expired beats suspended and forbidden', async () => {
    const key = await h.issue({ scopes: ['a:read'], expiresAt: new Date(Date.now() + 600).toISOString() });
    await h.call('POST', `/v1/keys/${key.id}/suspend`, {});
    await sleep(700);
    expect(await codeOf({ key: key.secret, scopes: ['b:write'] })).toBe('EXPIRED');
  });

  it('suspended with a forbidden scope answers SUSPENDED', async () => {
    const key = await h.issue({ scopes: ['a:read'] });
    await h.call('POST', `/v1/keys/${key.id}/suspend`, {});
    expect(await codeOf({ key: key.secret, scopes: ['b:write'] })).toBe('SUSPENDED');
  });

  it('forbidden beats an exhausted rate limit and quota', async () => {
    const key = await h.issue({ scopes: ['a:read'], rateLimit: { limit: 1, windowSeconds: 3600 }, quota: { limit: 1, period: 'month' } });
    expect(await codeOf({ key: key.secret })).toBe('VALID');
    expect(await codeOf({ key: key.secret, scopes: ['b:write'] })).toBe('FORBIDDEN');
  });

  it('rate limited beats quota exceeded', async () => {
    const key = await h.issue({ rateLimit: { limit: 1, windowSeconds: 3600 }, quota: { limit: 1, period: 'month' } });
    expect(await codeOf({ key: key.secret })).toBe('VALID');
    expect(await codeOf({ key: key.secret })).toBe('RATE_LIMITED');
  });

  it('malformed beats everything; format is checked before the lookup', async () => {
    const key = await h.issue();
    await h.call('POST', `/v1/keys/${key.id}/revoke`, {});
    expect(await codeOf({ key: `${key.secret.slice(0, -1)}${key.secret.endsWith('0') ? '1' : '0'}` })).toBe('MALFORMED');
  });
});

describe('verify: charging', () => {
  it('a rejected check charges neither rate nor quota', async () => {
    const key = await h.issue({ scopes: ['a:read'], rateLimit: { limit: 5, windowSeconds: 3600 }, quota: { limit: 10, period: 'day' } });
    await codeOf({ key: key.secret });
    const before = await quotaOf(key.id);
    expect(before.rate?.remaining).toBe(4);
    expect(before.quota?.used).toBe(1);

    expect(await codeOf({ key: key.secret, scopes: ['b:write'] })).toBe('FORBIDDEN');
    await h.call('POST', `/v1/keys/${key.id}/suspend`, {});
    expect(await codeOf({ key: key.secret })).toBe('SUSPENDED');
    const after = await quotaOf(key.id);
    expect(after.rate?.remaining).toBe(before.rate?.remaining);
    expect(after.quota?.used).toBe(before.quota?.used);
  });

  it('RATE_LIMITED charges no quota units; QUOTA_EXCEEDED charges no rate', async () => {
    const rateBound = await h.issue({ rateLimit: { limit: 1, windowSeconds: 3600 }, quota: { limit: 100, period: 'day' } });
    await codeOf({ key: rateBound.secret });
    expect(await codeOf({ key: rateBound.secret, cost: 7 })).toBe('RATE_LIMITED');
    expect((await quotaOf(rateBound.id)).quota?.used).toBe(1);

    const quotaBound = await h.issue({ rateLimit: { limit: 10, windowSeconds: 3600 }, quota: { limit: 5, period: 'day' } });
    expect(await codeOf({ key: quotaBound.secret, cost: 4 })).toBe('VALID');
    const before = await quotaOf(quotaBound.id);
    expect(await codeOf({ key: quotaBound.secret, cost: 2 })).toBe('QUOTA_EXCEEDED');
    const after = await quotaOf(quotaBound.id);
    expect(after.rate?.remaining).toBe(before.rate?.remaining);
    expect(after.rate?.remaining).toBe(9);
    expect(after.quota?.used).toBe(4);
    // The unit that still fits is admitted.
    expect(await codeOf({ key: quotaBound.secret, cost: 1 })).toBe('VALID');
    expect((await quotaOf(quotaBound.id)).quota).toMatchObject({ used: 5, remaining: 0 });
  });

  it('cost consumes that many quota units and one rate call; cost 0 consumes no units', async () => {
    const key = await h.issue({ rateLimit: { limit: 10, windowSeconds: 60 }, quota: { limit: 100, period: 'hour' } });
    const response = await h.verify({ key: key.secret, cost: 25 });
    expect(response.body.limits.quota.remaining).toBe(75);
    expect(response.body.limits.rate.remaining).toBe(9);
    await h.verify({ key: key.secret, cost: 0 });
    expect(await quotaOf(key.id)).toMatchObject({ rate: { remaining: 8 }, quota: { used: 25, remaining: 75 } });
  });

  it('a bad cost is a 400 naming the field', async () => {
    const key = await h.issue();
    for (const cost of [-1, 1.5, 'two', 2_000_000]) {
      const response = await h.verify({ key: key.secret, cost });
      expect(response.status).toBe(400);
      expect(JSON.stringify(response.body)).toContain('body.cost');
    }
    const extra = await h.verify({ key: key.secret, admin: true });
    expect(extra.status).toBe(400);
  });
});

describe('verify: RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-11)', () => {
  it('policy and remaining for rate and quota, most restrictive first', async () => {
    const key = await h.issue({ rateLimit: { limit: 100, windowSeconds: 60, burst: 10 }, quota: { limit: 1000, period: 'hour' } });
    const response = await h.verify({ key: key.secret });
    expect(response.headers['ratelimit-policy']).toBe('"rate";q=100;w=60, "quota";q=1000;w=3600');
    const t = Math.ceil((Date.parse(response.body.limits.quota.resetAt) - Date.now()) / 1000);
    const match = /^"rate";r=9;t=1, "quota";r=999;t=(\d+)$/.exec(String(response.headers['ratelimit']));
    expect(match, String(response.headers['ratelimit'])).not.toBeNull();
    expect(Math.abs(Number(match![1]) - t)).toBeLessThanOrEqual(1);
    expect(response.headers['retry-after']).toBeUndefined();
  });

  it('a quota-only key: "quota" item only; Retry-After is the seconds to the window end', async () => {
    const key = await h.issue({ quota: { limit: 1, period: 'minute' } });
    const ok = await h.verify({ key: key.secret });
    expect(ok.headers['ratelimit-policy']).toBe('"quota";q=1;w=60');
    expect(String(ok.headers['ratelimit'])).toMatch(/^"quota";r=0;t=\d+$/);
    const over = await h.verify({ key: key.secret });
    expect(over.body.code).toBe('QUOTA_EXCEEDED');
    const t = Number(/t=(\d+)$/.exec(String(over.headers['ratelimit']))![1]);
    expect(t).toBeGreaterThanOrEqual(0);
    expect(t).toBeLessThanOrEqual(60);
    expect(over.headers['retry-after']).toBe(String(Math.max(1, t)));
  });

  it('no headers when a check before the limiter failed', async () => {
    const key = await h.issue({ scopes: ['a:read'], rateLimit: { limit: 5, windowSeconds: 60 } });
    const response = await h.verify({ key: key.secret, scopes: ['b:read'] });
    expect(response.body.code).toBe('FORBIDDEN');
    expect(response.headers['ratelimit-policy']).toBeUndefined();
    expect(response.headers['retry-after']).toBeUndefined();
  });
});

describe('verify: limits change and windows reset', () => {
  it('PUT /limits applies at once: a raised rate limit is not held back by the old window, a quota of 0 refuses, removal frees', async () => {
    const key = await h.issue({ rateLimit: { limit: 1, windowSeconds: 3600 } });
    expect(await codeOf({ key: key.secret })).toBe('VALID');
    expect(await codeOf({ key: key.secret })).toBe('RATE_LIMITED');
    const put = await h.call('PUT', `/v1/keys/${key.id}/limits`, { rateLimit: { limit: 1000, windowSeconds: 1 } });
    expect(put.status).toBe(200);
    // The old policy's hour-long lockout is gone: the debt is capped at one full burst of the new
    // policy (1 s at 1000/s), which recovers one call per millisecond.
    const capped = await h.verify({ key: key.secret });
    expect(capped.body.limits.rate).toEqual({ limit: 1000, remaining: 0, resetSeconds: 1 });
    await sleep(30);
    expect(await codeOf({ key: key.secret })).toBe('VALID');
    expect((await quotaOf(key.id)).rate!.remaining).toBeGreaterThan(10);

    await h.call('PUT', `/v1/keys/${key.id}/limits`, { rateLimit: null, quota: { limit: 0, period: 'day' } });
    const zero = await h.verify({ key: key.secret });
    expect(zero.body.code).toBe('QUOTA_EXCEEDED');
    expect(zero.body.limits.rate).toBeNull();
    await h.call('PUT', `/v1/keys/${key.id}/limits`, { quota: null });
    const free = await h.verify({ key: key.secret });
    expect(free.body).toMatchObject({ code: 'VALID', limits: { rate: null, quota: null } });
  });

  it('the rate limit recovers once its window has passed', async () => {
    const key = await h.issue({ rateLimit: { limit: 2, windowSeconds: 1 } });
    expect(await codeOf({ key: key.secret })).toBe('VALID');
    expect(await codeOf({ key: key.secret })).toBe('VALID');
    expect(await codeOf({ key: key.secret })).toBe('RATE_LIMITED');
    await sleep(1050);
    expect(await codeOf({ key: key.secret })).toBe('VALID');
    expect(await codeOf({ key: key.secret })).toBe('VALID');
    expect(await codeOf({ key: key.secret })).toBe('RATE_LIMITED');
  });
});

describe('verify: credentials', () => {
  it('401 without a credential, with a malformed one, or with an unknown one', async () => {
    const key = await h.issue();
    for (const auth of [null, 'garbage', wellFormedKey()]) {
      const response = await h.verify({ key: key.secret }, auth);
      expect(response.status).toBe(401);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.headers['www-authenticate']).toContain('Bearer');
    }
  });

  it('403 for a credential without keys:verify; 200 with it', async () => {
    const target = await h.issue();
    const reader = await h.issue({ permissions: ['keys:read'] });
    const gateway = await h.issue({ permissions: ['keys:verify'] });
    const denied = await h.verify({ key: target.secret }, reader.secret);
    expect(denied.status).toBe(403);
    expect(denied.body.detail).toContain('keys:verify');
    const allowed = await h.verify({ key: target.secret }, gateway.secret);
    expect(allowed.status).toBe(200);
    expect(allowed.body.code).toBe('VALID');
    // Revoking the gateway credential takes effect at once.
    await h.call('POST', `/v1/keys/${gateway.id}/revoke`, {});
    expect((await h.verify({ key: target.secret }, gateway.secret)).status).toBe(401);
  });
});

describe('verify: exactness under concurrency (memory limiter)', () => {
  it('200 concurrent verifies against a rate limit of 50 admit exactly 50', async () => {
    const key = await h.issue({ rateLimit: { limit: 50, windowSeconds: 3600 } });
    const responses = await Promise.all(Array.from({ length: 200 }, () => h.verify({ key: key.secret })));
    const codes = responses.map((r) => r.body.code as string);
    expect(codes.filter((c) => c === 'VALID')).toHaveLength(50);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(150);
  });

  it('200 concurrent verifies against a quota of 50 admit exactly 50', async () => {
    const key = await h.issue({ quota: { limit: 50, period: 'month' } });
    const responses = await Promise.all(Array.from({ length: 200 }, () => h.verify({ key: key.secret })));
    expect(responses.filter((r) => r.body.code === 'VALID')).toHaveLength(50);
    expect(responses.filter((r) => r.body.code === 'QUOTA_EXCEEDED')).toHaveLength(150);
    expect((await quotaOf(key.id)).quota).toMatchObject({ used: 50, remaining: 0 });
  });
});
