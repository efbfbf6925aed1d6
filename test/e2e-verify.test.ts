/**
 * Verify across real service processes: quota use survives a restart on SQLite; three instances
 * sharing PostgreSQL and Redis admit exactly the limit; Redis down gives the configured answer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { startService, type ServiceProcess } from './support/service-process.js';
import { createSchema, DATABASE_URL, REDIS_URL, skipWithoutPostgres, skipWithoutRedis, uniqueName } from './support/services.js';

async function call(service: ServiceProcess, method: string, path: string, body?: unknown) {
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${service.rootKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text.startsWith('{') ? JSON.parse(text) : text };
}

async function issue(service: ServiceProcess, body: Record<string, unknown>) {
  const response = await call(service, 'POST', '/v1/keys', { consumerId: 'acme', ...body });
  expect(response.status).toBe(201);
  return { id: response.body.id as string, secret: response.body.secret as string };
}

const limiterErrors = async (service: ServiceProcess) =>
  Number(/keyledger_limiter_errors_total (\d+)/.exec((await call(service, 'GET', '/metrics')).body)?.[1] ?? NaN);

describe('e2e verify: SQLite restart', () => {
  const started: ServiceProcess[] = [];
  // Our own directory: startService deletes a temp dir it created when that process stops.
  const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-e2e-restart-'));
  afterAll(async () => {
    for (const s of started) await s.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('restores quota use after a restart (SIGTERM flushes usage to the ledger)', async () => {
    const env = { KEYLEDGER_USAGE_FLUSH_SECONDS: '0.2' };
    const first = await startService({ env, dataDir });
    started.push(first);
    const key = await issue(first, { quota: { limit: 10, period: 'day' } });
    for (let i = 0; i < 3; i++) expect((await call(first, 'POST', '/v1/verify', { key: key.secret, cost: 2 })).body.code).toBe('VALID');
    expect(await first.stop('SIGTERM')).toBe(0);

    const second = await startService({ env, dataDir, rootKey: first.rootKey });
    started.push(second);
    const quota = await call(second, 'GET', `/v1/keys/${key.id}/quota`);
    expect(quota.body.quota).toMatchObject({ used: 6, remaining: 4 });
    expect((await call(second, 'POST', '/v1/verify', { key: key.secret, cost: 4 })).body.code).toBe('VALID');
    expect((await call(second, 'POST', '/v1/verify', { key: key.secret, cost: 1 })).body.code).toBe('QUOTA_EXCEEDED');
  });
});

describe.skipIf(skipWithoutPostgres || skipWithoutRedis)('e2e verify: three instances sharing PostgreSQL and Redis (skipped: KEYLEDGER_TEST_DATABASE_URL or KEYLEDGER_TEST_REDIS_URL unset)', () => {
  const started: ServiceProcess[] = [];
  let dropSchema: (() => Promise<void>) | undefined;
  const prefix = `${uniqueName('kle2e')}:`;
  afterAll(async () => {
    for (const s of started) await s.stop();
    await dropSchema?.();
    const redis = new Redis(REDIS_URL!);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('200 concurrent verifies across three processes admit exactly 50 (rate limit and quota)', async () => {
    const { schema, drop } = await createSchema('kl_e2e_verify');
    dropSchema = drop;
    const env = { KEYLEDGER_DATABASE_URL: DATABASE_URL!, KEYLEDGER_DATABASE_SCHEMA: schema, KEYLEDGER_REDIS_URL: REDIS_URL!, KEYLEDGER_REDIS_PREFIX: prefix, KEYLEDGER_REDIS_TIMEOUT_MS: '1000' };
    const a = await startService({ env });
    started.push(a);
    const b = await startService({ env, rootKey: a.rootKey });
    started.push(b);
    const c = await startService({ env, rootKey: a.rootKey });
    started.push(c);
    const instances = [a, b, c];

    const rateKey = await issue(a, { rateLimit: { limit: 50, windowSeconds: 3600 } });
    const quotaKey = await issue(b, { quota: { limit: 50, period: 'month' } });
    // Every instance must know both keys before the burst (they learn through the ledger).
    for (const s of instances) {
      for (const k of [rateKey, quotaKey]) {
        for (let tries = 0; (await call(s, 'GET', `/v1/keys/${k.id}`)).status !== 200; tries++) {
          if (tries > 100) throw new Error('instance never saw the key');
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
    for (const [key, limitedCode] of [[rateKey, 'RATE_LIMITED'], [quotaKey, 'QUOTA_EXCEEDED']] as const) {
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) => call(instances[i % 3]!, 'POST', '/v1/verify', { key: key.secret })),
      );
      const codes = answers.map((r) => r.body.code);
      expect(codes.filter((code) => code === 'VALID')).toHaveLength(50);
      expect(codes.filter((code) => code === limitedCode)).toHaveLength(150);
    }
  });
});

describe('e2e verify: Redis unreachable', () => {
  const started: ServiceProcess[] = [];
  afterAll(async () => {
    for (const s of started) await s.stop();
  });
  const down = { KEYLEDGER_REDIS_URL: 'redis://127.0.0.1:1', KEYLEDGER_REDIS_TIMEOUT_MS: '100' };

  it('fails closed by default: a limited key is not VALID, quickly, and the error is counted; a key without limits is VALID', async () => {
    const service = await startService({ env: down });
    started.push(service);
    const limited = await issue(service, { rateLimit: { limit: 100, windowSeconds: 60 } });
    const free = await issue(service, {});
    const before = await limiterErrors(service);
    const t0 = Date.now();
    const answer = await call(service, 'POST', '/v1/verify', { key: limited.secret });
    const elapsed = Date.now() - t0;
    expect(answer.status).toBe(200);
    expect(answer.body.valid).toBe(false);
    expect(answer.body.code).toBe('RATE_LIMITED');
    expect(answer.headers.get('keyledger-limiter')).toBe('fail_closed');
    expect(answer.headers.get('retry-after')).toBe('1');
    // Bounded by the command timeout, not a hang (a generous bound, not a speed assertion).
    expect(elapsed).toBeLessThan(5000);
    expect(await limiterErrors(service)).toBeGreaterThan(before);
    expect(service.output()).toContain('limiter unavailable');
    expect((await call(service, 'POST', '/v1/verify', { key: free.secret })).body.code).toBe('VALID');
  });

  it('fails open with KEYLEDGER_LIMITER_FAILURE_MODE=open', async () => {
    const service = await startService({ env: { ...down, KEYLEDGER_LIMITER_FAILURE_MODE: 'open' } });
    started.push(service);
    const limited = await issue(service, { rateLimit: { limit: 1, windowSeconds: 60 }, quota: { limit: 1, period: 'day' } });
    const before = await limiterErrors(service);
    for (let i = 0; i < 3; i++) {
      const answer = await call(service, 'POST', '/v1/verify', { key: limited.secret });
      expect(answer.body.code).toBe('VALID');
      expect(answer.headers.get('keyledger-limiter')).toBe('fail_open');
    }
    expect(await limiterErrors(service)).toBeGreaterThanOrEqual(before + 3);
  });
});
