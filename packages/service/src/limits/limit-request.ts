/**
 * Input checks shared by the limiter implementations, so bad input is a typed error naming the field
 * instead of a NaN quietly admitting or rejecting everything.
 */
import { gcraParams, type GcraParams } from './gcra.js';
import { InvalidLimitRequestError, type LimitRequest, type QuotaPeriod } from './limiter.js';
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
