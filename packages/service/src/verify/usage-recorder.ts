/**
 * Counts verifications in memory per key per interval and appends them to the ledger, so quotas
 * and bills can be rebuilt from history: one `UsageBatchRecorded` event per instance per flush
 * holding every active key's tallies (per-key events would be 100k events/s at 1M active keys).
 * A crash loses at most one interval of counts (documented). The event id is derived from the
 * instance and the interval, so a flush retried after an ambiguous failure is written once.
 */
import type { EventData, VerifyCode } from '@keyledger/schemas';
import { CURRENT_SCHEMA_VERSION } from '@keyledger/schemas';
import type { Logger } from 'pino';
import { deterministicUuid } from '../app/ids.js';
import type { EventStore, NewEvent } from '../store/port.js';

interface Tally {
  keyId: string;
  counts: Partial<Record<VerifyCode, number>>;
  units: number;
  quotaWindowStart: string | null;
  quotaPeriod: 'minute' | 'hour' | 'day' | 'month' | null;
}

/** Per-key usage stream of the versions before batches (still read, no longer written). */
export const usageStream = (keyId: string) => `usage-${keyId}`;
/**
 * Where one instance's usage batches go. Key ids start with `key_`, so this never meets a key's
 * stream; characters a stream name may not hold become `_` (two instances sharing a stream is
 * harmless: batches are appended with any revision).
 */
export const usageBatchStream = (instanceId: string) => `usage-batch-${instanceId.replace(/[^A-Za-z0-9_.:@-]/g, '_')}`;

export class UsageRecorder {
  #tallies = new Map<string, Tally>();
  #from = new Date();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #pending: { stream: string; event: NewEvent }[] = [];

  constructor(
    private readonly store: EventStore,
    private readonly options: { intervalMs: number; instanceId: string; logger: Logger; now?: () => Date },
  ) {}

  /** Hot path: one Map lookup and two additions. */
  record(keyId: string, code: VerifyCode, units: number, quota?: { windowStart: Date; period: Tally['quotaPeriod'] }): void {
    // Keyed by the window's epoch ms (a number) so the hot path formats no date; the ISO string
    // is made once, when the tally is created.
    const id = quota ? `${keyId}|${quota.windowStart.getTime()}` : keyId;
    let tally = this.#tallies.get(id);
    if (!tally) {
      const windowStart = quota ? quota.windowStart.toISOString() : null;
      tally = { keyId, counts: {}, units: 0, quotaWindowStart: windowStart, quotaPeriod: quota?.period ?? null };
      this.#tallies.set(id, tally);
    }
    tally.counts[code] = (tally.counts[code] ?? 0) + 1;
    tally.units += units;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.options.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  /** Appends one event holding every key (and quota window) with activity since the last flush. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushOnce());
    return this.#flushing;
  }

  async #flushOnce(): Promise<void> {
    const from = this.#from;
    const to = (this.options.now ?? (() => new Date()))();
    const batch = this.#pending;
    this.#pending = [];
    if (this.#tallies.size > 0) batch.push(this.#event(this.#tallies, from, to));
    this.#tallies = new Map();
    this.#from = to;
    for (const item of batch) {
      try {
        await this.store.appendToStream(item.stream, [item.event]);
      } catch (error) {
        // Retried later with the same event id: if this append did commit, the retry is a no-op replay.
        this.options.logger.warn({ err: error, stream: item.stream }, 'usage flush failed; will retry');
        this.#pending.push(item);
      }
    }
  }

  #event(tallies: ReadonlyMap<string, Tally>, from: Date, to: Date): { stream: string; event: NewEvent } {
    const windows: EventData<'UsageBatchRecorded'>['windows'] = [];
    const windowIndex = new Map<string, number>();
    const entries: EventData<'UsageBatchRecorded'>['entries'] = [];
    for (const tally of tallies.values()) {
      let window: number | null = null;
      if (tally.quotaPeriod !== null && tally.quotaWindowStart !== null) {
        const id = `${tally.quotaPeriod}|${tally.quotaWindowStart}`;
        window = windowIndex.get(id) ?? null;
        if (window === null) {
          window = windows.length;
          windows.push({ period: tally.quotaPeriod, start: tally.quotaWindowStart });
          windowIndex.set(id, window);
        }
      }
      entries.push({ keyId: tally.keyId, counts: tally.counts, units: tally.units, window });
    }
    const data: EventData<'UsageBatchRecorded'> = {
      from: from.toISOString(),
      to: to.toISOString(),
      instanceId: this.options.instanceId,
      windows,
      entries,
    };
    return {
      stream: usageBatchStream(this.options.instanceId),
      event: {
        id: deterministicUuid('usage-batch', this.options.instanceId, from.toISOString()),
        type: 'UsageBatchRecorded',
        data,
        metadata: {
          schemaVersion: CURRENT_SCHEMA_VERSION.UsageBatchRecorded,
          actor: { kind: 'system', id: `usage:${this.options.instanceId}` },
          requestId: null,
          sourceAddress: null,
          occurredAt: to.toISOString(),
          correlationId: null,
          causationId: null,
        },
      },
    };
  }
}
