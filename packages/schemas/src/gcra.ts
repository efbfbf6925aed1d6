/**
 * GCRA (generic cell rate algorithm): one "theoretical arrival time" (TAT) per subject, no window
 * boundaries, an explicit burst. One call costs one emission interval, whatever its quota cost.
 * Pure and deterministic, and shared: the service's memory limiter, the Redis Lua script (which
 * mirrors this file line by line) and the SDK verifier's `limits: 'local'` mode all count with it,
 * so they agree exactly.
 *
 * Times are integer MICROseconds. Milliseconds would force the emission interval
 * (window / limit) to be rounded to whole milliseconds, which is badly wrong for limits above a few
 * hundred per second (600/s would become 500/s). Microseconds keep the arithmetic integer in both
 * JavaScript and Lua (doubles are exact up to 2^53 us, about 285 years after 1970).
 */

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

/** The parameters of a rate limit that is already valid (the service validates policies first). */
export function gcraParamsOf(policy: { limit: number; windowSeconds: number; burst?: number | undefined }): GcraParams {
  return { emissionIntervalUs: Math.ceil((policy.windowSeconds * 1_000_000) / policy.limit), burst: policy.burst ?? policy.limit };
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

/** Whole seconds, rounded up, as the headers and the limit states want them. */
export function usToSecondsCeil(us: number): number {
  return Math.ceil(us / 1_000_000);
}
