/** The plan decider, given/when/then: define, revise (numbered versions), retire, money rules. */
import type { PlanEvent, PlanTerms } from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';
import { currentVersion, decidePlan, foldPlan, type PlanCommand, type ProposedTerms, versionAt } from '../../src/domain/plans/index.js';
import { recordedAt } from './given.js';

const terms: PlanTerms = {
  name: 'Starter',
  rateLimits: [
    { name: 'burst', limit: 5, windowSeconds: 1 },
    { name: 'sustained', limit: 1000, windowSeconds: 3600 },
  ],
  quota: { limit: 10_000, period: 'month' },
  credits: null,
  scopes: ['orders:read', 'orders:write'],
  endpoints: [],
  networks: [],
  approvalRequired: false,
  price: { currency: 'EUR', flatFee: 1900, includedUnits: 1000, unitPricePer1000: 50 },
    leakAction: null,
};
const defined: PlanEvent = { type: 'PlanDefined', data: { planId: 'starter', version: 1, ...terms } };
const revised: PlanEvent = { type: 'PlanRevised', data: { planId: 'starter', version: 2, ...terms, quota: { limit: 20_000, period: 'month' } } };
const retired: PlanEvent = { type: 'PlanRetired', data: { planId: 'starter', reason: 'legacy' } };
const fold = (history: PlanEvent[]) => foldPlan(history.map((event, revision) => ({ event, revision, occurredAt: recordedAt(revision) })));

function outcome(history: PlanEvent[], command: PlanCommand): PlanEvent[] | DomainError {
  try {
    return decidePlan(command, fold(history));
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
}

describe('plan decider', () => {
  it('given nothing, when defined, then PlanDefined as version 1', () => {
    expect(outcome([], { type: 'DefinePlan', planId: 'starter', terms })).toEqual([defined]);
  });

  it('given a plan, when defined again, then EXISTS', () => {
    expect(outcome([defined], { type: 'DefinePlan', planId: 'starter', terms })).toMatchObject({ code: 'EXISTS', rule: 'plan-exists' });
  });

  it('given a plan, when revised twice, then versions 2 and 3; the version in force follows time', () => {
    expect(outcome([defined], { type: 'RevisePlan', terms: revised.data as unknown as ProposedTerms })).toEqual([
      { type: 'PlanRevised', data: { ...revised.data, version: 2 } },
    ]);
    expect(outcome([defined, revised], { type: 'RevisePlan', terms })).toMatchObject([{ data: { version: 3 } }]);
    const plan = fold([defined, revised])!;
    expect(currentVersion(plan).version).toBe(2);
    expect(versionAt(plan, Date.parse(recordedAt(0)) + 1).version).toBe(1);
    expect(versionAt(plan, Date.parse(recordedAt(1))).version).toBe(2);
  });

  it('given a retired plan, when revised or retired, then INVALID_TRANSITION (plan-retired)', () => {
    expect(outcome([defined, retired], { type: 'RevisePlan', terms })).toMatchObject({ code: 'INVALID_TRANSITION', rule: 'plan-retired' });
    expect(outcome([defined, retired], { type: 'RetirePlan', reason: null })).toMatchObject({ code: 'INVALID_TRANSITION' });
  });

  it('given a price with fractions of a minor unit, when defined, then INVALID_ARGUMENT naming the field', () => {
    const fractional = { ...terms, price: { ...terms.price!, flatFee: 19.5 } };
    const error = outcome([], { type: 'DefinePlan', planId: 'p', terms: fractional }) as DomainError;
    expect(error).toBeInstanceOf(DomainError);
    expect(error.rule).toBe('price-whole-minor-units');
    expect(error.message).toMatch(/price\.flatFee must be a whole, non-negative number of minor units of EUR .* got 19\.5/);
    expect(outcome([], { type: 'DefinePlan', planId: 'p', terms: { ...terms, price: { ...terms.price!, unitPricePer1000: 0.1 } } })).toMatchObject({ rule: 'price-whole-minor-units' });
  });

  it('given rate limits with one name twice, when defined, then INVALID_ARGUMENT', () => {
    const twice = { ...terms, rateLimits: [terms.rateLimits[0]!, { ...terms.rateLimits[1]!, name: 'burst' }] };
    expect(outcome([], { type: 'DefinePlan', planId: 'p', terms: twice })).toMatchObject({ rule: 'rate-limit-names-unique' });
  });

  it('given a bad currency or scope, when defined, then INVALID_ARGUMENT from the event schema', () => {
    expect(outcome([], { type: 'DefinePlan', planId: 'p', terms: { ...terms, price: { ...terms.price!, currency: 'euro' } } })).toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('refuses rate limit names that label other limits (rate-limit-name-reserved)', () => {
    for (const name of ['quota', 'credits', 'key', 'rate', 'quota-month']) {
      const terms_ = { ...terms, rateLimits: [{ name, limit: 1, windowSeconds: 1 }] };
      expect(outcome([], { type: 'DefinePlan', planId: 'p', terms: terms_ })).toMatchObject({ code: 'INVALID_ARGUMENT', rule: 'rate-limit-name-reserved' });
    }
  });
});
