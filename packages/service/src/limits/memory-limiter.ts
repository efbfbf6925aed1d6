/**
 * In-process limiter: exact within one process because check-and-charge is synchronous (no await
 * between reading and writing state). Memory stays bounded: a sweep drops GCRA state that has fully
 * recovered (it is indistinguishable from no state) and quota windows that have ended.
 */
import { gcraStep, type GcraOutcome } from './gcra.js';
import { OUTCOME_ALLOWED, OUTCOME_QUOTA_EXCEEDED, OUTCOME_RATE_LIMITED, decision, quotaState, rateState } from './limit-state.js';
import { assertPeriod, assertSubject, assertUnits, validateLimitRequest } from './limit-request.js';
import { InvalidLimitRequestError, type LimitDecision, type LimitRequest, type Limiter, type QuotaPeriod, type QuotaPolicy } from './limiter.js';
import { quotaWindow } from './quota-window.js';

export interface MemoryLimiterOptions {
  /** Clock in epoch milliseconds (tests inject one). */
  now?: () => number;
  /** How often idle state is dropped; default 60 s. */
  sweepIntervalMs?: number;
}

export interface MemoryLimiter extends Limiter {
  readonly kind: 'memory';
  /** Drops recovered rate state and ended quota windows now (also runs periodically). */
  sweep(): void;
  /** Subjects currently holding any state (for tests and metrics). */
  trackedSubjects(): number;
}

interface QuotaCounter {
  startMs: number;
  endMs: number;
  used: number;
}

/** One small object per active subject; every field is always present so the shape stays stable. */
interface SubjectState {
  /** Theoretical arrival time in microseconds; 0 = no rate state. */
  tatUs: number;
  minute: QuotaCounter | undefined;
  hour: QuotaCounter | undefined;
  day: QuotaCounter | undefined;
  month: QuotaCounter | undefined;
}

function newSubjectState(): SubjectState {
  return { tatUs: 0, minute: undefined, hour: undefined, day: undefined, month: undefined };
}

function counterFor(state: SubjectState | undefined, period: QuotaPeriod, nowMs: number): QuotaCounter | undefined {
  const counter = state?.[period];
  return counter !== undefined && nowMs >= counter.startMs && nowMs < counter.endMs ? counter : undefined;
}

export function createMemoryLimiter(options: MemoryLimiterOptions = {}): MemoryLimiter {
  const now = options.now ?? Date.now;
  const subjects = new Map<string, SubjectState>();

  function storedTat(state: SubjectState | undefined): number | undefined {
    return state === undefined || state.tatUs === 0 ? undefined : state.tatUs;
  }

  function quotaStateNow(policy: QuotaPolicy, counter: QuotaCounter | undefined, nowMs: number) {
    if (counter !== undefined) return quotaState(policy, counter.used, counter.startMs, counter.endMs);
    const window = quotaWindow(policy.period, nowMs);
    return quotaState(policy, 0, window.startMs, window.endMs);
  }

  /** The shared body of check and peek; `charge` false never writes. */
  function evaluate(request: Omit<LimitRequest, 'cost'>, cost: number, charge: boolean): LimitDecision {
    const params = validateLimitRequest(request, false);
    const { rate, quota } = request;
    if (rate === undefined && quota === undefined) return { allowed: true };
    const nowMs = now();
    const nowUs = nowMs * 1000;
    let state = subjects.get(request.subject);

    let rateOutcome: GcraOutcome | undefined;
    if (params !== undefined) {
      rateOutcome = gcraStep(storedTat(state), nowUs, params, charge);
      // Persist the cap of a stale, stricter policy's debt (see gcraStep); not a charge.
      if (state !== undefined && state.tatUs > nowUs + params.burst * params.emissionIntervalUs) {
        state.tatUs = nowUs + params.burst * params.emissionIntervalUs;
      }
    }
    const counter = quota === undefined ? undefined : counterFor(state, quota.period, nowMs);
    const used = counter === undefined ? 0 : counter.used;

    let outcome = OUTCOME_ALLOWED;
    if (rateOutcome !== undefined && !rateOutcome.allowed) outcome = OUTCOME_RATE_LIMITED;
    else if (quota !== undefined && used + cost > quota.limit) outcome = OUTCOME_QUOTA_EXCEEDED;

    const writesState = rateOutcome !== undefined || (quota !== undefined && cost > 0);
    if (charge && outcome === OUTCOME_ALLOWED && writesState) {
      if (state === undefined) {
        state = newSubjectState();
        subjects.set(request.subject, state);
      }
      if (rateOutcome !== undefined) state.tatUs = rateOutcome.tatUs;
      if (quota !== undefined && cost > 0) {
        if (counter !== undefined) counter.used += cost;
        else {
          const window = quotaWindow(quota.period, nowMs);
          state[quota.period] = { startMs: window.startMs, endMs: window.endMs, used: cost };
        }
      }
    } else if (charge && outcome === OUTCOME_QUOTA_EXCEEDED && rateOutcome !== undefined) {
      // The rate step above was computed as if charged; report the uncharged state instead.
      rateOutcome = gcraStep(storedTat(state), nowUs, params!, false);
    }

    const rateView =
      rateOutcome === undefined || rate === undefined
        ? undefined
        : rateState(rate, rateOutcome.remaining, rateOutcome.resetUs, outcome === OUTCOME_RATE_LIMITED ? rateOutcome.retryAfterUs : 0);
    const quotaView = quota === undefined ? undefined : quotaStateNow(quota, counterFor(state, quota.period, nowMs), nowMs);
    return decision(outcome, rateView, quotaView);
  }

  function sweep(): void {
    const nowMs = now();
    const nowUs = nowMs * 1000;
    for (const [subject, state] of subjects) {
      if (state.tatUs !== 0 && state.tatUs <= nowUs) state.tatUs = 0;
      if (state.minute !== undefined && state.minute.endMs <= nowMs) state.minute = undefined;
      if (state.hour !== undefined && state.hour.endMs <= nowMs) state.hour = undefined;
      if (state.day !== undefined && state.day.endMs <= nowMs) state.day = undefined;
      if (state.month !== undefined && state.month.endMs <= nowMs) state.month = undefined;
      if (state.tatUs === 0 && state.minute === undefined && state.hour === undefined && state.day === undefined && state.month === undefined) {
        subjects.delete(subject);
      }
    }
  }

  const timer = setInterval(sweep, options.sweepIntervalMs ?? 60_000);
  // The sweep must never keep the process alive on its own.
  timer.unref();

  return {
    kind: 'memory',
    check(request: LimitRequest): Promise<LimitDecision> {
      try {
        assertUnits(request?.cost, 'cost');
        return Promise.resolve(evaluate(request, request.cost, true));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    peek(request: Omit<LimitRequest, 'cost'>): Promise<LimitDecision> {
      try {
        // A peek answers "would a call costing one unit be allowed now?".
        return Promise.resolve(evaluate(request, 1, false));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    restoreQuotaUsage(subject: string, period: QuotaPeriod, windowStart: Date, units: number): Promise<void> {
      try {
        assertSubject(subject);
        assertPeriod(period);
        assertUnits(units, 'units');
        if (!(windowStart instanceof Date) || Number.isNaN(windowStart.getTime())) {
          throw new InvalidLimitRequestError('windowStart', 'must be a valid Date');
        }
        const window = quotaWindow(period, windowStart.getTime());
        const nowMs = now();
        // Ended windows no longer matter; a window that has not begun cannot have usage yet (a skewed
        // ledger clock), and one counter per period only ever tracks the current window.
        if (units === 0 || window.endMs <= nowMs || window.startMs > nowMs) return Promise.resolve();
        let state = subjects.get(subject);
        if (state === undefined) {
          state = newSubjectState();
          subjects.set(subject, state);
        }
        const counter = state[period];
        if (counter !== undefined && counter.startMs === window.startMs) counter.used += units;
        else state[period] = { startMs: window.startMs, endMs: window.endMs, used: units };
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error);
      }
    },
    close(): Promise<void> {
      clearInterval(timer);
      subjects.clear();
      return Promise.resolve();
    },
    sweep,
    trackedSubjects: () => subjects.size,
  };
}
