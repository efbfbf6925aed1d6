/**
 * Usage reports replayed from the ledger: every usage event (UsageBatchRecorded, and the per-key
 * UsageRecorded of older versions) whose interval starts in the period, for the consumer's (or the
 * plan's) keys, priced with the plan version in force at each interval (domain/usage).
 *
 * A period is reported final only once it has ended and every instance has had time to flush the
 * usage it counted in it (`finalAfterMs` past the end): from then on the figures depend only on
 * events that are already in the ledger, so they are the same on every instance, after every
 * restart and every rebuild.
 */
import type { UsageReport } from '@keyledger/schemas';
import type { KeyState } from '../domain/keys/index.js';
import { type PlanState } from '../domain/plans/index.js';
import { buildUsageReport, parsePeriod, type ReportedKey, sumUsageReports, type UsageSlice } from '../domain/usage/usage-report.js';
import type { KeyProjection } from '../projections/key-projection.js';
import type { ConsumerReadModel, PlanReadModel } from '../projections/consumer-plan-projections.js';
import type { EventStore } from '../store/port.js';
import { usageEntries } from '../verify/usage-projection.js';
import { notFound } from './errors.js';

export interface UsageReportsOptions {
  store: EventStore;
  keys: KeyProjection;
  consumers: ConsumerReadModel;
  plans: PlanReadModel;
  /** Writes out the usage this instance has counted but not yet recorded. */
  flush(): Promise<void>;
  /** How long after a period's end its report becomes final (a few usage flush intervals). */
  finalAfterMs: number;
  now?: () => number;
}

const USAGE_TYPES = ['UsageBatchRecorded', 'UsageRecorded'];

export class UsageReports {
  constructor(private readonly options: UsageReportsOptions) {}

  async forConsumer(consumerId: string, periodText: string): Promise<UsageReport> {
    const period = parsePeriod(periodText);
    if (!this.options.consumers.get(consumerId)) throw notFound(`consumer ${consumerId} not found`);
    const keys = this.options.keys.list({ consumerId, limit: Number.MAX_SAFE_INTEGER }, new Date()).items;
    return this.#report(period, keys, { consumerId, planId: null });
  }

  async forPlan(planId: string, periodText: string): Promise<UsageReport> {
    const period = parsePeriod(periodText);
    if (!this.options.plans.get(planId)) throw notFound(`plan ${planId} not found`);
    const keys = this.options.keys.list({ planId, limit: Number.MAX_SAFE_INTEGER }, new Date()).items;
    // Each consumer owes its own flat fee and has its own included units: the plan's report is the
    // sum of its consumers' reports, not one bill for a pool of everybody's keys.
    const usage = await this.#usage(period, keys);
    const byConsumer = new Map<string, ReportedKey[]>();
    for (const key of usage.keys) {
      const list = byConsumer.get(key.consumerId);
      if (list) list.push(key);
      else byConsumer.set(key.consumerId, [key]);
    }
    const nowMs = this.#nowMs();
    const parts = [...byConsumer.values()].map((consumerKeys) =>
      buildUsageReport({ period, consumerId: null, planId, keys: consumerKeys, slices: usage.slices, plans: usage.plans, nowMs }),
    );
    return sumUsageReports(parts, { period, consumerId: null, planId, nowMs });
  }

  async #report(period: ReturnType<typeof parsePeriod>, keys: readonly KeyState[], subject: { consumerId: string | null; planId: string | null }): Promise<UsageReport> {
    const usage = await this.#usage(period, keys);
    return buildUsageReport({ period, ...subject, ...usage, nowMs: this.#nowMs() });
  }

  #nowMs(): number {
    return (this.options.now ?? Date.now)() - this.options.finalAfterMs;
  }

  /** The keys that existed in the period, their usage slices in it, and their plans. */
  async #usage(period: ReturnType<typeof parsePeriod>, keys: readonly KeyState[]): Promise<{ keys: ReportedKey[]; slices: UsageSlice[]; plans: Map<string, PlanState> }> {
    await this.options.flush();
    // Keys that existed at some point of the period (a key issued later, or revoked before, had no part in it).
    keys = keys.filter((key) => Date.parse(key.createdAt) < period.toMs && (key.revokedAt === null || Date.parse(key.revokedAt) >= period.fromMs));
    const wanted = new Set(keys.map((key) => key.id));
    const slices: UsageSlice[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.options.store.readAll({ ...(after === undefined ? {} : { after }), maxCount: 1000, types: USAGE_TYPES });
      for (const event of page.events) {
        for (const entry of usageEntries(event)) {
          if (!wanted.has(entry.keyId)) continue;
          const at = Date.parse(entry.from);
          if (at < period.fromMs || at >= period.toMs) continue;
          slices.push({ keyId: entry.keyId, from: entry.from, counts: entry.counts, units: entry.units });
        }
      }
      if (page.events.length === 0 || page.checkpoint === undefined) break;
      after = page.checkpoint;
    }
    const plans = new Map<string, PlanState>();
    for (const key of keys) {
      const plan = key.planId === null ? undefined : this.options.plans.get(key.planId);
      if (plan) plans.set(plan.id, plan);
    }
    const reported: ReportedKey[] = keys.map((key) => ({ keyId: key.id, consumerId: key.consumerId, planId: key.planId, createdAt: key.createdAt, revokedAt: key.revokedAt }));
    return { keys: reported, slices, plans };
  }
}
