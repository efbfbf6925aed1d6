/**
 * Response fields per IETF draft-ietf-httpapi-ratelimit-headers-11: two Structured Fields lists,
 *   RateLimit-Policy: "rate";q=100;w=60, "quota";q=1000;w=86400
 *   RateLimit: "rate";r=42;t=17
 * plus Retry-After (integer seconds, >= 1) when the call was not allowed.
 * The older RateLimit-Limit/-Remaining/-Reset trio (draft-06 and earlier) is deliberately not emitted.
 */
import type { LimitDecision, QuotaState, RateState } from './limiter.js';

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
  return `"${entry.name}";r=${entry.remaining};t=${entry.resetSeconds}`;
}

/** The one that runs out first (fewer remaining, then longer until reset) is listed first. */
function moreRestrictiveFirst(a: RemainingItem, b: RemainingItem): number {
  return a.remaining - b.remaining || b.resetSeconds - a.resetSeconds;
}

function retryAfterSeconds(decision: LimitDecision, rate: RateState | undefined, quotaReset: number | undefined): number {
  if (decision.code === 'QUOTA_EXCEEDED' && quotaReset !== undefined) return Math.max(1, quotaReset);
  return Math.max(1, Math.ceil(rate?.retryAfterSeconds ?? 1));
}

/** Formats the header fields for a decision; `nowMs` is the response time (quota `t` is relative to it). */
export function rateLimitHeaders(decision: LimitDecision, nowMs: number = Date.now()): RateLimitHeaderFields {
  const fields: RateLimitHeaderFields = {};
  const { rate, quota } = decision;
  const policies: string[] = [];
  const items: RemainingItem[] = [];
  if (rate !== undefined) {
    policies.push(`"${RATE_POLICY_NAME}";q=${rate.limit};w=${rate.windowSeconds}`);
    items.push({ name: RATE_POLICY_NAME, remaining: rate.remaining, resetSeconds: rate.resetSeconds });
  }
  let quotaReset: number | undefined;
  if (quota !== undefined) {
    quotaReset = secondsUntil(quota.resetAt, nowMs);
    policies.push(`"${QUOTA_POLICY_NAME}";q=${quota.limit};w=${quotaWindowLengthSeconds(quota)}`);
    items.push({ name: QUOTA_POLICY_NAME, remaining: quota.remaining, resetSeconds: quotaReset });
  }
  if (policies.length > 0) {
    fields['RateLimit-Policy'] = policies.join(', ');
    fields.RateLimit = items.sort(moreRestrictiveFirst).map(item).join(', ');
  }
  if (!decision.allowed) fields['Retry-After'] = String(retryAfterSeconds(decision, rate, quotaReset));
  return fields;
}
