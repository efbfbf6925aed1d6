/**
 * Counts verifications in memory per key per interval and appends them to the ledger as
 * `UsageRecorded` events on `usage-<keyId>`, so quotas and bills can be rebuilt from history.
 * A crash loses at most one interval of counts (documented). Event ids are derived from the
 * instance, key and interval, so a flush retried after an ambiguous failure is written once.
 */
import type { VerifyCode } from '@keyledger/schemas';
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

export const usageStream = (keyId: string) => `usage-${keyId}`;

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

  /** Appends one event per key (and quota window) with activity since the last flush. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushOnce());
    return this.#flushing;
  }

  async #flushOnce(): Promise<void> {
    const from = this.#from;
    const to = (this.options.now ?? (() => new Date()))();
    const batch = this.#pending;
    this.#pending = [];
    for (const [id, tally] of this.#tallies) batch.push(this.#event(id, tally, from, to));
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

  #event(id: string, tally: Tally, from: Date, to: Date): { stream: string; event: NewEvent } {
    return {
      stream: usageStream(tally.keyId),
      event: {
        id: deterministicUuid('usage', this.options.instanceId, id, from.toISOString()),
        type: 'UsageRecorded',
        data: {
          keyId: tally.keyId,
          from: from.toISOString(),
          to: to.toISOString(),
          counts: tally.counts,
          units: tally.units,
          quotaWindowStart: tally.quotaWindowStart,
          quotaPeriod: tally.quotaPeriod,
          instanceId: this.options.instanceId,
        },
        metadata: {
          schemaVersion: CURRENT_SCHEMA_VERSION.UsageRecorded,
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
