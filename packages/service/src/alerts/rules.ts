/**
 * The alert rules, pure: given what the ledger says (usage, keys, pending approvals) and the time,
 * which alerts are due, each with the identity that makes it happen once. The deriver (I/O) turns
 * an identity into a deterministic event id: every instance that sees the same crossing writes the
 * same id to the same stream, and the store keeps the first (its duplicate-id replay rule).
 */
import type { QuotaPeriod } from '@keyledger/schemas';
import { deterministicUuid } from '../app/ids.js';

/** The installation's threshold percentages, sorted and distinct. */
export function parsePercents(text: string): number[] {
  const values = text.split(',').map((part) => part.trim()).filter(Boolean).map(Number);
  if (values.length === 0 || values.some((value) => !Number.isInteger(value) || value < 1 || value > 1000)) {
    throw new RangeError(`'${text}' is not a comma-separated list of whole percentages between 1 and 1000`);
  }
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Every percentage reached by `used` of `limit` (`used * 100 >= limit * percent`). */
export function crossedPercents(used: number, limit: number, percents: readonly number[]): number[] {
  if (limit <= 0) return [];
  return percents.filter((percent) => used * 100 >= limit * percent);
}

export const alertId = {
  quota: (keyId: string, level: string, period: QuotaPeriod, windowStart: string, percent: number) =>
    deterministicUuid('alert', 'quota', keyId, level, period, windowStart, String(percent)),
  credits: (keyId: string, level: string, periodStart: string | null, percent: number) =>
    deterministicUuid('alert', 'credits', keyId, level, periodStart ?? 'initial', String(percent)),
  expiring: (keyId: string, expiresAt: string) => deterministicUuid('alert', 'expiring', keyId, expiresAt),
  graceEnding: (keyId: string, validUntil: string) => deterministicUuid('alert', 'grace-ending', keyId, validUntil),
  approvalOverdue: (subject: string, id: string, pendingSince: string) => deterministicUuid('alert', 'approval-overdue', subject, id, pendingSince),
  usageWindow: (keyId: string, windowStart: string, windowSeconds: number) =>
    deterministicUuid('usage-window', keyId, windowStart, String(windowSeconds)),
};

export interface KeyTimes {
  id: string;
  revoked: boolean;
  expiresAt: string | null;
  rotatedTo: string | null;
  validUntil: string | null;
}

/** The key expires within `days` from now (and has not yet). */
export function expiringSoon(key: KeyTimes, nowMs: number, days: number): boolean {
  if (key.revoked || key.expiresAt === null) return false;
  const at = Date.parse(key.expiresAt);
  return at > nowMs && at - nowMs <= days * 86_400_000;
}

/** The rotated key stops working within `hours` from now (and has not yet). */
export function graceEndingSoon(key: KeyTimes, nowMs: number, hours: number): boolean {
  if (key.revoked || key.rotatedTo === null || key.validUntil === null) return false;
  const at = Date.parse(key.validUntil);
  return at > nowMs && at - nowMs <= hours * 3_600_000;
}

/** Waiting since `since` for longer than `hours`. */
export function overdue(since: string, nowMs: number, hours: number): boolean {
  return nowMs - Date.parse(since) > hours * 3_600_000;
}

/** The usage window of `windowSeconds` (aligned to the Unix epoch, so to UTC days when it divides one) containing `atMs`. */
export function usageWindowOf(atMs: number, windowSeconds: number): { startMs: number; endMs: number } {
  const length = windowSeconds * 1000;
  const startMs = Math.floor(atMs / length) * length;
  return { startMs, endMs: startMs + length };
}
