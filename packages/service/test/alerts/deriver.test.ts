/**
 * The alert deriver against a real SQLite ledger and the real memory limiter: approval waits
 * projected from consumer and key request events, credit thresholds read from the limiter (the
 * plan hook's shape), quota thresholds only for open windows, and each alert written once even by
 * two derivers on one ledger, with nothing re-announced after a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlertDeriver, type AlertSettings, keyLevelThresholds, type ThresholdSources } from '../../src/alerts/deriver.js';
import type { KeyState } from '../../src/domain/keys/state.js';
import { createMemoryLimiter } from '../../src/limits/index.js';
import { createLogger } from '../../src/logging.js';
import type { EventStore, RecordedEvent } from '../../src/store/port.js';
import { openSqliteEventStore } from '../../src/store/sqlite/index.js';
import { meta } from '../projections/ledger.js';

const HOUR = 3_600_000;
const settings: AlertSettings = {
  intervalMs: 60_000,
  expiringWithinDays: 7,
  graceEndingWithinHours: 24,
  approvalOverdueHours: 24,
  usageWindowSeconds: 0,
  usageCloseDelayMs: 0,
};

const key = (id: string, overrides: Partial<KeyState> = {}): KeyState =>
  ({
    id,
    kind: 'consumer',
    consumerId: 'acme',
    planId: 'starter',
    name: null,
    environment: 'live',
    hint: 'kl_live_…abcd',
    scopes: [],
    endpoints: [],
    permissions: [],
    meta: {},
    expiresAt: null,
    rateLimit: null,
    quota: null,
    rotatedFrom: null,
    rotatedTo: null,
    validUntil: null,
    suspendedReason: null,
    revokedAt: null,
    revokedReason: null,
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    revision: 0,
    digest: 'ab'.repeat(32),
    suspended: false,
    revoked: false,
    ...overrides,
  }) as KeyState;

let dir: string;
let store: EventStore;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyledger-alerts-'));
  store = await openSqliteEventStore({ file: join(dir, 'ledger.db'), synchronous: 'NORMAL' });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function deriver(keys: KeyState[], thresholds: ThresholdSources = keyLevelThresholds([75, 90, 100]), limiter = createMemoryLimiter()) {
  const byId = new Map(keys.map((k) => [k.id, k]));
  return new AlertDeriver({
    store,
    keys: { getById: (id) => byId.get(id), all: () => byId.values() },
    limiter,
    thresholds,
    settings,
    logger: createLogger('silent'),
  });
}

async function derived(type: string): Promise<RecordedEvent[]> {
  return (await store.readAll({ types: [type], maxCount: 1000 })).events;
}

const usage = (keyId: string, units: number, at = new Date()) => ({
  type: 'UsageBatchRecorded',
  data: { from: at.toISOString(), to: new Date(at.getTime() + 1000).toISOString(), instanceId: 'node-1', windows: [], entries: [{ keyId, counts: { VALID: units }, units, window: null }] },
  metadata: meta(at.toISOString()),
});

describe('alert deriver', () => {
  it('given a consumer and a key request waiting 30 h, then one ApprovalOverdue each; a second deriver and a restart add none', async () => {
    const long = new Date(Date.now() - 30 * HOUR).toISOString();
    const recent = new Date(Date.now() - 2 * HOUR).toISOString();
    const registered = (consumerId: string, at: string) => ({
      type: 'ConsumerRegistered',
      data: { consumerId, name: consumerId, email: `${consumerId}@example.com`, organisation: null, intendedUse: null, externalId: null, allowedNetworks: [] },
      metadata: meta(at),
    });
    await store.appendToStream('consumer-waiting', [registered('waiting', long)]);
    await store.appendToStream('consumer-fresh', [registered('fresh', recent)]);
    await store.appendToStream('consumer-decided', [
      registered('decided', long),
      { type: 'ConsumerApproved', data: { consumerId: 'decided', reviewer: 'key_reviewer', reason: null }, metadata: meta(long) },
    ]);
    await store.appendToStream('keyrequest-kr_0123456789abcdefAB', [
      { type: 'KeyRequested', data: { requestId: 'kr_0123456789abcdefAB', consumerId: 'waiting', planId: 'pro', name: null, claimDigest: 'cd'.repeat(32) }, metadata: meta(long) },
    ]);
    const first = deriver([]);
    const second = deriver([]);
    await first.start();
    await second.start();
    // Catching up writes nothing by itself.
    expect(await derived('ApprovalOverdue')).toHaveLength(0);
    await Promise.all([first.tick(), second.tick()]);
    await first.tick();
    const overdue = await derived('ApprovalOverdue');
    expect(overdue.map((e) => (e.data as { subject: string }).subject).sort()).toEqual(['consumer', 'keyRequest']);
    expect(overdue.find((e) => (e.data as { subject: string }).subject === 'keyRequest')?.data).toMatchObject({ consumerId: 'waiting', planId: 'pro', requestId: 'kr_0123456789abcdefAB' });
    await first.stop();
    await second.stop();
    const restarted = deriver([]);
    await restarted.start();
    await restarted.tick();
    expect(await derived('ApprovalOverdue')).toHaveLength(2);
    await restarted.stop();
  });

  it('given credits 80 % spent (a plan-style credit source), then CreditThresholdCrossed at 75 only, once', async () => {
    const limiter = createMemoryLimiter();
    const credits = { initial: 10, refill: null };
    for (let i = 0; i < 8; i++) expect((await limiter.check({ subject: 'key_credits0000000000000', credits, cost: 1 })).allowed).toBe(true);
    const thresholds: ThresholdSources = { quotasOf: () => [], creditsOf: () => [{ level: 'plan', policy: credits, percents: [75, 90, 100] }] };
    const subject = deriver([key('key_credits0000000000000')], thresholds, limiter);
    await subject.start();
    await store.appendToStream('usage-batch-node-1', [usage('key_credits0000000000000', 8)]);
    await subject.tick();
    await subject.tick();
    const crossed = await derived('CreditThresholdCrossed');
    expect(crossed.map((e) => e.data)).toEqual([
      { keyId: 'key_credits0000000000000', consumerId: 'acme', planId: 'starter', level: 'plan', allotment: 10, balance: 2, periodStart: null, percent: 75 },
    ]);
    await subject.stop();
    await limiter.close();
  });

  it('given key-level quota usage, then thresholds of the open window only; an ended window is history', async () => {
    const quotaKey = key('key_quota000000000000000', { quota: { limit: 10, period: 'hour' } });
    await store.appendToStream('usage-batch-node-1', [usage(quotaKey.id, 9, new Date(Date.now() - 3 * HOUR))]);
    const subject = deriver([quotaKey]);
    await subject.start();
    await subject.tick();
    expect(await derived('QuotaThresholdCrossed')).toHaveLength(0);
    await store.appendToStream('usage-batch-node-1', [usage(quotaKey.id, 9)]);
    await subject.tick();
    const crossed = await derived('QuotaThresholdCrossed');
    expect(crossed.map((e) => (e.data as { percent: number }).percent)).toEqual([75, 90]);
    await subject.stop();
  });
});
