/**
 * Usage in the ledger (one UsageBatchRecorded event per flush, bucketed by GET /usage), live quota
 * (GET /quota) and /metrics, through the real app on a SQLite file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore, RecordedEvent } from '../../src/store/port.js';
import { startHarness, wellFormedKey, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ KEYLEDGER_USAGE_FLUSH_SECONDS: '3600' });
});
afterAll(async () => {
  await h?.close();
});

const usageBatches = async (store: EventStore): Promise<RecordedEvent[]> => (await store.readAll({ types: ['UsageBatchRecorded'] })).events;

describe('usage in the ledger', () => {
  it('verifications are counted per key by outcome and appear in one UsageBatchRecorded event per flush; GET /usage buckets them', async () => {
    const key = await h.issue({ scopes: ['a:read'], quota: { limit: 100, period: 'day' } });
    for (let i = 0; i < 3; i++) await h.verify({ key: key.secret, cost: 2 });
    await h.verify({ key: key.secret, scopes: ['b:read'] });
    // Nothing is written before the flush interval (an hour here).
    expect(await usageBatches(h.service.store)).toHaveLength(0);

    const usage = await h.call('GET', `/v1/keys/${key.id}/usage?granularity=day`);
    expect(usage.status).toBe(200);
    const events = await usageBatches(h.service.store);
    // One flush, one event, however many keys were active.
    expect(events).toHaveLength(1);
    const counts: Record<string, number> = {};
    let units = 0;
    for (const event of events) {
      expect(event.stream).toMatch(/^usage-batch-/);
      const data = event.data as { entries: { keyId: string; counts: Record<string, number>; units: number; window: number | null }[]; windows: { period: string }[] };
      const mine = data.entries.filter((entry) => entry.keyId === key.id);
      expect(mine.length).toBeGreaterThan(0);
      for (const entry of mine) {
        for (const [code, n] of Object.entries(entry.counts)) counts[code] = (counts[code] ?? 0) + n;
        units += entry.units;
        if (entry.units > 0) expect(data.windows[entry.window as number]?.period).toBe('day');
      }
      // No key material in the ledger.
      expect(JSON.stringify(event)).not.toContain(key.secret);
    }
    expect(counts).toEqual({ VALID: 3, FORBIDDEN: 1 });
    expect(units).toBe(6);

    const today = new Date();
    today.setUTCHours(0, 0, 0, 0);
    expect(usage.body).toEqual({ keyId: key.id, granularity: 'day', buckets: [{ start: today.toISOString(), counts: { VALID: 3, FORBIDDEN: 1 }, units: 6 }] });

    const future = await h.call('GET', `/v1/keys/${key.id}/usage?from=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}`);
    expect(future.body.buckets).toEqual([]);
    expect((await h.call('GET', `/v1/keys/${key.id}/usage?granularity=week`)).status).toBe(400);
    expect((await h.call('GET', '/v1/keys/key_000000000000000000/usage')).status).toBe(404);
  });

  it('GET /quota shows live limits without charging; 404 for an unknown key', async () => {
    const key = await h.issue({ rateLimit: { limit: 10, windowSeconds: 60 }, quota: { limit: 50, period: 'month' } });
    await h.verify({ key: key.secret, cost: 5 });
    const first = await h.call('GET', `/v1/keys/${key.id}/quota`);
    const second = await h.call('GET', `/v1/keys/${key.id}/quota`);
    expect(first.body).toEqual(second.body);
    expect(first.body).toMatchObject({ keyId: key.id, rate: { limit: 10, remaining: 9 }, quota: { limit: 50, used: 5, remaining: 45, period: 'month' } });
    const free = await h.issue();
    expect((await h.call('GET', `/v1/keys/${free.id}/quota`)).body).toEqual({ keyId: free.id, rate: null, quota: null, rates: [], credits: null });
    expect((await h.call('GET', '/v1/keys/key_000000000000000000/quota')).status).toBe(404);
  });
});

describe('/metrics', () => {
  it('verifications by code, the latency histogram, projection lag and limiter errors; never a key', async () => {
    // As root (admin implies metrics:read): /metrics is not public on the main listener.
    const metric = async () => (await h.call('GET', '/metrics')).body as string;
    const count = (text: string, code: string) => Number(new RegExp(`keyledger_verifications_total\\{code="${code}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    const before = await metric();
    const key = await h.issue({ rateLimit: { limit: 1, windowSeconds: 60 } });
    const unknown = wellFormedKey();
    await h.verify({ key: key.secret });
    await h.verify({ key: key.secret });
    await h.verify({ key: unknown });
    const after = await metric();
    expect(count(after, 'VALID') - count(before, 'VALID')).toBe(1);
    expect(count(after, 'RATE_LIMITED') - count(before, 'RATE_LIMITED')).toBe(1);
    expect(count(after, 'NOT_FOUND') - count(before, 'NOT_FOUND')).toBe(1);
    expect(after).toMatch(/keyledger_verify_duration_seconds_bucket\{le="0\.001"\} \d+/);
    expect(after).toMatch(/keyledger_verify_duration_seconds_count \d+/);
    expect(after).toMatch(/keyledger_projection_lag_seconds \d/);
    expect(after).toMatch(/keyledger_limiter_errors_total 0/);
    for (const secret of [key.secret, unknown, h.rootKey]) expect(after).not.toContain(secret);
    expect(after).not.toContain(key.id);
  });
});
