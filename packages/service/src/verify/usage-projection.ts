/**
 * Quota use per key and window, rebuilt from `UsageRecorded` events. With the memory limiter
 * this is how quota counters survive a restart: after catch-up, the units of every window that
 * is still open are handed back to the limiter once.
 */
import type { EventData } from '@keyledger/schemas';
import { type Limiter, quotaWindow } from '../limits/index.js';
import type { RecordedEvent } from '../store/port.js';
import type { Projection } from '../projections/runner.js';

type Usage = EventData<'UsageRecorded'>;

export class QuotaUsageProjection implements Projection {
  readonly name = 'quota-usage';
  /** `${keyId}|${period}|${windowStart}` -> units. */
  readonly #units = new Map<string, number>();

  apply(event: RecordedEvent): void {
    if (event.type !== 'UsageRecorded') return;
    const usage = event.data as Usage;
    if (usage.quotaWindowStart === null || usage.quotaPeriod === null || usage.units === 0) return;
    const id = `${usage.keyId}|${usage.quotaPeriod}|${usage.quotaWindowStart}`;
    this.#units.set(id, (this.#units.get(id) ?? 0) + usage.units);
  }

  /** Hands the units of still-open windows to the limiter; returns how many windows were restored. */
  async restoreInto(limiter: Limiter, nowMs: number): Promise<number> {
    let restored = 0;
    for (const [id, units] of this.#units) {
      const [keyId, period, start] = id.split('|') as [string, Usage['quotaPeriod'] & string, string];
      const window = quotaWindow(period, Date.parse(start));
      if (window.endMs <= nowMs) {
        this.#units.delete(id);
        continue;
      }
      await limiter.restoreQuotaUsage(keyId, period, new Date(window.startMs), units);
      restored += 1;
    }
    return restored;
  }
}

/** Aggregates a key's usage events into buckets of a calendar granularity (UTC). */
export function usageBuckets(
  events: readonly RecordedEvent[],
  granularity: 'minute' | 'hour' | 'day' | 'month',
  fromMs: number,
  toMs: number,
): { start: string; counts: Record<string, number>; units: number }[] {
  const buckets = new Map<number, { counts: Record<string, number>; units: number }>();
  for (const event of events) {
    if (event.type !== 'UsageRecorded') continue;
    const usage = event.data as Usage;
    const at = Date.parse(usage.from);
    if (at < fromMs || at >= toMs) continue;
    const start = quotaWindow(granularity, at).startMs;
    let bucket = buckets.get(start);
    if (!bucket) {
      bucket = { counts: {}, units: 0 };
      buckets.set(start, bucket);
    }
    for (const [code, n] of Object.entries(usage.counts)) bucket.counts[code] = (bucket.counts[code] ?? 0) + (n ?? 0);
    bucket.units += usage.units;
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, bucket]) => ({ start: new Date(start).toISOString(), ...bucket }));
}
