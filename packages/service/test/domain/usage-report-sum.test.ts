/** A plan's usage report is the sum of its consumers' bills: each keeps its own flat fee and included units. */
import type { PlanEvent, PlanTerms } from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';
import { foldPlan } from '../../src/domain/plans/index.js';
import { buildUsageReport, parsePeriod, type ReportedKey, sumUsageReports } from '../../src/domain/usage/usage-report.js';

const terms: PlanTerms = {
  name: 'Starter', rateLimits: [], quota: null, credits: null, scopes: [], endpoints: [], networks: [], approvalRequired: false,
  price: { currency: 'EUR', flatFee: 1900, includedUnits: 1000, unitPricePer1000: 50 },
  leakAction: null,
};
const plan = foldPlan([{ event: { type: 'PlanDefined', data: { planId: 'starter', version: 1, ...terms } } as PlanEvent, revision: 0, occurredAt: '2026-10-01T00:00:00.000Z' }])!;
const plans = new Map([['starter', plan]]);
const period = parsePeriod('2026-11');
const key = (keyId: string, consumerId: string): ReportedKey => ({ keyId, consumerId, planId: 'starter', createdAt: '2026-10-02T00:00:00.000Z', revokedAt: null });
const slices = [
  { keyId: 'key_a000000000000000', from: '2026-11-03T10:00:00.000Z', counts: { VALID: 1500, RATE_LIMITED: 3 }, units: 1500 },
  { keyId: 'key_b000000000000000', from: '2026-11-03T11:00:00.000Z', counts: { VALID: 800 }, units: 800 },
];
const nowMs = Date.parse('2026-12-05T00:00:00Z');
const of = (consumerId: string, keys: ReportedKey[]) => buildUsageReport({ period, consumerId, planId: 'starter', keys, slices, plans, nowMs });

describe('sumUsageReports', () => {
  it("given two consumers on one plan, then the plan's report sums their bills (two flat fees, included units each)", () => {
    const acme = of('acme', [key('key_a000000000000000', 'acme')]);
    const delta = of('delta', [key('key_b000000000000000', 'delta')]);
    // acme: 1900 + 500 beyond at 50/1000 = 25; delta: 1900, its 800 within its own 1000 included.
    expect([acme.charge, delta.charge]).toEqual([1925, 1900]);
    const sum = sumUsageReports([delta, acme], { period, consumerId: null, planId: 'starter', nowMs });
    expect(sum).toMatchObject({ period: '2026-11', final: true, consumerId: null, planId: 'starter', currency: 'EUR', units: 2300, charge: 3825, flatFee: 3800, includedUnits: 1800, billableUnits: 500 });
    expect(sum.byKey.map((row) => row.keyId)).toEqual(['key_a000000000000000', 'key_b000000000000000']);
    expect(sum.byDay).toEqual([{ day: '2026-11-03', units: 2300, verifications: { VALID: 2300, RATE_LIMITED: 3 } }]);
    expect(sum.byOutcome).toEqual({ VALID: 2300, RATE_LIMITED: 3 });
    expect(sum.byPlanVersion).toEqual([{ planId: 'starter', version: 1, units: 2300 }]);
  });

  it('given no consumers, then an empty report; given several currencies, then RULE_VIOLATED (single-currency)', () => {
    expect(sumUsageReports([], { period, consumerId: null, planId: 'starter', nowMs })).toMatchObject({ units: 0, charge: 0, currency: null, byKey: [] });
    const eur = of('acme', [key('key_a000000000000000', 'acme')]);
    expect(() => sumUsageReports([eur, { ...eur, currency: 'USD' }], { period, consumerId: null, planId: 'starter', nowMs })).toThrow(DomainError);
  });
});

describe('flat fee', () => {
  const revised = foldPlan([
    { event: { type: 'PlanDefined', data: { planId: 'starter', version: 1, ...terms } } as PlanEvent, revision: 0, occurredAt: '2026-10-01T00:00:00.000Z' },
    { event: { type: 'PlanRevised', data: { planId: 'starter', version: 2, ...terms, price: { ...terms.price!, flatFee: 4900 } } } as PlanEvent, revision: 1, occurredAt: '2026-11-15T00:00:00.000Z' },
  ])!;
  const report = (keys: ReportedKey[], usage = [{ keyId: 'key_a000000000000000', from: '2026-11-20T10:00:00.000Z', counts: { VALID: 10 }, units: 10 }]) =>
    buildUsageReport({ period, consumerId: 'acme', planId: null, keys, slices: usage, plans: new Map([['starter', revised]]), nowMs });

  it('given a key held since before the period and units only after a mid-month revision, then the flat fee of the version in force when the period began', () => {
    expect(report([key('key_a000000000000000', 'acme')])).toMatchObject({ flatFee: 1900, charge: 1900, units: 10 });
  });

  it('given a first key issued after the revision, then the flat fee of the version in force then', () => {
    expect(report([{ ...key('key_a000000000000000', 'acme'), createdAt: '2026-11-18T00:00:00.000Z' }])).toMatchObject({ flatFee: 4900, charge: 4900 });
  });

  it('gives the same flat fee with or without usage', () => {
    expect(report([key('key_a000000000000000', 'acme')], []).flatFee).toBe(1900);
  });
});
