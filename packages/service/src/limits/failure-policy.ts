/**
 * What verification does when the limiter store is unavailable: fail closed (reject, the safe
 * default for paid quotas) or fail open (admit, for availability). Either way the decision is marked
 * `degraded` so the caller can say so, and onError lets it log and count the incident.
 */
import {
  LimiterUnavailableError,
  type CreditRestore,
  type CreditTopUp,
  type CreditTopUpResult,
  type LimitDecision,
  type LimitRequest,
  type Limiter,
  type QuotaPeriod,
} from './limiter.js';

export interface FailurePolicyOptions {
  mode: 'closed' | 'open';
  onError(error: LimiterUnavailableError): void;
}

function report(onError: FailurePolicyOptions['onError'], error: LimiterUnavailableError): void {
  try {
    onError(error);
  } catch {
    // A failing logger or metric must not turn a degraded decision into a crash.
  }
}

function degradedDecision(mode: FailurePolicyOptions['mode'], request: Omit<LimitRequest, 'cost'>): LimitDecision {
  if (mode === 'open') return { allowed: true, degraded: 'fail_open' };
  const result: LimitDecision = { allowed: false, code: 'RATE_LIMITED', degraded: 'fail_closed' };
  const rate = request.rate;
  if (rate !== undefined) {
    // Nothing is known about the real state; advertise an empty allowance and a short retry.
    result.rate = { limit: rate.limit, remaining: 0, resetSeconds: 1, windowSeconds: rate.windowSeconds, retryAfterSeconds: 1 };
  }
  return result;
}

export function withFailurePolicy(limiter: Limiter, options: FailurePolicyOptions): Limiter {
  const { mode, onError } = options;
  if (mode !== 'closed' && mode !== 'open') throw new TypeError(`failure policy mode must be 'closed' or 'open', got ${String(mode)}`);
  return {
    kind: limiter.kind,
    async check(request: LimitRequest): Promise<LimitDecision> {
      try {
        return await limiter.check(request);
      } catch (error) {
        if (!(error instanceof LimiterUnavailableError)) throw error;
        report(onError, error);
        return degradedDecision(mode, request);
      }
    },
    async peek(request: Omit<LimitRequest, 'cost'>): Promise<LimitDecision> {
      try {
        return await limiter.peek(request);
      } catch (error) {
        if (!(error instanceof LimiterUnavailableError)) throw error;
        report(onError, error);
        return degradedDecision(mode, request);
      }
    },
    async restoreQuotaUsage(subject: string, period: QuotaPeriod, windowStart: Date, units: number): Promise<void> {
      try {
        await limiter.restoreQuotaUsage(subject, period, windowStart, units);
      } catch (error) {
        // Restoring happens at start-up; silently losing usage would over-admit, so the caller decides.
        if (error instanceof LimiterUnavailableError) report(onError, error);
        throw error;
      }
    },
    async addCredits(topUp: CreditTopUp): Promise<CreditTopUpResult> {
      try {
        return await limiter.addCredits(topUp);
      } catch (error) {
        // A lost top-up would refuse credits the consumer paid for: the caller must retry it.
        if (error instanceof LimiterUnavailableError) report(onError, error);
        throw error;
      }
    },
    async restoreCredits(restore: CreditRestore): Promise<void> {
      try {
        await limiter.restoreCredits(restore);
      } catch (error) {
        if (error instanceof LimiterUnavailableError) report(onError, error);
        throw error;
      }
    },
    close: () => limiter.close(),
  };
}
