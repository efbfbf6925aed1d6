/**
 * Quota windows are UTC calendar windows: a quota of 1000/day resets at 00:00 UTC, a monthly one on
 * the 1st at 00:00 UTC. Fixed calendar windows are what people bill by; their boundary effect is
 * acceptable for quotas because the rate limit (GCRA) bounds bursts separately.
 */
import { InvalidLimitRequestError, type QuotaPeriod } from './limiter.js';

export interface QuotaWindow {
  /** Inclusive, epoch milliseconds. */
  startMs: number;
  /** Exclusive, epoch milliseconds. */
  endMs: number;
}

export const QUOTA_PERIODS: readonly QuotaPeriod[] = ['minute', 'hour', 'day', 'month'];

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

export function isQuotaPeriod(value: unknown): value is QuotaPeriod {
  return value === 'minute' || value === 'hour' || value === 'day' || value === 'month';
}

export function assertQuotaPeriod(value: unknown, field = 'quota.period'): asserts value is QuotaPeriod {
  if (!isQuotaPeriod(value)) {
    throw new InvalidLimitRequestError(field, `must be one of ${QUOTA_PERIODS.join(', ')}, got ${String(value)}`);
  }
}

function fixedWindow(lengthMs: number, atMs: number): QuotaWindow {
  const startMs = Math.floor(atMs / lengthMs) * lengthMs;
  return { startMs, endMs: startMs + lengthMs };
}

/** The window of `period` that contains the instant `atMs` (epoch milliseconds). */
export function quotaWindow(period: QuotaPeriod, atMs: number): QuotaWindow {
  switch (period) {
    case 'minute':
      return fixedWindow(MINUTE_MS, atMs);
    case 'hour':
      return fixedWindow(HOUR_MS, atMs);
    case 'day':
      return fixedWindow(DAY_MS, atMs);
    case 'month': {
      const at = new Date(atMs);
      const year = at.getUTCFullYear();
      const month = at.getUTCMonth();
      // Date.UTC rolls month 12 over into January of the next year.
      return { startMs: Date.UTC(year, month, 1), endMs: Date.UTC(year, month + 1, 1) };
    }
  }
}

/** Length of the window containing `atMs`, in whole seconds (28-31 days for a month). */
export function quotaWindowSeconds(period: QuotaPeriod, atMs: number): number {
  const window = quotaWindow(period, atMs);
  return Math.round((window.endMs - window.startMs) / 1000);
}
