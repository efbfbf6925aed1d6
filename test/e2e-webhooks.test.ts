/**
 * Webhooks end to end: the built service delivering to real receiver processes on 127.0.0.1.
 * - a receiver that fails, then recovers, gets every event once after deduplication, in order,
 *   signed per Standard Webhooks (checked with the SDK's verifyWebhook);
 * - a receiver down past the limit gets its endpoint disabled; re-enabled, a replay from a
 *   checkpoint delivers the gap;
 * - PostgreSQL + Redis: two instances deliver each event once between them, and a kill -9 of the
 *   delivering instance loses no delivery.
 */
import { randomBytes } from 'node:crypto';
import { verifyWebhook } from '@keyledger/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from './support/eventually.js';
import { printFigures } from './support/figures.js';
import { call } from './support/http.js';
import { startService, type ServiceProcess } from './support/service-process.js';
import { Redis } from 'ioredis';
import { createSchema, DATABASE_URL, REDIS_URL, skipWithoutPostgres, skipWithoutRedis, uniqueName } from './support/services.js';
import { type Receiver, startReceiver } from './support/webhook-receiver.js';

const FAST = {
  KEYLEDGER_WEBHOOK_ALLOW_PRIVATE: 'true',
  KEYLEDGER_WEBHOOK_POLL_MS: '100',
  KEYLEDGER_WEBHOOK_RETRY_BASE_MS: '100',
  KEYLEDGER_WEBHOOK_RETRY_MAX_MS: '400',
  KEYLEDGER_WEBHOOK_TIMEOUT_MS: '1000',
  KEYLEDGER_WEBHOOK_LEASE_MS: '2000',
};

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function service(env: Record<string, string>, rootKey?: string): Promise<ServiceProcess> {
  const started = await startService({ env: { ...FAST, ...env }, ...(rootKey ? { rootKey } : {}) });
  cleanups.push(() => started.stop());
  return started;
}

async function receiver(options: Parameters<typeof startReceiver>[0] = {}): Promise<Receiver> {
  const started = await startReceiver(options);
  cleanups.push(() => started.stop());
  return started;
}

async function createHook(svc: ServiceProcess, url: string, eventTypes = ['Key*']): Promise<{ id: string; secret: string }> {
  const created = await call(svc.url, svc.rootKey, 'POST', '/v1/webhooks', { url: `${url}/hook`, eventTypes });
  expect(created.status).toBe(201);
  expect(created.body.secret).toMatch(/^whsec_/);
  return created.body;
}

async function issue(svc: ServiceProcess, consumerId = 'acme'): Promise<{ id: string; secret: string }> {
  const issued = await call(svc.url, svc.rootKey, 'POST', '/v1/keys', { consumerId, scopes: ['orders:read'] });
  expect(issued.status).toBe(201);
  return issued.body;
}

/** Every event of the ledger after `after` whose type starts with Key, in ledger order. */
async function keyEventsAfter(svc: ServiceProcess, after: string | null): Promise<{ id: string; checkpoint: string; type: string }[]> {
  const out: { id: string; checkpoint: string; type: string }[] = [];
  let cursor = after ?? '';
  for (;;) {
    const page = await call(svc.url, svc.rootKey, 'GET', `/v1/events?after=${encodeURIComponent(cursor)}&limit=1000`);
    expect(page.status).toBe(200);
    for (const event of page.body.events) if (event.type.startsWith('Key')) out.push(event);
    if (page.body.events.length === 0) return out;
    cursor = page.body.checkpoint;
  }
}

async function headCheckpoint(svc: ServiceProcess): Promise<string | null> {
  let cursor = '';
  for (;;) {
    const page = await call(svc.url, svc.rootKey, 'GET', `/v1/events?after=${encodeURIComponent(cursor)}&limit=1000`);
    if (page.body.events.length === 0) return cursor === '' ? null : cursor;
    cursor = page.body.checkpoint;
  }
}

describe('e2e webhooks: one SQLite instance', () => {
  it('a receiver that fails then recovers gets every event once after deduplication, in order, signed', async () => {
    const svc = await service({});
    const hook = await receiver({ mode: 'fail' });
    const before = await headCheckpoint(svc);
    const endpoint = await createHook(svc, hook.url);
    const keys = [];
    for (let i = 0; i < 4; i++) keys.push(await issue(svc));
    expect((await call(svc.url, svc.rootKey, 'POST', `/v1/keys/${keys[0]!.id}/suspend`, {})).status).toBe(200);
    await eventually('three failed attempts', () => hook.received().filter((r) => r.status === 500).length >= 3, 20_000);
    await hook.setMode('ok');
    const expected = (await keyEventsAfter(svc, before)).map((e) => e.id);
    expect(expected).toHaveLength(5);
    await eventually('every event delivered', () => hook.accepted().length >= expected.length, 20_000);
    const accepted = hook.accepted();
    expect(accepted.map((r) => r.headers['webhook-id'])).toEqual(expected);
    for (const delivery of accepted) {
      const event = verifyWebhook<{ id: string; type: string; stream: string; data: Record<string, unknown> }>(endpoint.secret, delivery.body, delivery.headers);
      expect(event.id).toBe(delivery.headers['webhook-id']);
      expect(event.stream).toMatch(/^key-/);
      // Only the public view: never the digest.
      expect(event.data).not.toHaveProperty('digest');
    }
    expect(() => verifyWebhook('whsec_' + randomBytes(32).toString('base64'), accepted[0]!.body, accepted[0]!.headers)).toThrow();
    const log = await call(svc.url, svc.rootKey, 'GET', `/v1/webhooks/${endpoint.id}/deliveries`);
    expect(log.status).toBe(200);
    const outcomes = log.body.items as { outcome: string; httpStatus: number | null; latencyMs: number; attempt: number }[];
    expect(outcomes.filter((o) => o.outcome === 'delivered')).toHaveLength(expected.length);
    expect(outcomes.some((o) => o.outcome === 'failed' && o.httpStatus === 500 && o.attempt >= 2)).toBe(true);
    expect(outcomes.every((o) => o.latencyMs >= 0)).toBe(true);
    printFigures('webhook fail-then-recover', {
      events: expected.length,
      requests: hook.received().length,
      failedAttempts: outcomes.filter((o) => o.outcome === 'failed').length,
    });
  });

  it('a receiver down past the limit gets the endpoint disabled; re-enabled, a replay from a checkpoint delivers the gap', async () => {
    const svc = await service({ KEYLEDGER_WEBHOOK_DISABLE_AFTER_SECONDS: '1.5' });
    const first = await receiver();
    const endpoint = await createHook(svc, first.url);
    await issue(svc);
    await eventually('the first event', () => first.accepted().length === 1, 20_000);
    const port = first.port;
    await first.stop();
    const gapStart = await headCheckpoint(svc);
    const gap = [await issue(svc), await issue(svc)];
    await eventually(
      'the endpoint disabled as failing',
      async () => {
        const read = await call(svc.url, svc.rootKey, 'GET', `/v1/webhooks/${endpoint.id}`);
        return read.body.status === 'disabled' && read.body.disabledCause === 'failing';
      },
      20_000,
    );
    const disabledEvents = await call(svc.url, svc.rootKey, 'GET', '/v1/events?type=WebhookEndpointDisabled');
    expect(disabledEvents.body.events).toHaveLength(1);
    const back = await receiver({ port });
    expect((await call(svc.url, svc.rootKey, 'POST', `/v1/webhooks/${endpoint.id}/enable`)).body.status).toBe('enabled');
    const after = await issue(svc);
    await eventually('the event after the enable', () => back.accepted().some((r) => r.body.includes(after.id)), 20_000);
    // The gap is not delivered by the enable: a disabled endpoint queues nothing.
    expect(back.accepted().some((r) => gap.some((key) => r.body.includes(key.id)))).toBe(false);
    const replay = await call(svc.url, svc.rootKey, 'POST', `/v1/webhooks/${endpoint.id}/replay`, { from: gapStart });
    expect(replay.status).toBe(200);
    await eventually('the gap replayed', () => gap.every((key) => back.accepted().some((r) => r.body.includes(`"keyId":"${key.id}"`))), 20_000);
    expect((await call(svc.url, svc.rootKey, 'POST', `/v1/webhooks/${endpoint.id}/replay`, { from: 'not-a-checkpoint' })).status).toBe(400);
  });

  it('filters by consumer (a key event naming only its key is matched through the key) and shows the secret again only to the same idempotent create', async () => {
    const svc = await service({});
    const hook = await receiver();
    const body = { url: `${hook.url}/beta`, eventTypes: ['Key*'], filters: { consumerIds: ['beta'] } };
    const headers = { 'idempotency-key': 'create-beta-hook' };
    const created = await call(svc.url, svc.rootKey, 'POST', '/v1/webhooks', body, { headers });
    expect(created.status).toBe(201);
    const repeated = await call(svc.url, svc.rootKey, 'POST', '/v1/webhooks', body, { headers });
    expect(repeated.status).toBe(200);
    expect(repeated.headers.get('idempotent-replayed')).toBe('true');
    expect(repeated.body).toMatchObject({ id: created.body.id, secret: created.body.secret });
    await issue(svc, 'acme');
    const beta = await issue(svc, 'beta');
    expect((await call(svc.url, svc.rootKey, 'POST', `/v1/keys/${beta.id}/suspend`, {})).status).toBe(200);
    await eventually('the beta events', () => hook.accepted().length >= 2, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const types = hook.accepted().map((r) => verifyWebhook<{ type: string; data: { keyId: string } }>(created.body.secret, r.body, r.headers));
    expect(types.map((e) => [e.type, e.data.keyId])).toEqual([
      ['KeyIssued', beta.id],
      ['KeySuspended', beta.id],
    ]);
  });

  it('refuses private targets unless allowed, and answers the API paths as documented', async () => {
    const svc = await service({ KEYLEDGER_WEBHOOK_ALLOW_PRIVATE: 'false' });
    const refused = await call(svc.url, svc.rootKey, 'POST', '/v1/webhooks', { url: 'http://127.0.0.1:9999/hook', eventTypes: ['Key*'] });
    expect(refused.status).toBe(400);
    expect((await call(svc.url, svc.rootKey, 'POST', '/v1/webhooks', { url: 'http://10.1.2.3/hook', eventTypes: ['Key*'] })).status).toBe(400);
    expect((await call(svc.url, svc.rootKey, 'POST', '/v1/webhooks', { url: 'http://[::1]:9999/hook', eventTypes: ['Key*'] })).status).toBe(400);
    const allowed = await service({});
    const created = await call(allowed.url, allowed.rootKey, 'POST', '/v1/webhooks', { url: 'http://127.0.0.1:9999/hook', eventTypes: ['Key*'] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.stringMatching(/^wh_/), secret: expect.stringMatching(/^whsec_/), status: 'enabled' });
    const list = await call(allowed.url, allowed.rootKey, 'GET', '/v1/webhooks');
    expect(list.body.items.map((e: { id: string }) => e.id)).toContain(created.body.id);
    expect(list.body.items[0]).not.toHaveProperty('secret');
    const read = await call(allowed.url, allowed.rootKey, 'GET', `/v1/webhooks/${created.body.id}`);
    expect(read.body).not.toHaveProperty('secret');
    expect((await call(allowed.url, allowed.rootKey, 'POST', `/v1/webhooks/${created.body.id}/disable`)).body.status).toBe('disabled');
    expect((await call(allowed.url, allowed.rootKey, 'DELETE', `/v1/webhooks/${created.body.id}`)).status).toBe(200);
    expect((await call(allowed.url, allowed.rootKey, 'GET', `/v1/webhooks/${created.body.id}`)).status).toBe(404);
    // The public event view of the endpoint's creation holds no secret material.
    const events = await call(allowed.url, allowed.rootKey, 'GET', '/v1/events?type=WebhookEndpointCreated');
    expect(events.body.events[0].data).not.toHaveProperty('secretSalt');
  });
});

/** Two or more instances on one fresh PostgreSQL schema and Redis prefix, sharing the server secret. */
async function cluster(names: string[], extra: Record<string, string> = {}): Promise<ServiceProcess[]> {
  const { schema, drop } = await createSchema('kl_e2e_hooks');
  const prefix = `${uniqueName('klhooks')}:`;
  cleanups.unshift(async () => {
    await drop();
    const redis = new Redis(REDIS_URL!);
    const stale = await redis.keys(`${prefix}*`);
    if (stale.length > 0) await redis.del(...stale);
    await redis.quit();
  });
  const env = {
    KEYLEDGER_DATABASE_URL: DATABASE_URL!,
    KEYLEDGER_DATABASE_SCHEMA: schema,
    KEYLEDGER_REDIS_URL: REDIS_URL!,
    KEYLEDGER_REDIS_PREFIX: prefix,
    KEYLEDGER_REDIS_TIMEOUT_MS: '1000',
    // Every instance derives the same signing secrets (and idempotent material) from it.
    KEYLEDGER_SECRET: randomBytes(32).toString('hex'),
    ...extra,
  };
  const first = await service({ ...env, KEYLEDGER_INSTANCE_ID: names[0]! });
  const rest = [];
  for (const name of names.slice(1)) rest.push(await service({ ...env, KEYLEDGER_INSTANCE_ID: name }, first.rootKey));
  return [first, ...rest];
}

describe.skipIf(skipWithoutPostgres || skipWithoutRedis)('e2e webhooks: several instances on PostgreSQL and Redis', () => {
  it('two instances deliver each event once between them', async () => {
    const [a, b] = (await cluster(['hook-a', 'hook-b'])) as [ServiceProcess, ServiceProcess];
    const hook = await receiver();
    const before = await headCheckpoint(a);
    const endpoint = await createHook(a, hook.url);
    for (let i = 0; i < 20; i++) await issue(i % 2 === 0 ? a : b);
    const expected = (await keyEventsAfter(a, before)).map((e) => e.id);
    expect(expected).toHaveLength(20);
    await eventually('every event delivered', () => hook.accepted().length >= expected.length, 30_000);
    // Give a second deliverer, if there were one, time to deliver again.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const requests = hook.received();
    expect(requests.map((r) => r.headers['webhook-id'])).toEqual(expected);
    const log = await call(b.url, b.rootKey, 'GET', `/v1/webhooks/${endpoint.id}/deliveries?limit=1000`);
    const deliverers = new Set((log.body.items as { instanceId: string }[]).map((item) => item.instanceId));
    printFigures('webhooks two instances', { events: expected.length, requests: requests.length, deliverers: [...deliverers].join('+') });
  });

  it('a kill -9 of the delivering instance loses no delivery', async () => {
    const [a, b] = (await cluster(['kill-a', 'kill-b'])) as [ServiceProcess, ServiceProcess];
    const hook = await receiver();
    const before = await headCheckpoint(a);
    const endpoint = await createHook(a, hook.url);
    for (let i = 0; i < 3; i++) await issue(a);
    await eventually('the first events delivered', () => hook.accepted().length >= 3, 30_000);
    const log = await call(a.url, a.rootKey, 'GET', `/v1/webhooks/${endpoint.id}/deliveries`);
    const holder = (log.body.items as { instanceId: string }[])[0]!.instanceId;
    const [victim, survivor] = holder === 'kill-a' ? [a, b] : [b, a];
    // Events keep being written while the deliverer dies mid-stream.
    const writing = (async () => {
      for (let i = 0; i < 10; i++) await issue(survivor);
    })();
    await eventually('a delivery after the writes began', () => hook.accepted().length >= 4, 30_000);
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    await writing;
    const expected = (await keyEventsAfter(survivor, before)).map((e) => e.id);
    expect(expected).toHaveLength(13);
    await eventually('every event delivered after the kill', () => hook.accepted().length >= expected.length, 30_000);
    expect(hook.accepted().map((r) => r.headers['webhook-id'])).toEqual(expected);
    const requests = hook.received().filter((r) => r.status < 300);
    printFigures('webhooks kill -9 of the deliverer', {
      killed: holder,
      events: expected.length,
      deliveries: requests.length,
      duplicates: requests.length - expected.length,
      takeoverMs: Math.max(0, (requests.at(-1)?.at ?? killedAt) - killedAt),
    });
  });
});
