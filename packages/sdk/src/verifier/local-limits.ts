/**
 * Local limit counting for `limits: 'local'`: one GCRA and one quota allowance per cached key,
 * kept by this process only, so a decision for a limited key needs no round trip. It counts
 * exactly as the service's limiter does, with the same code (gcraStep from @keyledger/schemas):
 * the rate limit charges one call per verify whatever its cost, the quota charges the call's cost
 * in units, rate is checked first, and a refused call charges nothing.
 *
 * Usage reaches the service in batches. keyledger has no endpoint that records usage without a
 * limit check, so a batch travels as an ordinary verify whose `cost` is the units served locally
 * since the last report plus the current call: the service charges its rate limit one call for it
 * (it is one call) and its quota all the units, records them in the usage ledger, and its answer
 * re-seeds the local quota allowance. The report rides on the next call for that key after
 * `reportIntervalMs`, because only a call carries the plaintext key (which the verifier never
 * stores).
 *
 * Overshoot bound: between two reports an instance admits at most its local allowance, that is
 * at most `burst + limit * reportIntervalMs / window` calls by rate and at most the quota
 * remaining at the last report in units. The service sees one call per report, so the rate limit
 * is enforced per instance: with N gateway instances the fleet can exceed the key's rate by up to
 * N times, and its quota by up to N times the remaining allowance per report interval. If the
 * service refuses a batch (the quota ran out, or its own rate limit), the call that carried it is
 * refused with the service's answer, the local allowance follows the service's (zero until the
 * quota resets, or no call until the service's Retry-After), and the refused batch is not
 * recorded (the service charges all or nothing): usage is then under-counted by at most that batch.
 */
import { gcraParamsOf, gcraStep, usToSecondsCeil, type GcraOutcome } from '@keyledger/schemas';
import type { VerifyResult } from '../types.js';
import type { KeyFacts } from './key-facts.js';

export interface LocalLimitState {
  /** Theoretical arrival time (microseconds, as gcraStep counts) of the local GCRA; undefined: none yet. */
  tatUs: number | undefined;
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

/** A fresh local state, seeded from the service's answer that put the key in the cache. */
export function seedLocalLimits(result: VerifyResult, facts: KeyFacts, now: number): LocalLimitState {
  const state: LocalLimitState = {
    tatUs: undefined,
    allowance: Number.POSITIVE_INFINITY,
    quotaResetAt: Number.POSITIVE_INFINITY,
    pending: 0,
    lastReportAt: now,
  };
  followService(state, result, facts, now);
  return state;
}

/** Decides a call locally, or says that this call must carry a usage report to the service. */
export function checkLocalLimits(facts: KeyFacts, state: LocalLimitState, cost: number, now: number, reportIntervalMs: number): LocalLimitOutcome {
  if (now >= state.quotaResetAt || (state.pending > 0 && now - state.lastReportAt >= reportIntervalMs)) {
    return { kind: 'report', units: state.pending + cost };
  }
  const nowUs = now * 1000;
  const params = facts.rateLimit ? gcraParamsOf(facts.rateLimit) : undefined;
  let rate: GcraOutcome | undefined = params ? gcraStep(state.tatUs, nowUs, params, true) : undefined;
  if (rate && !rate.allowed) {
    // As the service stores it: the step may have capped a stricter old policy's debt.
    state.tatUs = rate.tatUs;
    const limits = limitsView(facts, state, rate);
    return { kind: 'refuse', code: 'RATE_LIMITED', limits, rateLimit: headers(facts, limits, Math.max(1, usToSecondsCeil(rate.retryAfterUs))) };
  }
  if (facts.quota !== null && state.allowance < cost) {
    // Refused by the quota: the rate limit is not charged either (the service charges both or neither).
    if (params) rate = gcraStep(state.tatUs, nowUs, params, false);
    const limits = limitsView(facts, state, rate);
    return { kind: 'refuse', code: 'QUOTA_EXCEEDED', limits, rateLimit: headers(facts, limits, Math.max(1, Math.ceil((state.quotaResetAt - now) / 1000))) };
  }
  if (rate) state.tatUs = rate.tatUs;
  if (facts.quota) {
    state.allowance -= cost;
    state.pending += cost;
  }
  const limits = limitsView(facts, state, rate);
  return { kind: 'admit', limits, rateLimit: headers(facts, limits, undefined) };
}

/** Re-seeds the local state from the service's answer to a report (the call `cost` rode on it). */
export function afterReport(state: LocalLimitState, result: VerifyResult, facts: KeyFacts, now: number): void {
  state.pending = 0;
  state.lastReportAt = now;
  followService(state, result, facts, now);
  if (result.code === 'VALID' && facts.rateLimit) {
    // The call that carried the report was admitted: it counts against the local rate as one call.
    state.tatUs = gcraStep(state.tatUs, now * 1000, gcraParamsOf(facts.rateLimit), true).tatUs;
  }
}

/** Takes over what the service's answer says about the quota, and any refusal. */
function followService(state: LocalLimitState, result: VerifyResult, facts: KeyFacts, now: number): void {
  const quota = result.limits.quota;
  if (quota) {
    state.allowance = quota.remaining;
    state.quotaResetAt = Date.parse(quota.resetAt);
  }
  if (result.code === 'QUOTA_EXCEEDED') state.allowance = 0;
  if (result.code === 'RATE_LIMITED' && facts.rateLimit) {
    // No local call until the service would admit one again: a TAT that puts the next conforming
    // call Retry-After from now.
    const params = gcraParamsOf(facts.rateLimit);
    const retryAfterUs = (result.rateLimit?.retryAfter ?? 1) * 1_000_000;
    state.tatUs = now * 1000 + retryAfterUs + (params.burst - 1) * params.emissionIntervalUs;
  }
}

/** The limits as the service reports them (its verify answer copies the limiter's states). */
function limitsView(facts: KeyFacts, state: LocalLimitState, rate: GcraOutcome | undefined): VerifyResult['limits'] {
  return {
    rate: facts.rateLimit && rate ? { limit: facts.rateLimit.limit, remaining: rate.remaining, resetSeconds: usToSecondsCeil(rate.resetUs) } : null,
    quota: facts.quota
      ? {
          limit: facts.quota.limit,
          remaining: Math.max(0, Math.min(facts.quota.limit, state.allowance)),
          resetAt: new Date(state.quotaResetAt).toISOString(),
          period: facts.quota.period,
        }
      : null,
    rates: [],
    credits: null,
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
