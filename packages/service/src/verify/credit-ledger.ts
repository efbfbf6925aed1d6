/**
 * Prepaid credits as the ledger knows them, for the limiter that keeps the balances:
 *
 * - top-ups (`KeyCreditsAdded`) are handed to the limiter once each, by event id (the limiter
 *   remembers top-up ids, so every instance handing the same top-up to one Redis adds it once);
 * - credits spent are the billed units of usage events; with the memory limiter (which forgets
 *   on restart) they are handed back at start, like quota usage: the whole total for `add` refills
 *   and credits without refill, the current refill window's units for `reset` refills.
 *
 * Per key on a plan it keeps the total and the current window of each calendar period (it cannot
 * know which refill period a later plan version will have), a few numbers per key.
 */
import { type Limiter, type CreditPolicy, type QuotaPeriod, quotaWindow } from '../limits/index.js';
import type { Projection } from '../projections/runner.js';
import type { SnapshotPart } from '../projections/snapshot-part.js';
import { occurredAtOf, type RecordedEvent } from '../store/port.js';
import { usageEntries } from './usage-projection.js';

const PERIODS: readonly QuotaPeriod[] = ['minute', 'hour', 'day', 'month'];

interface TopUp {
  id: string;
  amount: number;
  atMs: number;
}

/** [total, then start and units of the current minute, hour, day and month window]. */
type Spent = number[];

export interface CreditLedgerOptions {
  /** Whether usage of this key may spend credits (it is on a plan); only those keys are tracked. */
  onPlan(keyId: string): boolean;
}

export class CreditLedger implements Projection, SnapshotPart {
  readonly name = 'credit-ledger';
  readonly snapshotVersion = 1;
  #topUps = new Map<string, TopUp[]>();
  #spent = new Map<string, Spent>();
  #onTopUp: ((keyId: string, topUp: TopUp) => void) | undefined;

  constructor(private readonly options: CreditLedgerOptions) {}

  apply(event: RecordedEvent): void {
    if (event.type === 'KeyCreditsAdded') {
      const { keyId, amount } = event.data as { keyId: string; amount: number };
      const topUp = { id: event.id, amount, atMs: Date.parse(occurredAtOf(event)) };
      const list = this.#topUps.get(keyId) ?? [];
      list.push(topUp);
      this.#topUps.set(keyId, list);
      this.#onTopUp?.(keyId, topUp);
      return;
    }
    if (event.type !== 'UsageRecorded' && event.type !== 'UsageBatchRecorded') return;
    for (const entry of usageEntries(event)) {
      if (entry.units === 0 || !this.options.onPlan(entry.keyId)) continue;
      const atMs = Date.parse(entry.from);
      if (Number.isNaN(atMs)) continue;
      const spent = this.#spent.get(entry.keyId) ?? [0, -1, 0, -1, 0, -1, 0, -1, 0];
      spent[0]! += entry.units;
      PERIODS.forEach((period, i) => {
        const start = quotaWindow(period, atMs).startMs;
        if (spent[1 + 2 * i] === start) spent[2 + 2 * i]! += entry.units;
        else if (start > spent[1 + 2 * i]!) {
          spent[1 + 2 * i] = start;
          spent[2 + 2 * i] = entry.units;
        }
      });
      this.#spent.set(entry.keyId, spent);
    }
  }

  /** From now on every new top-up is handed over as it is applied (call once the limiter exists). */
  follow(onTopUp: (keyId: string, topUp: TopUp) => void): void {
    this.#onTopUp = onTopUp;
  }

  /**
   * Hands the ledger's credits to the limiter: every top-up (idempotent by id) and, for a limiter
   * that forgot (memory), the credits spent. Returns how many keys were restored.
   */
  async restoreInto(limiter: Limiter, policyOf: (keyId: string) => CreditPolicy | undefined, nowMs: number, options: { spent: boolean }): Promise<number> {
    const keys = new Set([...this.#topUps.keys(), ...(options.spent ? this.#spent.keys() : [])]);
    let restored = 0;
    for (const keyId of keys) {
      const credits = policyOf(keyId);
      if (!credits) continue;
      for (const topUp of this.#topUps.get(keyId) ?? []) {
        await limiter.addCredits({ subject: keyId, credits, amount: topUp.amount, topUpId: topUp.id, at: new Date(topUp.atMs) });
      }
      const spent = options.spent ? this.#spent.get(keyId) : undefined;
      if (spent) {
        const refill = credits.refill;
        if (refill === null || refill.mode === 'add') {
          if (spent[0]! > 0) await limiter.restoreCredits({ subject: keyId, credits, spent: spent[0]!, windowStart: new Date(nowMs) });
        } else {
          const i = PERIODS.indexOf(refill.period);
          const start = spent[1 + 2 * i]!;
          if (start === quotaWindow(refill.period, nowMs).startMs && spent[2 + 2 * i]! > 0) {
            await limiter.restoreCredits({ subject: keyId, credits, spent: spent[2 + 2 * i]!, windowStart: new Date(start) });
          }
        }
      }
      restored++;
    }
    return restored;
  }

  snapshot(): unknown {
    const sorted = <V>(map: Map<string, V>) => [...map.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
    return { topUps: sorted(this.#topUps), spent: sorted(this.#spent) };
  }

  encodeSnapshot(): Buffer {
    return Buffer.from(JSON.stringify({ topUps: [...this.#topUps], spent: [...this.#spent] }));
  }

  restoreSnapshot(data: Buffer): void {
    const parsed = JSON.parse(data.toString('utf8')) as { topUps?: unknown; spent?: unknown };
    if (!Array.isArray(parsed.topUps) || !Array.isArray(parsed.spent)) throw new Error('credit ledger snapshot is malformed');
    this.#topUps = new Map(parsed.topUps as [string, TopUp[]][]);
    this.#spent = new Map(parsed.spent as [string, Spent][]);
  }

  reset(): void {
    this.#topUps = new Map();
    this.#spent = new Map();
  }
}
