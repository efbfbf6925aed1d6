/**
 * GCRA for the service's limiters: the algorithm itself (gcraStep) lives in @keyledger/schemas,
 * shared with the SDK verifier's local counting; this module validates policies before they reach
 * it. The Redis Lua script mirrors gcraStep line by line.
 */
import { gcraParamsOf, gcraStep, usToSecondsCeil, type GcraOutcome, type GcraParams } from '@keyledger/schemas';
import { InvalidLimitRequestError, type RateLimitPolicy } from './limiter.js';

export { gcraStep, usToSecondsCeil, type GcraOutcome, type GcraParams };

const MAX_LIMIT = 1_000_000_000;
const MAX_WINDOW_SECONDS = 366 * 86_400;
/** Keeps burst * interval far below 2^53 so every comparison stays exact. */
const MAX_TOLERANCE_US = 1e15;

function positiveInteger(value: unknown, field: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidLimitRequestError(field, `must be an integer between 1 and ${max}, got ${String(value)}`);
  }
  return value;
}

/** Validates a rate limit policy and derives the GCRA parameters. */
export function gcraParams(policy: RateLimitPolicy, field = 'rate'): GcraParams {
  if (typeof policy !== 'object' || policy === null) {
    throw new InvalidLimitRequestError(field, 'must be an object');
  }
  const limit = positiveInteger(policy.limit, `${field}.limit`, MAX_LIMIT);
  const windowSeconds = positiveInteger(policy.windowSeconds, `${field}.windowSeconds`, MAX_WINDOW_SECONDS);
  const burst = policy.burst === undefined ? limit : positiveInteger(policy.burst, `${field}.burst`, MAX_LIMIT);
  const windowUs = windowSeconds * 1_000_000;
  if (limit > windowUs) {
    throw new InvalidLimitRequestError(`${field}.limit`, `must not exceed one call per microsecond (${windowUs} per window)`);
  }
  const params = gcraParamsOf({ limit, windowSeconds, burst });
  if (params.emissionIntervalUs * burst > MAX_TOLERANCE_US) {
    throw new InvalidLimitRequestError(`${field}.burst`, 'times the window is too large');
  }
  return params;
}
