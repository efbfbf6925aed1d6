/**
 * GCRA (generic cell rate algorithm): one "theoretical arrival time" (TAT) per subject, no window
 * boundaries, an explicit burst. Pure and deterministic so that the memory limiter and the Redis Lua
 * script (which mirrors this file line by line) agree exactly.
 *
 * Times are integer MICROseconds. Milliseconds would force the emission interval
 * (window / limit) to be rounded to whole milliseconds, which is badly wrong for limits above a few
 * hundred per second (600/s would become 500/s). Microseconds keep the arithmetic integer in both
 * JavaScript and Lua (doubles are exact up to 2^53 us, about 285 years after 1970).
 */
import { InvalidLimitRequestError, type RateLimitPolicy } from './limiter.js';

export interface GcraParams {
  /** Time one call "costs": ceil(window / limit), at least 1 us; rounding up never over-admits. */
  emissionIntervalUs: number;
  /** Calls that may arrive at once. */
  burst: number;
}

export interface GcraOutcome {
  /** Whether this call conforms (for a peek: whether a call would conform now). */
  allowed: boolean;
  /** The TAT to store: the new one if charged, otherwise the stored one (or `nowUs` if none). */
  tatUs: number;
  /** Calls that could still arrive right now, after this call if it was charged. */
  remaining: number;
  /** Microseconds until fully recovered (remaining back to burst). */
  resetUs: number;
  /** Microseconds until one call conforms; 0 when allowed. */
  retryAfterUs: number;
}

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
  const emissionIntervalUs = Math.ceil(windowUs / limit);
  if (emissionIntervalUs * burst > MAX_TOLERANCE_US) {
    throw new InvalidLimitRequestError(`${field}.burst`, 'times the window is too large');
  }
  return { emissionIntervalUs, burst };
}

/**
 * One GCRA step. `charge` = true consumes one call if it conforms; false only reports.
 * A call conforms when, after adding its interval, the TAT is at most `burst` intervals ahead of now.
 */
export function gcraStep(storedTatUs: number | undefined, nowUs: number, params: GcraParams, charge: boolean): GcraOutcome {
  const interval = params.emissionIntervalUs;
  const tolerance = params.burst * interval;
  // A TAT in the past means the subject is fully recovered; the past earns no extra credit.
  // A TAT beyond now + tolerance can only come from an earlier, stricter policy (an override just
  // raised the limit): cap the debt at "burst fully used" under the current policy, so the new
  // limit governs at once instead of the old window's lockout. Never admits more than the burst.
  // The returned tatUs is the capped one; limiters store it even when nothing was charged
  // (`tatUs < stored`), otherwise the cap would be re-applied relative to each new "now" forever.
  const tat = storedTatUs === undefined || storedTatUs < nowUs ? nowUs : Math.min(storedTatUs, nowUs + tolerance);
  const candidate = tat + interval;
  const allowed = candidate - nowUs <= tolerance;
  const after = allowed && charge ? candidate : tat;
  const remaining = Math.min(params.burst, Math.max(0, Math.floor((nowUs + tolerance - after) / interval)));
  return {
    allowed,
    tatUs: after,
    remaining,
    resetUs: after - nowUs,
    retryAfterUs: allowed ? 0 : candidate - tolerance - nowUs,
  };
}

/** Whole seconds, rounded up, as the headers and RateState want them. */
export function usToSecondsCeil(us: number): number {
  return Math.ceil(us / 1_000_000);
}
