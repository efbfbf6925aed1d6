/**
 * Quota use per key and open window, rebuilt from usage events (the batched
 * `UsageBatchRecorded` and the per-key `UsageRecorded` written before batches existed). With the
 * memory limiter this is how quota counters survive a restart: after catch-up, the units of
 * every window that is still open are handed back to the limiter once.
 *
 * Only open windows are kept: windows that ended before the newest usage event's interval are
 * dropped as the log moves on. Time comes from the events, never the wall clock, so a rebuild
 * from the log and a restore from a snapshot hold exactly the same windows.
 */
import type { EventData, QuotaPeriod } from '@keyledger/schemas';
import { type Limiter, quotaWindow } from '../limits/index.js';
import type { Projection } from '../projections/runner.js';
import type { SnapshotPart } from '../projections/snapshot-part.js';
import type { EventStore, RecordedEvent } from '../store/port.js';

type Usage = EventData<'UsageRecorded'>;
type Batch = EventData<'UsageBatchRecorded'>;

/** One key's verifications in one interval, whichever event type carried them. */
export interface UsageEntry {
  keyId: string;
  from: string;
  counts: Partial<Record<string, number>>;
  units: number;
  quota: { period: QuotaPeriod; windowStart: string } | null;
}

/** The per-key entries an event carries (none for other event types). */
export function usageEntries(event: Pick<RecordedEvent, 'type' | 'data'>): UsageEntry[] {
  if (event.type === 'UsageRecorded') {
    const usage = event.data as Usage;
    const quota = usage.quotaPeriod !== null && usage.quotaWindowStart !== null ? { period: usage.quotaPeriod, windowStart: usage.quotaWindowStart } : null;
    return [{ keyId: usage.keyId, from: usage.from, counts: usage.counts, units: usage.units, quota }];
  }
  if (event.type === 'UsageBatchRecorded') {
    const batch = event.data as Batch;
    return batch.entries.map((entry) => {
      const window = entry.window === null ? undefined : batch.windows[entry.window];
      return {
        keyId: entry.keyId,
        from: batch.from,
        counts: entry.counts,
        units: entry.units,
        quota: window ? { period: window.period, windowStart: window.start } : null,
      };
    });
  }
  return [];
}

interface OpenWindow {
  keyId: string;
  period: QuotaPeriod;
  startMs: number;
  endMs: number;
  units: number;
}

export const QUOTA_USAGE_SNAPSHOT_VERSION = 1;

export class QuotaUsageProjection implements Projection, SnapshotPart {
  readonly name = 'quota-usage';
  readonly snapshotVersion = QUOTA_USAGE_SNAPSHOT_VERSION;
  /** `${keyId}|${period}|${windowStartMs}` -> the window's units. */
  #windows = new Map<string, OpenWindow>();
  /** Earliest end among held windows: the next sweep is due once the log reaches it. */
  #earliestEndMs = Number.POSITIVE_INFINITY;

  apply(event: RecordedEvent): void {
    if (event.type !== 'UsageRecorded' && event.type !== 'UsageBatchRecorded') return;
    const entries = usageEntries(event);
    const intervalEnd = Date.parse((event.data as { to: string }).to);
    // Validate first, write after: a malformed event throws (and is parked) before changing anything.
    const additions: OpenWindow[] = [];
    for (const entry of entries) {
      if (entry.quota === null || entry.units === 0) continue;
      const startMs = Date.parse(entry.quota.windowStart);
      if (Number.isNaN(startMs)) throw new Error(`usage for ${entry.keyId}: window start '${entry.quota.windowStart}' is not an instant`);
      const window = quotaWindow(entry.quota.period, startMs);
      additions.push({ keyId: entry.keyId, period: entry.quota.period, startMs: window.startMs, endMs: window.endMs, units: entry.units });
    }
    for (const add of additions) {
      if (add.endMs <= intervalEnd) continue; // charged to a window that has closed already
      const id = `${add.keyId}|${add.period}|${add.startMs}`;
      const held = this.#windows.get(id);
      if (held) held.units += add.units;
      else {
        this.#windows.set(id, add);
        if (add.endMs < this.#earliestEndMs) this.#earliestEndMs = add.endMs;
      }
    }
    if (intervalEnd >= this.#earliestEndMs) this.#compact(intervalEnd);
  }

  /** Drops every window that ended at or before `nowMs` (the log's time). */
  #compact(nowMs: number): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (const [id, window] of this.#windows) {
      if (window.endMs <= nowMs) this.#windows.delete(id);
      else if (window.endMs < earliest) earliest = window.endMs;
    }
    this.#earliestEndMs = earliest;
  }

  /** Windows held, for tests and metrics. */
  get openWindows(): number {
    return this.#windows.size;
  }

  /** Hands the units of still-open windows to the limiter; returns how many windows were restored. */
  async restoreInto(limiter: Limiter, nowMs: number): Promise<number> {
    let restored = 0;
    for (const window of this.#windows.values()) {
      if (window.endMs <= nowMs) continue;
      await limiter.restoreQuotaUsage(window.keyId, window.period, new Date(window.startMs), window.units);
      restored += 1;
    }
    return restored;
  }

  /** A canonical dump, to prove a rebuild from the log equals a restore from a snapshot. */
  snapshot(): unknown {
    return [...this.#windows.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  }

  encodeSnapshot(): Buffer {
    const rows = [...this.#windows.values()].map((w) => [w.keyId, w.period, w.startMs, w.units]);
    return Buffer.from(JSON.stringify(rows), 'utf8');
  }

  restoreSnapshot(data: Buffer): void {
    const rows = JSON.parse(data.toString('utf8')) as unknown;
    if (!Array.isArray(rows)) throw new Error('quota usage snapshot is not an array');
    const windows = new Map<string, OpenWindow>();
    let earliest = Number.POSITIVE_INFINITY;
    for (const row of rows as unknown[]) {
      if (!Array.isArray(row) || row.length !== 4) throw new Error('quota usage snapshot row is malformed');
      const [keyId, period, startMs, units] = row as [string, QuotaPeriod, number, number];
      if (typeof keyId !== 'string' || typeof startMs !== 'number' || typeof units !== 'number') throw new Error('quota usage snapshot row is malformed');
      const window = quotaWindow(period, startMs);
      windows.set(`${keyId}|${period}|${window.startMs}`, { keyId, period, startMs: window.startMs, endMs: window.endMs, units });
      if (window.endMs < earliest) earliest = window.endMs;
    }
    this.#windows = windows;
    this.#earliestEndMs = earliest;
  }

  reset(): void {
    this.#windows = new Map();
    this.#earliestEndMs = Number.POSITIVE_INFINITY;
  }
}

/**
 * Every usage entry of one key: its own stream (per-key events of older versions) and the
 * batches that name it. Batches are found by a filtered scan of the log (O(usage events); see
 * the README's limits).
 */
export async function readKeyUsage(store: EventStore, keyId: string, usageStreamOf: (keyId: string) => string): Promise<UsageEntry[]> {
  const entries: UsageEntry[] = [];
  for (const event of await store.readStream(usageStreamOf(keyId))) entries.push(...usageEntries(event));
  let after: string | undefined;
  for (;;) {
    const page = await store.readAll({ ...(after === undefined ? {} : { after }), maxCount: 500, types: ['UsageBatchRecorded'] });
    for (const event of page.events) for (const entry of usageEntries(event)) if (entry.keyId === keyId) entries.push(entry);
    if (page.events.length === 0 || page.checkpoint === undefined) break;
    after = page.checkpoint;
  }
  return entries;
}

/** Aggregates a key's usage entries into buckets of a calendar granularity (UTC). */
export function usageBuckets(
  entries: readonly UsageEntry[],
  granularity: 'minute' | 'hour' | 'day' | 'month',
  fromMs: number,
  toMs: number,
): { start: string; counts: Record<string, number>; units: number }[] {
  const buckets = new Map<number, { counts: Record<string, number>; units: number }>();
  for (const entry of entries) {
    const at = Date.parse(entry.from);
    if (at < fromMs || at >= toMs) continue;
    const start = quotaWindow(granularity, at).startMs;
    let bucket = buckets.get(start);
    if (!bucket) {
      bucket = { counts: {}, units: 0 };
      buckets.set(start, bucket);
    }
    for (const [code, n] of Object.entries(entry.counts)) bucket.counts[code] = (bucket.counts[code] ?? 0) + (n ?? 0);
    bucket.units += entry.units;
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, bucket]) => ({ start: new Date(start).toISOString(), ...bucket }));
}
