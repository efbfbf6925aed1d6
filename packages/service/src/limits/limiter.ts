/**
 * The limiter port: rate limits (GCRA) and quotas (UTC calendar windows) for one subject (a key id).
 * Policies travel with every call, so an override recorded a moment ago applies to the next call.
 */

/** `limit` requests per `windowSeconds` (GCRA); `burst` = how many may arrive at once (default: `limit`). */
export interface RateLimitPolicy {
  limit: number;
  windowSeconds: number;
  burst?: number;
}

export type QuotaPeriod = 'minute' | 'hour' | 'day' | 'month';

/** Calendar windows in UTC; units consumed = `cost` per call. */
export interface QuotaPolicy {
  limit: number;
  period: QuotaPeriod;
}

export interface LimitRequest {
  /** The key id. */
  subject: string;
  rate?: RateLimitPolicy;
  quota?: QuotaPolicy;
  /** Quota units, an integer >= 0; the rate limit always counts 1 per call. */
  cost: number;
}

export interface RateState {
  limit: number;
  /** Calls that could arrive right now (at most the burst). */
  remaining: number;
  /** Seconds until the limit has fully recovered (remaining back to the burst). */
  resetSeconds: number;
  windowSeconds: number;
  /** Set when the rate limit rejected the call: seconds until one call conforms again (>= 1). */
  retryAfterSeconds?: number;
}

export interface QuotaState {
  limit: number;
  remaining: number;
  used: number;
  /** End of the current window (exclusive). */
  resetAt: Date;
  period: QuotaPeriod;
  windowStart: Date;
}

export interface LimitDecision {
  allowed: boolean;
  code?: 'RATE_LIMITED' | 'QUOTA_EXCEEDED';
  rate?: RateState;
  quota?: QuotaState;
  /**
   * Set only by `withFailurePolicy` when the limiter store was unavailable and the decision was made
   * by the configured failure mode instead of by the limits.
   */
  degraded?: 'fail_closed' | 'fail_open';
}

export interface Limiter {
  readonly kind: 'memory' | 'redis';
  /** Charges rate (1) and quota (cost) atomically, or nothing if either would be exceeded; rate is checked first (its code wins). */
  check(request: LimitRequest): Promise<LimitDecision>;
  /** Current state without charging anything. */
  peek(request: Omit<LimitRequest, 'cost'>): Promise<LimitDecision>;
  /**
   * Restores quota units already used in a window (after a restart, from usage events in the ledger);
   * adds to the window's counter, ignored if the window is over. `windowStart` may be any instant
   * inside the window: it is mapped to the window that contains it.
   */
  restoreQuotaUsage(subject: string, period: QuotaPeriod, windowStart: Date, units: number): Promise<void>;
  close(): Promise<void>;
}

/** The limiter store (Redis) is unreachable, timed out or refused the command; nothing was charged. */
export class LimiterUnavailableError extends Error {
  override readonly name = 'LimiterUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A limit request or policy is malformed; the message names the offending field. */
export class InvalidLimitRequestError extends Error {
  override readonly name = 'InvalidLimitRequestError';
  constructor(
    readonly field: string,
    problem: string,
  ) {
    super(`invalid limit request: ${field} ${problem}`);
  }
}
