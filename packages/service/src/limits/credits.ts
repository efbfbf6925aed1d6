/**
 * Credit balance arithmetic, pure and integer: the stored state is the balance as of one refill
 * period (identified by its start); moving it to "now" applies every period boundary crossed since,
 * so refills need no timer and are exact however long a subject was idle. The Redis script mirrors
 * this file (credit_state in redis-scripts.ts); the contract tests check that both agree.
 */
import type { CreditPolicy, CreditRefill, QuotaPeriod } from './limiter.js';
import { quotaWindow } from './quota-window.js';

export interface CreditBalance {
  balance: number;
  /** Start of the refill period the balance is as of (epoch ms); 0 without a refill. */
  periodStartMs: number;
}

const PERIOD_MS: Record<Exclude<QuotaPeriod, 'month'>, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** A period's ordinal since the epoch: consecutive periods differ by exactly 1 (months included). */
export function periodIndex(period: QuotaPeriod, atMs: number): number {
  if (period === 'month') {
    const at = new Date(atMs);
    return at.getUTCFullYear() * 12 + at.getUTCMonth();
  }
  return Math.floor(atMs / PERIOD_MS[period]);
}

/** Balances stay exact integers (in JavaScript and in Lua's doubles): years of `add` refills saturate here. */
export const MAX_CREDIT_BALANCE = Number.MAX_SAFE_INTEGER;

/** The balance after crossing `crossed` (>= 0) refill boundaries. */
export function refilledBalance(balance: number, refill: CreditRefill, crossed: number): number {
  if (crossed <= 0) return balance;
  return refill.mode === 'reset' ? refill.amount : Math.min(MAX_CREDIT_BALANCE, balance + crossed * refill.amount);
}

/** Moves a stored balance to the refill period containing `nowMs` (never backwards). */
export function creditBalanceAt(stored: CreditBalance, refill: CreditRefill | null, nowMs: number): CreditBalance {
  if (refill === null) return stored.periodStartMs === 0 ? stored : { balance: stored.balance, periodStartMs: 0 };
  const crossed = periodIndex(refill.period, nowMs) - periodIndex(refill.period, stored.periodStartMs);
  if (crossed <= 0) return stored;
  return { balance: refilledBalance(stored.balance, refill, crossed), periodStartMs: quotaWindow(refill.period, nowMs).startMs };
}

/** The state of an account with no stored state: `initial` as of `sinceMs` (at most now), moved to now. */
export function openingCreditBalance(policy: CreditPolicy, nowMs: number): CreditBalance {
  const refill = policy.refill;
  if (refill === null) return { balance: policy.initial, periodStartMs: 0 };
  const sinceMs = policy.sinceMs === undefined || policy.sinceMs > nowMs ? nowMs : policy.sinceMs;
  return creditBalanceAt({ balance: policy.initial, periodStartMs: quotaWindow(refill.period, sinceMs).startMs }, refill, nowMs);
}

/** When the next refill happens (epoch ms), or null without a refill. */
export function nextRefillMs(refill: CreditRefill | null, nowMs: number): number | null {
  return refill === null ? null : quotaWindow(refill.period, nowMs).endMs;
}

/** Whether something dated `atMs` still belongs to the balance at `nowMs` (false: wiped by a reset since). */
export function survivesRefill(refill: CreditRefill | null, atMs: number, nowMs: number): boolean {
  if (refill === null || refill.mode === 'add') return true;
  return periodIndex(refill.period, atMs) >= periodIndex(refill.period, nowMs);
}
