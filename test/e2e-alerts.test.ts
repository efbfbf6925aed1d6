/**
 * Alerts as events, end to end with three instances sharing PostgreSQL and Redis: each threshold
 * crossing, expiring key and ending grace period is written exactly once between them (the ids
 * are deterministic), and closed usage windows reach a webhook as CloudEvents with a stable id.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from './support/eventually.js';
import { printFigures } from './support/figures.js';
import { call } from './support/http.js';
import { startService, type ServiceProcess } from './support/service-process.js';
import { createSchema, DATABASE_URL, REDIS_URL, skipWithoutPostgres, skipWithoutRedis, uniqueName } from './support/services.js';
import { type Receiver, startReceiver } from './support/webhook-receiver.js';

const started: ServiceProcess[] = [];
let hook: Receiver | undefined;
let dropSchema: (() => Promise<void>) | undefined;
const prefix = `${uniqueName('klalerts')}:`;
afterAll(async () => {
  for (const s of started) await s.stop();
  await hook?.stop();
  await dropSchema?.();
  if (REDIS_URL) {
    const redis = new Redis(REDIS_URL);
    const stale = await redis.keys(`${prefix}*`);
    if (stale.length > 0) await redis.del(...stale);
    await redis.quit();
  }
});

interface LedgerEvent {
  id: string;
  stream: string;
  type: string;
  data: Record<string, unknown>;
}

async function allEvents(svc: ServiceProcess, type: string): Promise<LedgerEvent[]> {
  return (await call(svc.url, svc.rootKey, 'GET', `/v1/events?type=${type}&limit=1000`)).body.events;
}

describe.skipIf(skipWithoutPostgres || skipWithoutRedis)('e2e alerts: three instances on PostgreSQL and Redis', () => {
  it('writes each threshold alert, expiry and grace-ending alert exactly once, and delivers closed usage windows as CloudEvents', async () => {
    const { schema, drop } = await createSchema('kl_e2e_alerts');
    dropSchema = drop;
    const env = {
      KEYLEDGER_DATABASE_URL: DATABASE_URL!,
      KEYLEDGER_DATABASE_SCHEMA: schema,
      KEYLEDGER_REDIS_URL: REDIS_URL!,
      KEYLEDGER_REDIS_PREFIX: prefix,
      KEYLEDGER_REDIS_TIMEOUT_MS: '1000',
      KEYLEDGER_SECRET: randomBytes(32).toString('hex'),
      KEYLEDGER_USAGE_FLUSH_SECONDS: '0.2',
      KEYLEDGER_ALERT_INTERVAL_SECONDS: '0.2',
      KEYLEDGER_ALERT_THRESHOLDS: '75,90,100',
      KEYLEDGER_USAGE_EXPORT_WINDOW_SECONDS: '1',
      KEYLEDGER_USAGE_EXPORT_DELAY_SECONDS: '1',
      KEYLEDGER_WEBHOOK_ALLOW_PRIVATE: 'true',
      KEYLEDGER_WEBHOOK_POLL_MS: '100',
    };
    const a = await startService({ env: { ...env, KEYLEDGER_INSTANCE_ID: 'alerts-a' } });
    started.push(a);
    for (const name of ['alerts-b', 'alerts-c']) started.push(await startService({ env: { ...env, KEYLEDGER_INSTANCE_ID: name }, rootKey: a.rootKey }));
    const instances = started;
    hook = await startReceiver();
    const endpoint = await call(a.url, a.rootKey, 'POST', '/v1/webhooks', { url: `${hook.url}/usage`, eventTypes: ['UsageWindowClosed'], format: 'cloudevents' });
    expect(endpoint.status).toBe(201);

    const issue = async (svc: ServiceProcess, body: Record<string, unknown>) => {
      const issued = await call(svc.url, svc.rootKey, 'POST', '/v1/keys', { consumerId: 'acme', scopes: ['orders:read'], ...body });
      expect(issued.status).toBe(201);
      return issued.body as { id: string; secret: string };
    };
    const quotaKey = await issue(a, { quota: { limit: 4, period: 'day' } });
    const expiring = await issue(instances[1]!, { expiresAt: new Date(Date.now() + 2 * 86_400_000).toISOString() });
    const rotating = await issue(instances[2]!, {});
    expect((await call(a.url, a.rootKey, 'POST', `/v1/keys/${rotating.id}/rotate`, { gracePeriodSeconds: 3600 })).status).toBe(201);
    for (const svc of instances) {
      await eventually('every instance knows the quota key', async () => (await call(svc.url, svc.rootKey, 'GET', `/v1/keys/${quotaKey.id}`)).status === 200);
    }
    // Four units across the three instances: 3/4 crosses 75 %, 4/4 crosses 90 % and 100 %.
    for (let i = 0; i < 4; i++) {
      expect((await call(instances[i % 3]!.url, a.rootKey, 'POST', '/v1/verify', { key: quotaKey.secret })).body.code).toBe('VALID');
    }
    await eventually('three quota alerts', async () => (await allEvents(a, 'QuotaThresholdCrossed')).length >= 3, 20_000);
    await eventually('the expiry alert', async () => (await allEvents(a, 'KeyExpiring')).length >= 1, 20_000);
    await eventually('the grace-ending alert', async () => (await allEvents(a, 'KeyRotationGraceEnding')).length >= 1, 20_000);
    await eventually('a closed usage window delivered', () => hook!.accepted().length >= 1, 20_000);
    // Many more rounds on every instance: nothing is written again.
    await new Promise((resolve) => setTimeout(resolve, 2000));

    const quota = await allEvents(a, 'QuotaThresholdCrossed');
    expect(quota.map((e) => e.data.percent).sort()).toEqual([100, 75, 90]);
    expect(quota.every((e) => e.data.keyId === quotaKey.id && e.data.consumerId === 'acme' && e.data.limit === 4)).toBe(true);
    const expiry = await allEvents(a, 'KeyExpiring');
    expect(expiry.map((e) => e.data.keyId)).toEqual([expiring.id]);
    const grace = await allEvents(a, 'KeyRotationGraceEnding');
    expect(grace.map((e) => e.data.keyId)).toEqual([rotating.id]);

    const windows = await allEvents(a, 'UsageWindowClosed');
    const perWindow = new Map<string, number>();
    for (const w of windows) perWindow.set(`${w.data.keyId}|${w.data.windowStart}`, (perWindow.get(`${w.data.keyId}|${w.data.windowStart}`) ?? 0) + 1);
    expect([...perWindow.values()].every((n) => n === 1)).toBe(true);
    expect(windows.reduce((sum, w) => sum + (w.data.units as number), 0)).toBe(4);
    await eventually('every closed window delivered', () => hook!.accepted().length >= windows.length, 20_000);
    const delivered = hook.accepted().map((r) => ({ contentType: r.headers['content-type'], event: JSON.parse(r.body) as Record<string, unknown> }));
    expect(delivered.every((d) => d.contentType === 'application/cloudevents+json')).toBe(true);
    expect(delivered.map((d) => d.event.id).sort()).toEqual(windows.map((w) => w.id).sort());
    expect(delivered[0]!.event).toMatchObject({ specversion: '1.0', source: 'keyledger', type: 'keyledger.UsageWindowClosed', subject: quotaKey.id });
    printFigures('alerts three instances', {
      quotaAlerts: quota.length,
      expiryAlerts: expiry.length,
      graceAlerts: grace.length,
      usageWindows: windows.length,
      cloudEvents: hook.received().length,
    });
  });
});
