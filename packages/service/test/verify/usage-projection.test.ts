import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../src/store/port.js';
import { QuotaUsageProjection, usageBuckets, usageEntries } from '../../src/verify/usage-projection.js';

let position = 0;
const recorded = (type: string, data: unknown): RecordedEvent => ({
  id: `00000000-0000-4000-8000-${String(++position).padStart(12, '0')}`,
  stream: 'usage-x',
  category: 'usage',
  revision: 0,
  type,
  data,
  metadata: { schemaVersion: 1 },
  checkpoint: String(position),
  recordedAt: new Date(),
});

const perKey = (keyId: string, units: number, windowStart: string, to: string) =>
  recorded('UsageRecorded', { keyId, from: to, to, counts: { VALID: units }, units, quotaWindowStart: windowStart, quotaPeriod: 'day', instanceId: 'old' });

const batch = (to: string, entries: { keyId: string; units: number; window: number | null }[], windows = [{ period: 'day', start: to.slice(0, 10) + 'T00:00:00.000Z' }]) =>
  recorded('UsageBatchRecorded', { from: to, to, instanceId: 'i1', windows, entries: entries.map((e) => ({ ...e, counts: { VALID: e.units } })) });

class FakeLimiter {
  restored: [string, string, string, number][] = [];
  async restoreQuotaUsage(keyId: string, period: string, start: Date, units: number) {
    this.restored.push([keyId, period, start.toISOString(), units]);
  }
}

describe('quota usage projection', () => {
  it('given a per-key event and batches for the same window, when applied, then the window holds their sum', async () => {
    const usage = new QuotaUsageProjection();
    usage.apply(perKey('key_a', 3, '2030-06-01T00:00:00.000Z', '2030-06-01T10:00:00.000Z'));
    usage.apply(batch('2030-06-01T11:00:00.000Z', [{ keyId: 'key_a', units: 4, window: 0 }, { keyId: 'key_b', units: 1, window: null }]));
    const limiter = new FakeLimiter();
    await usage.restoreInto(limiter as never, Date.parse('2030-06-01T12:00:00.000Z'));
    expect(limiter.restored).toEqual([['key_a', 'day', '2030-06-01T00:00:00.000Z', 7]]);
  });

  it('given windows of yesterday, when the log reaches a usage event of today, then they are compacted away', () => {
    const usage = new QuotaUsageProjection();
    usage.apply(batch('2030-06-01T23:59:50.000Z', [{ keyId: 'key_a', units: 4, window: 0 }, { keyId: 'key_b', units: 2, window: 0 }]));
    expect(usage.openWindows).toBe(2);
    usage.apply(batch('2030-06-02T00:00:10.000Z', [{ keyId: 'key_b', units: 1, window: 0 }]));
    expect(usage.snapshot()).toEqual([['key_b|day|' + Date.parse('2030-06-02T00:00:00.000Z'), expect.objectContaining({ units: 1 })]]);
  });

  it('given a batch whose window index is malformed, when applied, then it throws and leaves the model unchanged (the runner parks it)', () => {
    const usage = new QuotaUsageProjection();
    usage.apply(batch('2030-06-01T10:00:00.000Z', [{ keyId: 'key_a', units: 4, window: 0 }]));
    const before = usage.snapshot();
    expect(() => usage.apply(batch('2030-06-01T11:00:00.000Z', [{ keyId: 'key_a', units: 1, window: 0 }], [{ period: 'day', start: 'not a date' }]))).toThrow(/not an instant/);
    expect(usage.snapshot()).toEqual(before);
  });

  it('given a model, when snapshotted and restored into a fresh one, then both hold the same windows', () => {
    const usage = new QuotaUsageProjection();
    usage.apply(batch('2030-06-01T10:00:00.000Z', [{ keyId: 'key_a', units: 4, window: 0 }, { keyId: 'key_c', units: 9, window: 0 }]));
    const copy = new QuotaUsageProjection();
    copy.restoreSnapshot(usage.encodeSnapshot());
    expect(copy.snapshot()).toEqual(usage.snapshot());
    expect(() => copy.restoreSnapshot(Buffer.from('{"not":"rows"}'))).toThrow(/not an array/);
  });
});

describe('usage entries and buckets', () => {
  it('given old per-key events and new batches, when a key is bucketed, then both count and other keys do not', () => {
    const events = [
      perKey('key_a', 3, '2030-06-01T00:00:00.000Z', '2030-06-01T10:00:00.000Z'),
      batch('2030-06-01T10:30:00.000Z', [{ keyId: 'key_a', units: 2, window: 0 }, { keyId: 'key_b', units: 5, window: 0 }]),
    ];
    const mine = events.flatMap(usageEntries).filter((e) => e.keyId === 'key_a');
    expect(usageBuckets(mine, 'day', 0, Number.MAX_SAFE_INTEGER)).toEqual([{ start: '2030-06-01T00:00:00.000Z', counts: { VALID: 5 }, units: 5 }]);
    expect(usageEntries(recorded('KeyRevoked', { keyId: 'key_a' }))).toEqual([]);
  });
});
