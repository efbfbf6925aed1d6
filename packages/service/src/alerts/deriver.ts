/**
 * Derives alert events (and closed usage windows) from the ledger and writes each once.
 *
 * Every instance runs one. It follows the log itself (usage, consumer and key request events,
 * and the derived events already written, so it knows what was said) from the start, and only
 * after catching up does it write: a restart never re-announces history. What it writes has a
 * deterministic id (rules.ts `alertId`) in a per-subject stream, so three instances seeing the
 * same crossing write it once between them: the store answers the others' appends as replays.
 *
 * Thresholds come from `ThresholdSources`: the key's own quota and its plan's current quota and
 * credits (`planAwareThresholds`), with the installation's percentages. Usage is tracked per key
 * for whatever period a source names; credits are read from the limiter.
 */
import { type EventType, type PlanTerms, type QuotaPeriod, validateEventData } from '@keyledger/schemas';
import { creditPolicyOf } from '../verify/key-policy.js';
import type { Logger } from 'pino';
import { systemMetadata } from '../app/command-context.js';
import type { KeyState } from '../domain/keys/state.js';
import { type CreditPolicy, type Limiter, quotaWindow } from '../limits/index.js';
import { type EventStore, occurredAtOf, type RecordedEvent } from '../store/port.js';
import { usageEntries } from '../verify/usage-projection.js';
import { alertId, crossedPercents, expiringSoon, graceEndingSoon, overdue, usageWindowOf } from './rules.js';

export interface QuotaSource {
  level: 'key' | 'plan';
  limit: number;
  period: QuotaPeriod;
  percents: readonly number[];
}

export interface CreditSource {
  level: 'key' | 'plan';
  policy: CreditPolicy;
  percents: readonly number[];
}

export interface ThresholdSources {
  quotasOf(key: KeyState): QuotaSource[];
  creditsOf(key: KeyState): CreditSource[];
}

/** Key-level thresholds: the key's own quota; keys carry no credits of their own. */
export function keyLevelThresholds(percents: readonly number[]): ThresholdSources {
  return {
    quotasOf: (key) => (key.quota && key.quota.limit > 0 ? [{ level: 'key', limit: key.quota.limit, period: key.quota.period, percents }] : []),
    creditsOf: () => [],
  };
}

/**
 * Key- and plan-level thresholds: the key's own quota, and its plan's current quota and credits
 * (the balance the limiter keeps for the key under the plan), with the installation's percentages.
 */
export function planAwareThresholds(
  percents: readonly number[],
  planTermsOf: (key: KeyState) => Pick<PlanTerms, 'quota' | 'credits'> | undefined,
): ThresholdSources {
  const keyLevel = keyLevelThresholds(percents);
  return {
    quotasOf: (key) => {
      const sources = keyLevel.quotasOf(key);
      const quota = planTermsOf(key)?.quota;
      if (quota && quota.limit > 0) sources.push({ level: 'plan', limit: quota.limit, period: quota.period, percents });
      return sources;
    },
    creditsOf: (key) => {
      const policy = creditPolicyOf(key, planTermsOf(key)?.credits ?? null);
      return policy ? [{ level: 'plan', policy, percents }] : [];
    },
  };
}

export interface AlertSettings {
  intervalMs: number;
  expiringWithinDays: number;
  graceEndingWithinHours: number;
  approvalOverdueHours: number;
  /** Closed usage windows are written as UsageWindowClosed; 0 = off. */
  usageWindowSeconds: number;
  /** A window is closed this long after its end, so every instance's usage flush is in. */
  usageCloseDelayMs: number;
}

export interface AlertDeriverOptions {
  store: EventStore;
  keys: { getById(id: string): KeyState | undefined; all(): Iterable<KeyState> };
  limiter?: Pick<Limiter, 'peek'>;
  thresholds: ThresholdSources;
  settings: AlertSettings;
  logger: Logger;
  now?: () => number;
}

const FOLLOWED_TYPES: EventType[] = [
  'UsageRecorded',
  'UsageBatchRecorded',
  'ConsumerRegistered',
  'ConsumerApproved',
  'ConsumerRejected',
  'ConsumerClosed',
  'KeyRequested',
  'KeyRequestApproved',
  'KeyRequestRejected',
  'QuotaThresholdCrossed',
  'CreditThresholdCrossed',
  'KeyExpiring',
  'KeyRotationGraceEnding',
  'ApprovalOverdue',
  'UsageWindowClosed',
];

const DERIVED = new Set<string>(['QuotaThresholdCrossed', 'CreditThresholdCrossed', 'KeyExpiring', 'KeyRotationGraceEnding', 'ApprovalOverdue', 'UsageWindowClosed']);

interface Pending {
  subject: 'consumer' | 'keyRequest';
  consumerId: string;
  requestId: string | null;
  planId: string | null;
  since: string;
}

interface UsageWindow {
  keyId: string;
  startMs: number;
  endMs: number;
  counts: Record<string, number>;
  units: number;
}

/** Usage windows already closed are forgotten after this long (late usage for them is dropped). */
const CLOSED_MEMORY_MS = 2 * 86_400_000;

export const alertStream = (subject: string) => `alert-${subject}`;
export const usageWindowStream = (keyId: string) => `usagewindow-${keyId}`;

export class AlertDeriver {
  #checkpoint: string | undefined;
  #live = false;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> = Promise.resolve();
  /** Ids of derived events in the ledger (read) or written by this instance. */
  readonly #said = new Set<string>();
  /** keyId -> period -> units in its current window (bucketed by the usage's time). */
  readonly #usage = new Map<string, Map<QuotaPeriod, { startMs: number; units: number }>>();
  readonly #dirty = new Set<string>();
  readonly #pendingConsumers = new Map<string, Pending>();
  readonly #pendingRequests = new Map<string, Pending>();
  readonly #windows = new Map<string, UsageWindow>();
  /** Closed usage window id -> its end, for dropping late usage. */
  readonly #closedWindows = new Map<string, number>();
  readonly #now: () => number;

  constructor(private readonly options: AlertDeriverOptions) {
    this.#now = options.now ?? Date.now;
  }

  #stopped = false;
  #started: Promise<void> = Promise.resolve();

  /**
   * Catches up with the log (writing nothing), then ticks every interval. The service does not
   * wait for it: the catch-up reads every usage event, which on a long ledger takes a while.
   */
  start(): Promise<void> {
    this.#started = (async () => {
      for (;;) {
        try {
          await this.#catchUp();
          break;
        } catch (error) {
          if (this.#stopped) return;
          this.options.logger.warn({ err: error }, 'alert deriver could not read the ledger; retrying');
          await new Promise((resolve) => setTimeout(resolve, Math.min(this.options.settings.intervalMs, 5000)));
        }
      }
      if (this.#stopped) return;
      this.#live = true;
      this.#timer = setInterval(() => void this.tick(), this.options.settings.intervalMs);
      this.#timer.unref();
    })();
    return this.#started;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#started.catch(() => undefined);
    clearInterval(this.#timer);
    await this.#ticking.catch(() => undefined);
  }

  /** One round: read what is new, write what is due. Serialised. */
  tick(): Promise<void> {
    this.#ticking = this.#ticking.then(async () => {
      try {
        await this.#catchUp();
        if (this.#live) await this.#evaluate();
      } catch (error) {
        this.options.logger.warn({ err: error }, 'alert derivation failed; retrying next round');
      }
    });
    return this.#ticking;
  }

  async #catchUp(): Promise<void> {
    while (!this.#stopped) {
      const page = await this.options.store.readAll({ ...(this.#checkpoint ? { after: this.#checkpoint } : {}), types: FOLLOWED_TYPES, maxCount: 1000 });
      for (const event of page.events) this.#apply(event);
      if (page.checkpoint !== undefined) this.#checkpoint = page.checkpoint;
      if (page.events.length === 0) return;
    }
  }

  #apply(event: RecordedEvent): void {
    if (DERIVED.has(event.type)) {
      this.#said.add(event.id);
      if (event.type === 'UsageWindowClosed') {
        const data = event.data as { keyId: string; windowStart: string; windowEnd: string };
        const id = windowKey(data.keyId, Date.parse(data.windowStart));
        this.#windows.delete(id);
        this.#closedWindows.set(id, Date.parse(data.windowEnd));
      }
      return;
    }
    const at = occurredAtOf(event);
    const data = event.data as Record<string, unknown>;
    switch (event.type) {
      case 'ConsumerRegistered':
        this.#pendingConsumers.set(data.consumerId as string, { subject: 'consumer', consumerId: data.consumerId as string, requestId: null, planId: null, since: at });
        return;
      case 'ConsumerApproved':
      case 'ConsumerRejected':
      case 'ConsumerClosed':
        this.#pendingConsumers.delete(data.consumerId as string);
        return;
      case 'KeyRequested':
        this.#pendingRequests.set(data.requestId as string, {
          subject: 'keyRequest',
          consumerId: data.consumerId as string,
          requestId: data.requestId as string,
          planId: data.planId as string,
          since: at,
        });
        return;
      case 'KeyRequestApproved':
      case 'KeyRequestRejected':
        this.#pendingRequests.delete(data.requestId as string);
        return;
    }
    // Usage: per key and period for thresholds, per export window for closed usage windows.
    const windowSeconds = this.options.settings.usageWindowSeconds;
    for (const entry of usageEntries(event)) {
      const atMs = Date.parse(entry.from);
      if (entry.units > 0) {
        let periods = this.#usage.get(entry.keyId);
        if (!periods) this.#usage.set(entry.keyId, (periods = new Map()));
        for (const period of ['minute', 'hour', 'day', 'month'] as const) {
          const start = quotaWindow(period, atMs).startMs;
          const held = periods.get(period);
          if (!held || held.startMs < start) periods.set(period, { startMs: start, units: entry.units });
          else if (held.startMs === start) held.units += entry.units;
        }
        this.#dirty.add(entry.keyId);
      }
      if (windowSeconds > 0) {
        const { startMs, endMs } = usageWindowOf(atMs, windowSeconds);
        const id = windowKey(entry.keyId, startMs);
        if (this.#closedWindows.has(id) || endMs < this.#now() - CLOSED_MEMORY_MS) continue;
        let window = this.#windows.get(id);
        if (!window) this.#windows.set(id, (window = { keyId: entry.keyId, startMs, endMs, counts: {}, units: 0 }));
        for (const [code, n] of Object.entries(entry.counts)) window.counts[code] = (window.counts[code] ?? 0) + (n ?? 0);
        window.units += entry.units;
      }
    }
  }

  async #evaluate(): Promise<void> {
    const now = this.#now();
    const { settings } = this.options;
    // Thresholds of keys whose usage moved (after a start: all of them, once).
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    for (const keyId of dirty) {
      const key = this.options.keys.getById(keyId);
      if (!key) continue;
      await this.#quotaAlerts(key);
      await this.#creditAlerts(key, now);
    }
    for (const key of this.options.keys.all()) {
      if (expiringSoon(key, now, settings.expiringWithinDays) && key.expiresAt) {
        await this.#write(alertStream(key.id), alertId.expiring(key.id, key.expiresAt), 'KeyExpiring', {
          ...owner(key),
          expiresAt: key.expiresAt,
          withinDays: settings.expiringWithinDays,
        });
      }
      if (graceEndingSoon(key, now, settings.graceEndingWithinHours) && key.validUntil && key.rotatedTo) {
        await this.#write(alertStream(key.id), alertId.graceEnding(key.id, key.validUntil), 'KeyRotationGraceEnding', {
          ...owner(key),
          successorId: key.rotatedTo,
          validUntil: key.validUntil,
          withinHours: settings.graceEndingWithinHours,
        });
      }
    }
    for (const pending of [...this.#pendingConsumers.values(), ...this.#pendingRequests.values()]) {
      if (!overdue(pending.since, now, settings.approvalOverdueHours)) continue;
      const subjectId = pending.requestId ?? pending.consumerId;
      await this.#write(alertStream(subjectId), alertId.approvalOverdue(pending.subject, subjectId, pending.since), 'ApprovalOverdue', {
        subject: pending.subject,
        consumerId: pending.consumerId,
        requestId: pending.requestId,
        planId: pending.planId,
        pendingSince: pending.since,
        overdueHours: settings.approvalOverdueHours,
      });
    }
    if (settings.usageWindowSeconds > 0) await this.#closeWindows(now);
  }

  async #quotaAlerts(key: KeyState): Promise<void> {
    for (const source of this.options.thresholds.quotasOf(key)) {
      const held = this.#usage.get(key.id)?.get(source.period);
      // A window that has ended is history: its crossings were due then, not now.
      if (!held || quotaWindow(source.period, held.startMs).endMs <= this.#now()) continue;
      const windowStart = new Date(held.startMs).toISOString();
      for (const percent of crossedPercents(held.units, source.limit, source.percents)) {
        await this.#write(alertStream(key.id), alertId.quota(key.id, source.level, source.period, windowStart, percent), 'QuotaThresholdCrossed', {
          ...owner(key),
          level: source.level,
          period: source.period,
          windowStart,
          limit: source.limit,
          used: held.units,
          percent,
        });
      }
    }
  }

  async #creditAlerts(key: KeyState, now: number): Promise<void> {
    const limiter = this.options.limiter;
    if (!limiter) return;
    for (const source of this.options.thresholds.creditsOf(key)) {
      const decision = await limiter.peek({ subject: key.id, credits: source.policy });
      const balance = decision.credits?.balance;
      if (balance === undefined) continue;
      const refill = source.policy.refill;
      const allotment = refill ? refill.amount : source.policy.initial;
      if (allotment <= 0) continue;
      const periodStart = refill ? new Date(quotaWindow(refill.period, now).startMs).toISOString() : null;
      const spent = Math.max(0, allotment - balance);
      for (const percent of crossedPercents(spent, allotment, source.percents)) {
        await this.#write(alertStream(key.id), alertId.credits(key.id, source.level, periodStart, percent), 'CreditThresholdCrossed', {
          ...owner(key),
          level: source.level,
          allotment,
          balance,
          periodStart,
          percent,
        });
      }
    }
  }

  async #closeWindows(now: number): Promise<void> {
    const { usageWindowSeconds, usageCloseDelayMs } = this.options.settings;
    for (const [id, window] of this.#windows) {
      if (window.endMs + usageCloseDelayMs > now) continue;
      const key = this.options.keys.getById(window.keyId);
      const windowStart = new Date(window.startMs).toISOString();
      if (key) {
        const written = await this.#write(usageWindowStream(key.id), alertId.usageWindow(key.id, windowStart, usageWindowSeconds), 'UsageWindowClosed', {
          ...owner(key),
          windowStart,
          windowEnd: new Date(window.endMs).toISOString(),
          counts: window.counts,
          units: window.units,
        });
        if (!written) continue;
      }
      this.#windows.delete(id);
      this.#closedWindows.set(id, window.endMs);
    }
    for (const [id, endMs] of this.#closedWindows) if (endMs < now - CLOSED_MEMORY_MS) this.#closedWindows.delete(id);
  }

  /** Appends once by id; false when the append failed (retried next round). */
  async #write(stream: string, id: string, type: EventType, data: object): Promise<boolean> {
    if (this.#said.has(id)) return true;
    try {
      validateEventData(type, data);
      const result = await this.options.store.appendToStream(stream, [{ id, type, data, metadata: systemMetadata(type, 'alerts', new Date(this.#now())) }], {
        expectedRevision: 'any',
      });
      this.#said.add(id);
      if (!result.replayed) this.options.logger.info({ type, stream, eventId: id }, 'alert written');
      return true;
    } catch (error) {
      this.options.logger.warn({ err: error, type, stream }, 'alert not written; retrying next round');
      return false;
    }
  }
}

function windowKey(keyId: string, startMs: number): string {
  return `${keyId}|${startMs}`;
}

function owner(key: KeyState): { keyId: string; consumerId: string; planId: string | null } {
  return { keyId: key.id, consumerId: key.consumerId, planId: key.planId };
}
