/**
 * The limiter port: rate limits (GCRA), quotas (UTC calendar windows) and prepaid credits for one
 * subject (a key id). Policies travel with every call, so an override or a plan revision recorded a
 * moment ago applies to the next call. A check charges every limit it names, or none.
 */

/** `limit` requests per `windowSeconds` (GCRA); `burst` = how many may arrive at once (default: `limit`). */
export interface RateLimitPolicy {
  limit: number;
  windowSeconds: number;
  burst?: number;
}

/**
 * One of several rate limits of a plan (e.g. "burst" 20/s and "sustained" 5000/h). Its state is
 * kept per name and window, so revising one limit of a plan never disturbs another's state.
 */
export interface NamedRateLimitPolicy extends RateLimitPolicy {
  /** `^[a-z][a-z0-9_-]{0,31}$`, distinct within one request. */
  name: string;
}

export type QuotaPeriod = 'minute' | 'hour' | 'day' | 'month';

export type CreditRefillMode = 'add' | 'reset';

/** At each UTC calendar `period` boundary: `add` adds `amount` (unused credits carry over), `reset` sets the balance to `amount`. */
export interface CreditRefill {
  amount: number;
  period: QuotaPeriod;
  mode: CreditRefillMode;
}

/**
 * Prepaid credits: each allowed check spends `cost`; a check that would take the balance below zero
 * is refused. The balance starts at `initial` in the refill period containing `sinceMs` and is
 * refilled lazily, exactly, per period boundary crossed since then.
 */
export interface CreditPolicy {
  initial: number;
  refill: CreditRefill | null;
  /**
   * When this credit account began (epoch ms; e.g. when the key joined the plan). Only read when the
   * limiter holds no state for the subject yet (first use, or the memory limiter after a restart), so
   * refills since then are counted; omitted = now.
   */
  sinceMs?: number;
}

/** Calendar windows in UTC; units consumed = `cost` per call. */
export interface QuotaPolicy {
  limit: number;
  period: QuotaPeriod;
}

export interface LimitRequest {
  /** The key id. */
  subject: string;
  /** A single unnamed rate limit (reported as `rate`, refused first). */
  rate?: RateLimitPolicy;
  /** A single quota (reported as `quota`). */
  quota?: QuotaPolicy;
  /** Named rate limits, checked after `rate` in this order (at most 16). */
  rates?: readonly NamedRateLimitPolicy[];
  /** Further quotas, checked after `quota` in this order; all periods (with `quota`'s) distinct. */
  quotas?: readonly QuotaPolicy[];
  credits?: CreditPolicy;
  /** Quota units and credits spent, an integer >= 0; every rate limit always counts 1 per call. */
  cost: number;
  /**
   * Makes the check idempotent: a retry with the same subject and chargeId within the retention
   * window gets the first (charged) decision back, marked `replayed`, and charges nothing again.
   * 1-128 visible ASCII characters. Refused checks charged nothing and are not remembered.
   */
  chargeId?: string;
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

export interface NamedRateState extends RateState {
  name: string;
}

export interface CreditState {
  /** Credits left (after this call when it was charged). */
  balance: number;
  /** Next refill boundary; null without a refill. */
  refillAt: Date | null;
  refill: CreditRefill | null;
}

export type LimitRefusal = 'RATE_LIMITED' | 'QUOTA_EXCEEDED' | 'CREDITS_EXHAUSTED';

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
  code?: LimitRefusal;
  /**
   * Which limit refused, when it came from `rates` (its name), `quotas` (`quota-<period>`) or
   * `credits` (`credits`). Absent for the single `rate` / `quota`, whose code already says it.
   */
  refusedBy?: string;
  rate?: RateState;
  quota?: QuotaState;
  /** In the order of the request's `rates`. */
  rates?: NamedRateState[];
  /** In the order of the request's `quotas`. */
  quotas?: QuotaState[];
  credits?: CreditState;
  /** The first decision for this chargeId, answered again; nothing was charged by this call. */
  replayed?: true;
  /**
   * Set only by `withFailurePolicy` when the limiter store was unavailable and the decision was made
   * by the configured failure mode instead of by the limits.
   */
  degraded?: 'fail_closed' | 'fail_open';
}

export interface Limiter {
  readonly kind: 'memory' | 'redis';
  /**
   * Charges every rate limit (1), every quota (cost) and the credits (cost) atomically, or nothing if
   * any would be exceeded. Order of refusal: rate, rates (in order), quota, quotas (in order), credits.
   */
  check(request: LimitRequest): Promise<LimitDecision>;
  /** Current state without charging anything. */
  peek(request: Omit<LimitRequest, 'cost'>): Promise<LimitDecision>;
  /**
   * Restores quota units already used in a window (after a restart, from usage events in the ledger);
   * adds to the window's counter, ignored if the window is over. `windowStart` may be any instant
   * inside the window: it is mapped to the window that contains it.
   */
  restoreQuotaUsage(subject: string, period: QuotaPeriod, windowStart: Date, units: number): Promise<void>;
  /**
   * Adds purchased credits, once per `topUpId` per subject (several instances may report the same
   * ledger event; ids are remembered for good). `at` = when the top-up happened: in `reset` mode a
   * top-up from an earlier refill period is gone with that period's reset and is only marked seen.
   */
  addCredits(topUp: CreditTopUp): Promise<CreditTopUpResult>;
  /**
   * Restores credits already spent (after a restart of the memory limiter, from the ledger):
   * subtracts `spent` from the balance (never below zero). In `reset` mode only spending inside the
   * current refill period counts (`windowStart` = any instant of the period it was spent in); in
   * `add` mode (and without refill) every period counts. Not idempotent: call once per period.
   */
  restoreCredits(restore: CreditRestore): Promise<void>;
  close(): Promise<void>;
}

export interface CreditTopUp {
  subject: string;
  credits: CreditPolicy;
  amount: number;
  /** 1-128 visible ASCII characters, e.g. the ledger event id. */
  topUpId: string;
  at?: Date;
}

export interface CreditTopUpResult {
  /** False when this topUpId was seen before (or belongs to an ended `reset` period). */
  applied: boolean;
  balance: number;
}

export interface CreditRestore {
  subject: string;
  credits: CreditPolicy;
  spent: number;
  windowStart: Date;
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
    readonly problem: string,
  ) {
    super(`invalid limit request: ${field} ${problem}`);
  }
}
