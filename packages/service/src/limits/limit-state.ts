/**
 * Builds the public decision shapes from the primitive numbers both limiter implementations compute,
 * so the memory and Redis limiters report identical states for identical inputs.
 */
import { usToSecondsCeil } from './gcra.js';
import type {
  CreditPolicy,
  CreditState,
  LimitDecision,
  LimitRefusal,
  NamedRateLimitPolicy,
  NamedRateState,
  QuotaPolicy,
  QuotaState,
  RateLimitPolicy,
  RateState,
} from './limiter.js';

/** Outcome codes shared with the Redis script: 0 allowed, 1 rate limited, 2 quota exceeded, 3 credits exhausted. */
export const OUTCOME_ALLOWED = 0;
export const OUTCOME_RATE_LIMITED = 1;
export const OUTCOME_QUOTA_EXCEEDED = 2;
export const OUTCOME_CREDITS_EXHAUSTED = 3;

const REFUSALS: readonly (LimitRefusal | undefined)[] = [undefined, 'RATE_LIMITED', 'QUOTA_EXCEEDED', 'CREDITS_EXHAUSTED'];

/** The name a quota of `quotas` goes by in `refusedBy` and in the RateLimit headers. */
export function quotaName(policy: QuotaPolicy): string {
  return `quota-${policy.period}`;
}

export const CREDITS_NAME = 'credits';

export function rateState(policy: RateLimitPolicy, remaining: number, resetUs: number, retryAfterUs: number): RateState {
  const state: RateState = {
    limit: policy.limit,
    remaining,
    resetSeconds: usToSecondsCeil(resetUs),
    windowSeconds: policy.windowSeconds,
  };
  // Retry-After must be at least 1 s: "0" would invite an immediate retry that is still rejected.
  if (retryAfterUs > 0) state.retryAfterSeconds = Math.max(1, usToSecondsCeil(retryAfterUs));
  return state;
}

export function namedRateState(policy: NamedRateLimitPolicy, remaining: number, resetUs: number, retryAfterUs: number): NamedRateState {
  const state = rateState(policy, remaining, resetUs, retryAfterUs) as NamedRateState;
  state.name = policy.name;
  return state;
}

export function creditState(policy: CreditPolicy, balance: number, refillAtMs: number | null): CreditState {
  return { balance, refillAt: refillAtMs === null ? null : new Date(refillAtMs), refill: policy.refill };
}

export function quotaState(policy: QuotaPolicy, used: number, startMs: number, endMs: number): QuotaState {
  return {
    limit: policy.limit,
    remaining: used >= policy.limit ? 0 : policy.limit - used,
    used,
    resetAt: new Date(endMs),
    period: policy.period,
    windowStart: new Date(startMs),
  };
}

export function decision(outcome: number, rate: RateState | undefined, quota: QuotaState | undefined): LimitDecision {
  const result: LimitDecision =
    outcome === OUTCOME_ALLOWED
      ? { allowed: true }
      : { allowed: false, code: REFUSALS[outcome] ?? 'RATE_LIMITED' };
  if (rate !== undefined) result.rate = rate;
  if (quota !== undefined) result.quota = quota;
  return result;
}
