/**
 * In-process limiter: exact within one process because check-and-charge is synchronous (no await
 * between reading and writing state). Memory stays bounded: a sweep drops GCRA state that has fully
 * recovered (it is indistinguishable from no state), quota windows that have ended and chargeIds
 * past their retention. Credit balances are kept: they are money, restored from the ledger after a
 * restart (restoreCredits + addCredits).
 */
import { createChargeMemory } from './charge-memory.js';
import { creditBalanceAt, nextRefillMs, openingCreditBalance, survivesRefill, type CreditBalance } from './credits.js';
import { gcraStep, type GcraOutcome } from './gcra.js';
import {
  CREDITS_NAME,
  OUTCOME_ALLOWED,
  OUTCOME_CREDITS_EXHAUSTED,
  OUTCOME_QUOTA_EXCEEDED,
  OUTCOME_RATE_LIMITED,
  creditState,
  decision,
  namedRateState,
  quotaName,
  quotaState,
  rateState,
} from './limit-state.js';
import {
  assertDate,
  assertPeriod,
  assertSubject,
  assertUnits,
  hasLimitExtras,
  positiveOption,
  validateCreditRestore,
  validateLimitExtras,
  validateLimitRequest,
  validateTopUp,
} from './limit-request.js';
import {
  InvalidLimitRequestError,
  type CreditPolicy,
  type CreditRestore,
  type CreditTopUp,
  type CreditTopUpResult,
  type LimitDecision,
  type LimitRequest,
  type Limiter,
  type NamedRateState,
  type QuotaPeriod,
  type QuotaPolicy,
  type QuotaState,
} from './limiter.js';
import { quotaWindow } from './quota-window.js';

export interface MemoryLimiterOptions {
  /** Clock in epoch milliseconds (tests inject one). */
  now?: () => number;
  /** How often idle state is dropped; default 60 s. */
  sweepIntervalMs?: number;
  /** How long a charged check's decision is kept for its chargeId; default 24 h. */
  chargeRetentionMs?: number;
  /** At most this many chargeIds are remembered (oldest dropped first); default 100 000. */
  maxRememberedCharges?: number;
}

export interface MemoryLimiter extends Limiter {
  readonly kind: 'memory';
  /** Drops recovered rate state, ended quota windows and expired chargeIds now (also runs periodically). */
  sweep(): void;
  /** Subjects currently holding any state (for tests and metrics). */
  trackedSubjects(): number;
  /** ChargeIds currently remembered (for tests and metrics). */
  rememberedCharges(): number;
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
  /** TATs of named rate limits by `${name}:${windowSeconds}`. */
  named: Map<string, number> | undefined;
  /** Never swept: a balance is money, not idle state. */
  credits: CreditBalance | undefined;
  /** Top-ups already applied; remembered for good (they are rare). */
  topUps: Set<string> | undefined;
}

function newSubjectState(): SubjectState {
  return { tatUs: 0, minute: undefined, hour: undefined, day: undefined, month: undefined, named: undefined, credits: undefined, topUps: undefined };
}

function counterFor(state: SubjectState | undefined, period: QuotaPeriod, nowMs: number): QuotaCounter | undefined {
  const counter = state?.[period];
  return counter !== undefined && nowMs >= counter.startMs && nowMs < counter.endMs ? counter : undefined;
}

const namedKey = (name: string, windowSeconds: number) => `${name}:${windowSeconds}`;

export function createMemoryLimiter(options: MemoryLimiterOptions = {}): MemoryLimiter {
  const now = options.now ?? Date.now;
  const subjects = new Map<string, SubjectState>();
  const charges = createChargeMemory(
    positiveOption(options.chargeRetentionMs, 86_400_000, 'chargeRetentionMs'),
    positiveOption(options.maxRememberedCharges, 100_000, 'maxRememberedCharges'),
  );

  function storedTat(state: SubjectState | undefined): number | undefined {
    return state === undefined || state.tatUs === 0 ? undefined : state.tatUs;
  }

  function stateFor(subject: string): SubjectState {
    let state = subjects.get(subject);
    if (state === undefined) {
      state = newSubjectState();
      subjects.set(subject, state);
    }
    return state;
  }

  function quotaStateNow(policy: QuotaPolicy, counter: QuotaCounter | undefined, nowMs: number) {
    if (counter !== undefined) return quotaState(policy, counter.used, counter.startMs, counter.endMs);
    const window = quotaWindow(policy.period, nowMs);
    return quotaState(policy, 0, window.startMs, window.endMs);
  }

  function creditsNow(state: SubjectState | undefined, policy: CreditPolicy, nowMs: number): CreditBalance {
    const stored = state?.credits;
    return stored === undefined ? openingCreditBalance(policy, nowMs) : creditBalanceAt(stored, policy.refill, nowMs);
  }

  function chargeQuota(state: SubjectState, period: QuotaPeriod, cost: number, nowMs: number): void {
    const counter = counterFor(state, period, nowMs);
    if (counter !== undefined) counter.used += cost;
    else {
      const window = quotaWindow(period, nowMs);
      state[period] = { startMs: window.startMs, endMs: window.endMs, used: cost };
    }
  }

  /** The shared body of check and peek; `charge` false never writes. */
  function evaluate(request: Omit<LimitRequest, 'cost'>, cost: number, charge: boolean): LimitDecision {
    const params = validateLimitRequest(request, false);
    const namedParams = hasLimitExtras(request) ? validateLimitExtras(request) : undefined;
    const { rate, quota, rates, quotas, credits } = request;
    // Nothing to charge: allowed, unless a chargeId asks to remember the outcome (billed units are charges too).
    if (rate === undefined && quota === undefined && rates === undefined && quotas === undefined && credits === undefined && (!charge || request.chargeId === undefined)) {
      return { allowed: true };
    }
    const nowMs = now();
    const chargeId = charge ? request.chargeId : undefined;
    if (chargeId !== undefined) {
      const replayed = charges.replay(request.subject, chargeId, nowMs);
      if (replayed !== undefined) return replayed;
    }
    const nowUs = nowMs * 1000;
    let state = subjects.get(request.subject);
    let outcome = OUTCOME_ALLOWED;
    let refusedBy: string | undefined;

    let rateOutcome: GcraOutcome | undefined;
    if (params !== undefined) {
      rateOutcome = gcraStep(storedTat(state), nowUs, params, charge);
      // Persist the cap of a stale, stricter policy's debt (see gcraStep); not a charge.
      if (state !== undefined && state.tatUs > nowUs + params.burst * params.emissionIntervalUs) {
        state.tatUs = nowUs + params.burst * params.emissionIntervalUs;
      }
      if (!rateOutcome.allowed) outcome = OUTCOME_RATE_LIMITED;
    }

    let namedKeys: string[] | undefined;
    let namedOutcomes: GcraOutcome[] | undefined;
    if (rates !== undefined && namedParams !== undefined && rates.length > 0) {
      namedKeys = new Array<string>(rates.length);
      namedOutcomes = new Array<GcraOutcome>(rates.length);
      for (let i = 0; i < rates.length; i++) {
        const policy = rates[i]!;
        const p = namedParams[i]!;
        const key = namedKey(policy.name, policy.windowSeconds);
        const stored = state?.named?.get(key);
        const step = gcraStep(stored, nowUs, p, charge);
        if (stored !== undefined && stored > nowUs + p.burst * p.emissionIntervalUs) state!.named!.set(key, nowUs + p.burst * p.emissionIntervalUs);
        namedKeys[i] = key;
        namedOutcomes[i] = step;
        if (!step.allowed && outcome === OUTCOME_ALLOWED) {
          outcome = OUTCOME_RATE_LIMITED;
          refusedBy = policy.name;
        }
      }
    }

    const counter = quota === undefined ? undefined : counterFor(state, quota.period, nowMs);
    if (outcome === OUTCOME_ALLOWED && quota !== undefined && (counter === undefined ? 0 : counter.used) + cost > quota.limit) {
      outcome = OUTCOME_QUOTA_EXCEEDED;
    }
    if (outcome === OUTCOME_ALLOWED && quotas !== undefined) {
      for (const extra of quotas) {
        const used = counterFor(state, extra.period, nowMs)?.used ?? 0;
        if (used + cost > extra.limit) {
          outcome = OUTCOME_QUOTA_EXCEEDED;
          refusedBy = quotaName(extra);
          break;
        }
      }
    }

    const balance = credits === undefined ? undefined : creditsNow(state, credits, nowMs);
    if (outcome === OUTCOME_ALLOWED && balance !== undefined && balance.balance < cost) {
      outcome = OUTCOME_CREDITS_EXHAUSTED;
      refusedBy = CREDITS_NAME;
    }

    let balanceAfter = balance?.balance ?? 0;
    if (charge && outcome === OUTCOME_ALLOWED) {
      const writesState = rateOutcome !== undefined || namedOutcomes !== undefined || cost > 0;
      if (writesState) {
        state ??= stateFor(request.subject);
        if (rateOutcome !== undefined) state.tatUs = rateOutcome.tatUs;
        if (namedOutcomes !== undefined) {
          state.named ??= new Map();
          for (let i = 0; i < namedOutcomes.length; i++) state.named.set(namedKeys![i]!, namedOutcomes[i]!.tatUs);
        }
        if (cost > 0) {
          if (quota !== undefined) chargeQuota(state, quota.period, cost, nowMs);
          if (quotas !== undefined) for (const extra of quotas) chargeQuota(state, extra.period, cost, nowMs);
          if (balance !== undefined) {
            balanceAfter -= cost;
            state.credits = { balance: balanceAfter, periodStartMs: balance.periodStartMs };
          }
        }
      }
    } else if (charge && outcome !== OUTCOME_ALLOWED) {
      // Rate steps that conformed were computed as if charged; report the uncharged state instead.
      if (rateOutcome !== undefined && rateOutcome.allowed) rateOutcome = gcraStep(storedTat(state), nowUs, params!, false);
      if (namedOutcomes !== undefined) {
        for (let i = 0; i < namedOutcomes.length; i++) {
          if (namedOutcomes[i]!.allowed) namedOutcomes[i] = gcraStep(state?.named?.get(namedKeys![i]!), nowUs, namedParams![i]!, false);
        }
      }
    }

    const rateView = rateOutcome === undefined || rate === undefined ? undefined : rateState(rate, rateOutcome.remaining, rateOutcome.resetUs, rateOutcome.retryAfterUs);
    const quotaView = quota === undefined ? undefined : quotaStateNow(quota, counterFor(state, quota.period, nowMs), nowMs);
    const result = decision(outcome, rateView, quotaView);
    if (refusedBy !== undefined) result.refusedBy = refusedBy;
    if (namedOutcomes !== undefined) {
      const views = new Array<NamedRateState>(namedOutcomes.length);
      for (let i = 0; i < namedOutcomes.length; i++) {
        const step = namedOutcomes[i]!;
        views[i] = namedRateState(rates![i]!, step.remaining, step.resetUs, step.retryAfterUs);
      }
      result.rates = views;
    } else if (rates !== undefined) result.rates = [];
    if (quotas !== undefined) {
      const views = new Array<QuotaState>(quotas.length);
      for (let i = 0; i < quotas.length; i++) views[i] = quotaStateNow(quotas[i]!, counterFor(state, quotas[i]!.period, nowMs), nowMs);
      result.quotas = views;
    }
    if (credits !== undefined) result.credits = creditState(credits, balanceAfter, nextRefillMs(credits.refill, nowMs));
    if (chargeId !== undefined && outcome === OUTCOME_ALLOWED) charges.remember(request.subject, chargeId, result, nowMs);
    return result;
  }

  function addCredits(topUp: CreditTopUp): CreditTopUpResult {
    validateTopUp(topUp);
    const nowMs = now();
    const state = stateFor(topUp.subject);
    const current = creditsNow(state, topUp.credits, nowMs);
    state.topUps ??= new Set();
    const fresh = !state.topUps.has(topUp.topUpId);
    state.topUps.add(topUp.topUpId);
    const applies = fresh && survivesRefill(topUp.credits.refill, topUp.at?.getTime() ?? nowMs, nowMs);
    const balance = applies ? Math.min(Number.MAX_SAFE_INTEGER, current.balance + topUp.amount) : current.balance;
    state.credits = { balance, periodStartMs: current.periodStartMs };
    return { applied: applies, balance };
  }

  function restoreCredits(restore: CreditRestore): void {
    validateCreditRestore(restore);
    const nowMs = now();
    const state = stateFor(restore.subject);
    const current = creditsNow(state, restore.credits, nowMs);
    const counts = survivesRefill(restore.credits.refill, restore.windowStart.getTime(), nowMs);
    state.credits = { balance: counts ? Math.max(0, current.balance - restore.spent) : current.balance, periodStartMs: current.periodStartMs };
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
      if (state.named !== undefined) {
        for (const [key, tat] of state.named) if (tat <= nowUs) state.named.delete(key);
        if (state.named.size === 0) state.named = undefined;
      }
      if (
        state.tatUs === 0 &&
        state.minute === undefined &&
        state.hour === undefined &&
        state.day === undefined &&
        state.month === undefined &&
        state.named === undefined &&
        state.credits === undefined &&
        state.topUps === undefined
      ) {
        subjects.delete(subject);
      }
    }
    charges.sweep(nowMs);
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
        assertDate(windowStart, 'windowStart');
        const window = quotaWindow(period, windowStart.getTime());
        const nowMs = now();
        // Ended windows no longer matter; a window that has not begun cannot have usage yet (a skewed
        // ledger clock), and one counter per period only ever tracks the current window.
        if (units === 0 || window.endMs <= nowMs || window.startMs > nowMs) return Promise.resolve();
        const state = stateFor(subject);
        const counter = state[period];
        if (counter !== undefined && counter.startMs === window.startMs) counter.used += units;
        else state[period] = { startMs: window.startMs, endMs: window.endMs, used: units };
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error);
      }
    },
    addCredits(topUp: CreditTopUp): Promise<CreditTopUpResult> {
      try {
        return Promise.resolve(addCredits(topUp));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    restoreCredits(restore: CreditRestore): Promise<void> {
      try {
        restoreCredits(restore);
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error);
      }
    },
    close(): Promise<void> {
      clearInterval(timer);
      subjects.clear();
      charges.clear();
      return Promise.resolve();
    },
    sweep,
    trackedSubjects: () => subjects.size,
    rememberedCharges: () => charges.size,
  };
}
