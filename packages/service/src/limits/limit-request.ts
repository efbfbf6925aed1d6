/**
 * Input checks shared by the limiter implementations, so bad input is a typed error naming the field
 * instead of a NaN quietly admitting or rejecting everything.
 */
import { gcraParams, type GcraParams } from './gcra.js';
import { InvalidLimitRequestError, type CreditPolicy, type CreditRestore, type CreditTopUp, type LimitRequest, type NamedRateLimitPolicy, type QuotaPeriod, type QuotaPolicy } from './limiter.js';
import { assertQuotaPeriod } from './quota-window.js';

const MAX_SUBJECT_LENGTH = 256;

export function assertSubject(subject: unknown): asserts subject is string {
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH) {
    throw new InvalidLimitRequestError('subject', `must be a string of 1 to ${MAX_SUBJECT_LENGTH} characters`);
  }
  // Braces would break the Redis hash tag `{subject}` that keeps a subject's keys in one slot.
  if (subject.includes('{') || subject.includes('}')) {
    throw new InvalidLimitRequestError('subject', 'must not contain "{" or "}"');
  }
}

export function assertUnits(value: unknown, field: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidLimitRequestError(field, `must be an integer >= 0, got ${String(value)}`);
  }
}

export function assertPeriod(period: unknown, field = 'period'): asserts period is QuotaPeriod {
  assertQuotaPeriod(period, field);
}

/**
 * Validates a check (`withCost`) or peek request; returns the GCRA parameters when a rate limit is
 * present so callers do not derive them twice.
 */
export function validateLimitRequest(request: Omit<LimitRequest, 'cost'> & { cost?: number }, withCost: boolean): GcraParams | undefined {
  if (typeof request !== 'object' || request === null) {
    throw new InvalidLimitRequestError('request', 'must be an object');
  }
  assertSubject(request.subject);
  if (withCost) assertUnits(request.cost, 'cost');
  const quota = request.quota;
  if (quota !== undefined) {
    if (typeof quota !== 'object' || quota === null) throw new InvalidLimitRequestError('quota', 'must be an object');
    assertUnits(quota.limit, 'quota.limit');
    assertQuotaPeriod(quota.period);
  }
  return request.rate === undefined ? undefined : gcraParams(request.rate);
}

const RATE_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const RESERVED_NAME = /^(quota|credits|quota-(minute|hour|day|month))$/;
/** Visible ASCII (0x21-0x7e), as in HTTP tokens: safe inside a Redis key and a log line. */
const CHARGE_ID = /^[\x21-\x7e]{1,128}$/;
export const MAX_NAMED_RATES = 16;
const MAX_CREDITS = 1_000_000_000_000;

export function assertChargeId(value: unknown, field: string): asserts value is string {
  if (typeof value !== 'string' || !CHARGE_ID.test(value)) {
    throw new InvalidLimitRequestError(field, 'must be 1 to 128 visible ASCII characters');
  }
}

function assertCount(value: unknown, field: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidLimitRequestError(field, `must be an integer between ${min} and ${max}, got ${String(value)}`);
  }
}

export function assertCreditPolicy(credits: unknown): asserts credits is CreditPolicy {
  if (typeof credits !== 'object' || credits === null) throw new InvalidLimitRequestError('credits', 'must be an object');
  const policy = credits as CreditPolicy;
  assertCount(policy.initial, 'credits.initial', 0, MAX_CREDITS);
  if (policy.sinceMs !== undefined && (typeof policy.sinceMs !== 'number' || !Number.isSafeInteger(policy.sinceMs) || policy.sinceMs < 0)) {
    throw new InvalidLimitRequestError('credits.sinceMs', 'must be epoch milliseconds');
  }
  const refill = policy.refill;
  if (refill === null) return;
  if (typeof refill !== 'object') throw new InvalidLimitRequestError('credits.refill', 'must be an object or null');
  assertCount(refill.amount, 'credits.refill.amount', 1, MAX_CREDITS);
  assertQuotaPeriod(refill.period, 'credits.refill.period');
  if (refill.mode !== 'add' && refill.mode !== 'reset') {
    throw new InvalidLimitRequestError('credits.refill.mode', `must be add or reset, got ${String(refill.mode)}`);
  }
}

function assertQuota(quota: unknown, field: string): asserts quota is QuotaPolicy {
  if (typeof quota !== 'object' || quota === null) throw new InvalidLimitRequestError(field, 'must be an object');
  assertUnits((quota as QuotaPolicy).limit, `${field}.limit`);
  assertQuotaPeriod((quota as QuotaPolicy).period, `${field}.period`);
}

/** Re-labels an error raised for the generic field (`rate`, `quota`) with the list entry's (`rates[1]`). */
function atIndex(error: unknown, generic: string, list: string, index: number): unknown {
  if (!(error instanceof InvalidLimitRequestError) || !error.field.startsWith(generic)) return error;
  return new InvalidLimitRequestError(`${list}[${index}]${error.field.slice(generic.length)}`, error.problem);
}

/**
 * Validates what goes beyond the single rate/quota: named rates, further quotas, credits and the
 * chargeId; returns the named rates' GCRA parameters (in order) so they are derived once per call.
 * Only called when one of them is present, so the single-limit path pays nothing. Field names are
 * built only for an error: a valid request allocates nothing here but the parameters.
 */
export function validateLimitExtras(request: Omit<LimitRequest, 'cost'>): GcraParams[] | undefined {
  const { rates, quotas, credits, chargeId } = request;
  let params: GcraParams[] | undefined;
  if (rates !== undefined) {
    if (!Array.isArray(rates) || rates.length > MAX_NAMED_RATES) {
      throw new InvalidLimitRequestError('rates', `must be an array of at most ${MAX_NAMED_RATES} rate limits`);
    }
    params = new Array<GcraParams>(rates.length);
    for (let i = 0; i < rates.length; i++) {
      const rate = rates[i] as NamedRateLimitPolicy;
      try {
        params[i] = gcraParams(rate);
      } catch (error) {
        throw atIndex(error, 'rate', 'rates', i);
      }
      if (typeof rate.name !== 'string' || !RATE_NAME.test(rate.name)) {
        throw new InvalidLimitRequestError(`rates[${i}].name`, 'must match ^[a-z][a-z0-9_-]{0,31}$');
      }
      // Names share one namespace with the headers' items ("rate", "quota", "quota-<period>", "credits").
      if (RESERVED_NAME.test(rate.name) || (rate.name === 'rate' && request.rate !== undefined)) {
        throw new InvalidLimitRequestError(`rates[${i}].name`, `"${rate.name}" is reserved`);
      }
      for (let j = 0; j < i; j++) {
        if (rates[j]!.name === rate.name) throw new InvalidLimitRequestError(`rates[${i}].name`, `repeats "${rate.name}"`);
      }
    }
  }
  if (quotas !== undefined) {
    if (!Array.isArray(quotas) || quotas.length > 4) throw new InvalidLimitRequestError('quotas', 'must be an array of at most 4 quotas');
    for (let i = 0; i < quotas.length; i++) {
      const quota = quotas[i];
      try {
        assertQuota(quota, 'quota');
      } catch (error) {
        throw atIndex(error, 'quota', 'quotas', i);
      }
      // Quotas of one period share one counter per window: two limits on it would charge it twice.
      let clash = request.quota?.period === quota.period;
      for (let j = 0; j < i && !clash; j++) clash = quotas[j]!.period === quota.period;
      if (clash) throw new InvalidLimitRequestError(`quotas[${i}].period`, `repeats "${quota.period}"`);
    }
  }
  if (credits !== undefined) assertCreditPolicy(credits);
  if (chargeId !== undefined) assertChargeId(chargeId, 'chargeId');
  return params;
}

/** Whether the request uses anything beyond the single rate/quota (the generic path). */
export function hasLimitExtras(request: Omit<LimitRequest, 'cost'>): boolean {
  return request.rates !== undefined || request.quotas !== undefined || request.credits !== undefined || request.chargeId !== undefined;
}

export function assertDate(value: unknown, field: string): asserts value is Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw new InvalidLimitRequestError(field, 'must be a valid Date');
}

export function validateTopUp(topUp: CreditTopUp): void {
  if (typeof topUp !== 'object' || topUp === null) throw new InvalidLimitRequestError('topUp', 'must be an object');
  assertSubject(topUp.subject);
  assertCreditPolicy(topUp.credits);
  assertUnits(topUp.amount, 'amount');
  assertChargeId(topUp.topUpId, 'topUpId');
  if (topUp.at !== undefined) assertDate(topUp.at, 'at');
}

export function validateCreditRestore(restore: CreditRestore): void {
  if (typeof restore !== 'object' || restore === null) throw new InvalidLimitRequestError('restore', 'must be an object');
  assertSubject(restore.subject);
  assertCreditPolicy(restore.credits);
  assertUnits(restore.spent, 'spent');
  assertDate(restore.windowStart, 'windowStart');
}

/** A limiter option that must be a positive whole number of milliseconds (or entries). */
export function positiveOption(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}
