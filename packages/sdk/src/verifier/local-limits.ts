/**
 * Local limit counting for `limits: 'local'`: one GCRA and one quota allowance per cached key,
 * kept by this process only, so a decision for a limited key needs no round trip.
 *
 * Usage reaches the service in batches. keyledger has no endpoint that records usage without a
 * limit check, so a batch travels as an ordinary verify whose `cost` is the units served locally
 * since the last report plus the current call: the service charges rate and quota for all of
 * them, records them in the usage ledger, and its answer re-seeds the local quota allowance.
 * The report rides on the next call for that key after `reportIntervalMs`, because only a call
 * carries the plaintext key (which the verifier never stores).
 *
 * Overshoot bound: between two reports an instance admits at most its local allowance, that is
 * at most `burst + limit * reportIntervalMs / window` calls by rate and at most the quota
 * remaining at the last report. With N gateway instances the fleet can exceed the key's limit by
 * at most N times that allowance per report interval. If the service refuses a batch (the quota
 * ran out, or the batch is larger than the key's burst), the call that carried it is refused
 * with the service's answer, the local allowance drops to zero until the service's reset, and
 * the refused batch is not recorded (the service charges all or nothing): usage is then
 * under-counted by at most that batch.
 */
import type { VerifyResult } from '../types.js';
import type { KeyFacts } from './key-facts.js';

export interface LocalLimitState {
  /** Theoretical arrival time (ms) of the local GCRA. */
  tat: number;
  /** Quota units this instance may still admit before it must ask the service. */
  allowance: number;
  /** When the service's quota window resets (ms); a report is forced then. */
  quotaResetAt: number;
  /** Units admitted locally and not yet reported. */
  pending: number;
  lastReportAt: number;
}

export type LocalLimitOutcome =
  | { kind: 'admit'; limits: VerifyResult['limits']; rateLimit: RateLimitFields | undefined }
  | { kind: 'refuse'; code: 'RATE_LIMITED' | 'QUOTA_EXCEEDED'; limits: VerifyResult['limits']; rateLimit: RateLimitFields | undefined }
  | { kind: 'report'; units: number };

export interface RateLimitFields {
  policy: string;
  value: string;
  retryAfter?: number;
}

function intervalMs(facts: KeyFacts): number {
  const rate = facts.rateLimit!;
  return (rate.windowSeconds * 1000) / rate.limit;
}

function burstOf(facts: KeyFacts): number {
  return facts.rateLimit?.burst ?? facts.rateLimit?.limit ?? 0;
}

/** A fresh local state, seeded from the service's answer that put the key in the cache. */
export function seedLocalLimits(result: VerifyResult, now: number): LocalLimitState {
  const quota = result.limits.quota;
  return {
    tat: now,
    allowance: quota ? quota.remaining : Number.POSITIVE_INFINITY,
    quotaResetAt: quota ? Date.parse(quota.resetAt) : Number.POSITIVE_INFINITY,
    pending: 0,
    lastReportAt: now,
  };
}

/** Decides a call locally, or says that this call must carry a usage report to the service. */
export function checkLocalLimits(facts: KeyFacts, state: LocalLimitState, cost: number, now: number, reportIntervalMs: number): LocalLimitOutcome {
  if (now >= state.quotaResetAt || (state.pending > 0 && now - state.lastReportAt >= reportIntervalMs)) {
    return { kind: 'report', units: state.pending + cost };
  }
  let newTat = state.tat;
  let rateRemaining = 0;
  let retryAfterMs = 0;
  if (facts.rateLimit) {
    const interval = intervalMs(facts);
    const tolerance = burstOf(facts) * interval;
    newTat = Math.max(state.tat, now) + cost * interval;
    const allowAt = newTat - tolerance;
    if (allowAt > now) retryAfterMs = allowAt - now;
    rateRemaining = Math.max(0, Math.floor((tolerance - (Math.max(retryAfterMs > 0 ? state.tat : newTat, now) - now)) / interval));
  }
  const quotaShort = facts.quota !== null && state.allowance < cost;
  const limits = limitsView(facts, state, rateRemaining, now);
  if (retryAfterMs > 0) return { kind: 'refuse', code: 'RATE_LIMITED', limits, rateLimit: headers(facts, limits, Math.ceil(retryAfterMs / 1000)) };
  if (quotaShort) {
    return { kind: 'refuse', code: 'QUOTA_EXCEEDED', limits, rateLimit: headers(facts, limits, Math.max(1, Math.ceil((state.quotaResetAt - now) / 1000))) };
  }
  state.tat = newTat;
  if (facts.quota) {
    state.allowance -= cost;
    state.pending += cost;
  }
  return { kind: 'admit', limits: limitsView(facts, state, rateRemaining, now), rateLimit: headers(facts, limitsView(facts, state, rateRemaining, now), undefined) };
}

/** Re-seeds the local state from the service's answer to a report. */
export function afterReport(state: LocalLimitState, result: VerifyResult, facts: KeyFacts, cost: number, now: number): void {
  state.pending = 0;
  state.lastReportAt = now;
  const quota = result.limits.quota;
  if (quota) {
    state.allowance = quota.remaining;
    state.quotaResetAt = Date.parse(quota.resetAt);
  }
  if (result.code === 'QUOTA_EXCEEDED') state.allowance = 0;
  if (result.code === 'RATE_LIMITED' && facts.rateLimit) {
    // Block locally until the service would admit one call again.
    const retryAfterMs = (result.rateLimit?.retryAfter ?? 1) * 1000;
    state.tat = now + retryAfterMs + (burstOf(facts) - 1) * intervalMs(facts);
  } else if (result.code === 'VALID' && facts.rateLimit) {
    state.tat = Math.max(state.tat, now) + cost * intervalMs(facts);
  }
}

function limitsView(facts: KeyFacts, state: LocalLimitState, rateRemaining: number, now: number): VerifyResult['limits'] {
  return {
    rate: facts.rateLimit
      ? { limit: burstOf(facts), remaining: rateRemaining, resetSeconds: Math.max(0, (state.tat - now) / 1000) }
      : null,
    quota: facts.quota
      ? {
          limit: facts.quota.limit,
          remaining: Math.max(0, Math.min(facts.quota.limit, state.allowance)),
          resetAt: new Date(state.quotaResetAt).toISOString(),
          period: facts.quota.period,
        }
      : null,
  };
}

/** The same RateLimit fields the service sends, so adapters need not care where a decision came from. */
function headers(facts: KeyFacts, limits: VerifyResult['limits'], retryAfter: number | undefined): RateLimitFields | undefined {
  const policies: string[] = [];
  const items: string[] = [];
  if (facts.rateLimit && limits.rate) {
    policies.push(`"rate";q=${facts.rateLimit.limit};w=${facts.rateLimit.windowSeconds}`);
    items.push(`"rate";r=${limits.rate.remaining};t=${Math.ceil(limits.rate.resetSeconds)}`);
  }
  if (facts.quota && limits.quota) {
    const t = Math.max(0, Math.ceil((Date.parse(limits.quota.resetAt) - Date.now()) / 1000));
    policies.push(`"quota";q=${facts.quota.limit};w=${periodSeconds(facts.quota.period)}`);
    items.push(`"quota";r=${limits.quota.remaining};t=${t}`);
  }
  if (policies.length === 0) return undefined;
  return { policy: policies.join(', '), value: items.join(', '), ...(retryAfter !== undefined ? { retryAfter } : {}) };
}

function periodSeconds(period: string): number {
  return period === 'minute' ? 60 : period === 'hour' ? 3600 : period === 'day' ? 86_400 : 30 * 86_400;
}
