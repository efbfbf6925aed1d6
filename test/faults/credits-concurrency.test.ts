/**
 * Prepaid credits under concurrency, and idempotent charging across instances: three service
 * processes on one PostgreSQL schema and one Redis.
 *
 * - a key on a plan with 50 credits (no refill) gets 200 verifies at once, spread over the three
 *   instances: exactly 50 VALID and 150 CREDITS_EXHAUSTED, never a negative balance;
 * - a verify retried with the same chargeId on another instance answers the first outcome
 *   (`replayed: true`) and charges nothing again, also when the retries race each other, and the
 *   usage report counts each charge once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareLedgerCheckpoints } from '@keyledger/schemas';
import { printFigures } from '../support/figures.js';
import { call } from '../support/http.js';
import { type ServiceProcess, startService } from '../support/service-process.js';
import { createSchema, DATABASE_URL, REDIS_URL, skipWithoutPostgres, skipWithoutRedis, uniqueName } from '../support/services.js';
import { eventually } from '../support/eventually.js';

const skip = skipWithoutPostgres || skipWithoutRedis;

async function ok(service: ServiceProcess, method: string, path: string, body?: unknown): Promise<any> {
  const answer = await call(service.url, service.rootKey, method, path, body);
  if (answer.status >= 300) throw new Error(`${method} ${path} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

const checkpointOf = async (service: ServiceProcess) => (await call(service.url, service.rootKey, 'GET', '/v1/plans?limit=1')).headers.get('keyledger-checkpoint')!;

async function syncAll(from: ServiceProcess, services: readonly ServiceProcess[]): Promise<void> {
  const target = await checkpointOf(from);
  for (const service of services) {
    await eventually('every instance to apply the setup', async () => (compareLedgerCheckpoints(await checkpointOf(service), target) ?? -1) >= 0);
  }
}

describe.skipIf(skip)(skip ? 'credits under concurrency (SKIPPED: needs PostgreSQL and Redis)' : 'credits under concurrency (3 instances, PostgreSQL + Redis)', () => {
  let schema: Awaited<ReturnType<typeof createSchema>>;
  const services: ServiceProcess[] = [];
  let consumerId: string;

  const verify = (i: number, body: Record<string, unknown>) => call(services[i % services.length]!.url, services[0]!.rootKey, 'POST', '/v1/verify', body);

  const keyOnCredits = async (initial: number) => {
    const plan = await ok(services[0]!, 'POST', '/v1/plans', { name: `Prepaid ${initial}`, credits: { initial, refill: null }, scopes: ['orders:read'] });
    const key = await ok(services[0]!, 'POST', '/v1/keys', { consumerId, planId: plan.id });
    await syncAll(services[0]!, services);
    return { planId: plan.id as string, keyId: key.id as string, secret: key.secret as string };
  };

  beforeAll(async () => {
    schema = await createSchema('kl_fault_credits');
    const env = {
      KEYLEDGER_DATABASE_URL: DATABASE_URL!,
      KEYLEDGER_DATABASE_SCHEMA: schema.schema,
      KEYLEDGER_REDIS_URL: REDIS_URL!,
      KEYLEDGER_REDIS_PREFIX: `${uniqueName('kl_credits')}:`,
      // This trial is about atomic charging, not Redis outages: on a busy machine 200 calls at once
      // can take longer than the default 50 ms, and a timed-out check is answered fail-closed.
      KEYLEDGER_REDIS_TIMEOUT_MS: '5000',
    };
    services.push(await startService({ env }));
    services.push(...(await Promise.all([1, 2].map(() => startService({ env, rootKey: services[0]!.rootKey })))));
    const consumer = await ok(services[0]!, 'POST', '/v1/consumers', { name: 'Prepaid Co', email: 'billing@prepaid.test' });
    consumerId = consumer.id;
    await ok(services[0]!, 'POST', `/v1/consumers/${consumerId}/approve`, {});
  }, 60_000);

  afterAll(async () => {
    await Promise.all(services.map((service) => service.stop()));
    await schema?.drop();
  }, 60_000);

  it('200 concurrent verifies over 3 instances on a balance of 50: exactly 50 VALID, 150 CREDITS_EXHAUSTED', async () => {
    const { secret } = await keyOnCredits(50);
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => verify(i, { key: secret })));
    const codes: Record<string, number> = {};
    const byInstance = services.map(() => ({ VALID: 0, CREDITS_EXHAUSTED: 0 }) as Record<string, number>);
    const degraded = answers.filter((answer) => answer.headers.get('keyledger-limiter') !== null).length;
    expect(degraded).toBe(0);
    for (const [i, answer] of answers.entries()) {
      expect(answer.status).toBe(200);
      codes[answer.body.code] = (codes[answer.body.code] ?? 0) + 1;
      byInstance[i % services.length]![answer.body.code] = (byInstance[i % services.length]![answer.body.code] ?? 0) + 1;
      expect(answer.body.limits.credits, JSON.stringify(answer.body)).not.toBeNull();
      expect(answer.body.limits.credits.remaining).toBeGreaterThanOrEqual(0);
    }
    printFigures('credits 50 / 200 concurrent verifies / 3 instances', {
      valid: codes.VALID ?? 0,
      exhausted: codes.CREDITS_EXHAUSTED ?? 0,
      other: 200 - (codes.VALID ?? 0) - (codes.CREDITS_EXHAUSTED ?? 0),
      ...Object.fromEntries(byInstance.map((counts, i) => [`instance${i}`, `${counts.VALID} valid/${counts.CREDITS_EXHAUSTED} exhausted`])),
    });
    expect(codes).toEqual({ VALID: 50, CREDITS_EXHAUSTED: 150 });
    // The balance stays at zero afterwards, on every instance.
    for (let i = 0; i < services.length; i++) expect((await verify(i, { key: secret })).body).toMatchObject({ code: 'CREDITS_EXHAUSTED', limits: { credits: { remaining: 0 } } });
  });

  it('a verify retried with the same chargeId on another instance answers the first outcome and charges nothing twice', async () => {
    const { keyId, secret } = await keyOnCredits(5);
    const first = await verify(0, { key: secret, chargeId: 'order-1001' });
    expect(first.body).toMatchObject({ code: 'VALID', replayed: false, limits: { credits: { remaining: 4 } } });
    const retried = await verify(1, { key: secret, chargeId: 'order-1001' });
    expect(retried.body).toMatchObject({ code: 'VALID', replayed: true, limits: { credits: { remaining: 4 } } });

    // Racing retries of one charge on all three instances: one charge between them.
    const racing = await Promise.all(Array.from({ length: 30 }, (_, i) => verify(i, { key: secret, chargeId: 'order-1002' })));
    const charged = racing.filter((answer) => answer.body.code === 'VALID' && answer.body.replayed === false).length;
    const replayed = racing.filter((answer) => answer.body.code === 'VALID' && answer.body.replayed === true).length;
    expect({ charged, replayed }).toEqual({ charged: 1, replayed: 29 });
    expect(new Set(racing.map((answer) => answer.body.limits.credits.remaining))).toEqual(new Set([3]));

    // A fresh charge takes the next credit: nothing was charged for the replays.
    expect((await verify(2, { key: secret, chargeId: 'order-1003' })).body).toMatchObject({ code: 'VALID', replayed: false, limits: { credits: { remaining: 2 } } });
    expect((await verify(0, { key: secret })).body).toMatchObject({ code: 'VALID', limits: { credits: { remaining: 1 } } });
    expect((await verify(1, { key: secret })).body).toMatchObject({ code: 'VALID', limits: { credits: { remaining: 0 } } });

    // A refusal charged nothing and is not remembered (so a retry after a top-up or a rate window
    // can go through): its retry is refused the same way and charges nothing either.
    const refused = await verify(2, { key: secret, chargeId: 'order-1004' });
    expect(refused.body).toMatchObject({ code: 'CREDITS_EXHAUSTED', replayed: false, limits: { credits: { remaining: 0 } } });
    expect((await verify(0, { key: secret, chargeId: 'order-1004' })).body).toMatchObject({ code: 'CREDITS_EXHAUSTED', limits: { credits: { remaining: 0 } } });
    // The first charge replayed after the balance ran out still answers VALID: the outcome it had.
    expect((await verify(2, { key: secret, chargeId: 'order-1001' })).body).toMatchObject({ code: 'VALID', replayed: true });

    // The usage report counts the 5 charges once each (every instance flushes when asked).
    const period = new Date().toISOString().slice(0, 7);
    for (const service of services.slice(1)) await ok(service, 'GET', `/v1/consumers/${consumerId}/usage?period=${period}`);
    const report = await ok(services[0]!, 'GET', `/v1/consumers/${consumerId}/usage?period=${period}`);
    const row = report.byKey.find((entry: { keyId: string }) => entry.keyId === keyId);
    printFigures('chargeId replays across 3 instances', { charges: 5, racingRetries: 30, chargedByRace: charged, reportedUnits: row.units, reportedValid: row.verifications.VALID });
    expect(row.units).toBe(5);
  });
});
