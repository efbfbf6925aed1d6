/**
 * Response fields per IETF draft-ietf-httpapi-ratelimit-headers-11: two Structured Fields lists,
 *   RateLimit-Policy: "rate";q=100;w=60, "quota";q=1000;w=86400
 *   RateLimit: "rate";r=42;t=17
 * plus Retry-After (integer seconds, >= 1) when the call was not allowed.
 * Named rate limits go by their names, further quotas by `quota-<period>`, credits by `credits`:
 *   RateLimit-Policy: "burst";q=20;w=1, "sustained";q=5000;w=3600, "credits";q=1000;w=2592000
 *   RateLimit: "credits";r=12;t=86000, "burst";r=19;t=1, "sustained";r=4990;t=8
 * Credits have a policy item only with a refill (q = amount per period, w = the period's length)
 * and `t` only with a refill; an exhausted balance without a refill gets no Retry-After (waiting
 * does not help, a top-up does).
 * The older RateLimit-Limit/-Remaining/-Reset trio (draft-06 and earlier) is deliberately not emitted.
 */
import type { CreditState, LimitDecision, NamedRateState, QuotaState, RateState } from './limiter.js';
import { CREDITS_NAME, quotaName } from './limit-state.js';
import { quotaWindow } from './quota-window.js';

export interface RateLimitHeaderFields {
  'RateLimit-Policy'?: string;
  RateLimit?: string;
  'Retry-After'?: string;
}

const RATE_POLICY_NAME = 'rate';
const QUOTA_POLICY_NAME = 'quota';

interface RemainingItem {
  name: string;
  remaining: number;
  resetSeconds: number;
}

function secondsUntil(at: Date, nowMs: number): number {
  return Math.max(0, Math.ceil((at.getTime() - nowMs) / 1000));
}

function quotaWindowLengthSeconds(quota: QuotaState): number {
  // For a monthly quota this is the current month's length (28-31 days).
  return Math.round((quota.resetAt.getTime() - quota.windowStart.getTime()) / 1000);
}

function item(entry: RemainingItem): string {
  // resetSeconds -1: nothing resets it (credits without a refill), so no `t`.
  return entry.resetSeconds < 0 ? `"${entry.name}";r=${entry.remaining}` : `"${entry.name}";r=${entry.remaining};t=${entry.resetSeconds}`;
}

/** The one that runs out first (fewer remaining, then longer until reset) is listed first. */
function moreRestrictiveFirst(a: RemainingItem, b: RemainingItem): number {
  return a.remaining - b.remaining || resetOrder(b) - resetOrder(a);
}

/** A balance nothing resets (-1) lasts longest. */
function resetOrder(entry: RemainingItem): number {
  return entry.resetSeconds < 0 ? Number.MAX_SAFE_INTEGER : entry.resetSeconds;
}

function quotaReset(quotas: readonly QuotaState[] | undefined, name: string, nowMs: number): number | undefined {
  if (quotas === undefined) return undefined;
  for (const quota of quotas) if (quotaName(quota) === name) return secondsUntil(quota.resetAt, nowMs);
  return undefined;
}

function largestRetryAfter(rate: RateState | undefined, rates: readonly NamedRateState[] | undefined): number {
  // The call conforms again only once every refusing rate limit does.
  let seconds = rate?.retryAfterSeconds ?? 0;
  if (rates !== undefined) for (const named of rates) if (named.retryAfterSeconds !== undefined && named.retryAfterSeconds > seconds) seconds = named.retryAfterSeconds;
  return seconds;
}

/** Seconds for Retry-After, or undefined when waiting cannot help (credits without a refill). */
function retryAfterSeconds(decision: LimitDecision, singleQuotaReset: number | undefined, nowMs: number): number | undefined {
  switch (decision.code) {
    case 'QUOTA_EXCEEDED': {
      const reset = decision.refusedBy === undefined ? singleQuotaReset : quotaReset(decision.quotas, decision.refusedBy, nowMs);
      if (reset !== undefined) return Math.max(1, reset);
      break;
    }
    case 'CREDITS_EXHAUSTED': {
      const refillAt = decision.credits?.refillAt;
      if (decision.credits !== undefined && refillAt === null) return undefined;
      if (refillAt !== undefined && refillAt !== null) return Math.max(1, secondsUntil(refillAt, nowMs));
      break;
    }
    default:
      break;
  }
  return Math.max(1, Math.ceil(largestRetryAfter(decision.rate, decision.rates) || 1));
}

function creditPolicyItem(credits: CreditState): string | undefined {
  const refill = credits.refill;
  if (refill === null || credits.refillAt === null) return undefined;
  // The length of the refill period ending at refillAt (a month is 28-31 days).
  const endMs = credits.refillAt.getTime();
  const windowSeconds = Math.round((endMs - quotaWindow(refill.period, endMs - 1).startMs) / 1000);
  return `"${CREDITS_NAME}";q=${refill.amount};w=${windowSeconds}`;
}

/** Formats the header fields for a decision; `nowMs` is the response time (quota `t` is relative to it). */
export function rateLimitHeaders(decision: LimitDecision, nowMs: number = Date.now()): RateLimitHeaderFields {
  const fields: RateLimitHeaderFields = {};
  const { rate, quota, rates, quotas, credits } = decision;
  const policies: string[] = [];
  const items: RemainingItem[] = [];
  if (rate !== undefined) {
    policies.push(`"${RATE_POLICY_NAME}";q=${rate.limit};w=${rate.windowSeconds}`);
    items.push({ name: RATE_POLICY_NAME, remaining: rate.remaining, resetSeconds: rate.resetSeconds });
  }
  if (rates !== undefined) {
    for (const named of rates) {
      policies.push(`"${named.name}";q=${named.limit};w=${named.windowSeconds}`);
      items.push({ name: named.name, remaining: named.remaining, resetSeconds: named.resetSeconds });
    }
  }
  let singleQuotaReset: number | undefined;
  if (quota !== undefined) {
    singleQuotaReset = secondsUntil(quota.resetAt, nowMs);
    policies.push(`"${QUOTA_POLICY_NAME}";q=${quota.limit};w=${quotaWindowLengthSeconds(quota)}`);
    items.push({ name: QUOTA_POLICY_NAME, remaining: quota.remaining, resetSeconds: singleQuotaReset });
  }
  if (quotas !== undefined) {
    for (const extra of quotas) {
      const name = quotaName(extra);
      policies.push(`"${name}";q=${extra.limit};w=${quotaWindowLengthSeconds(extra)}`);
      items.push({ name, remaining: extra.remaining, resetSeconds: secondsUntil(extra.resetAt, nowMs) });
    }
  }
  if (credits !== undefined) {
    const policy = creditPolicyItem(credits);
    if (policy !== undefined) policies.push(policy);
    items.push({ name: CREDITS_NAME, remaining: credits.balance, resetSeconds: credits.refillAt === null ? -1 : secondsUntil(credits.refillAt, nowMs) });
  }
  if (items.length > 0) {
    if (policies.length > 0) fields['RateLimit-Policy'] = policies.join(', ');
    fields.RateLimit = items.sort(moreRestrictiveFirst).map(item).join(', ');
  }
  if (!decision.allowed) {
    const seconds = retryAfterSeconds(decision, singleQuotaReset, nowMs);
    if (seconds !== undefined) fields['Retry-After'] = String(seconds);
  }
  return fields;
}
