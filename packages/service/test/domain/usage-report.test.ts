/** Usage reports: replayed usage priced with the plan version in force, integer money, CSV. */
import type { PlanEvent, PlanTerms } from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';
import { foldPlan } from '../../src/domain/plans/index.js';
import { buildUsageReport, parsePeriod, type ReportedKey, usageReportCsv } from '../../src/domain/usage/usage-report.js';

const terms: PlanTerms = {
  name: 'Starter', rateLimits: [], quota: null, credits: null, scopes: [], endpoints: [], networks: [], approvalRequired: false,
  price: { currency: 'EUR', flatFee: 1900, includedUnits: 1000, unitPricePer1000: 50 },
    leakAction: null,
};
const plan = foldPlan([
  { event: { type: 'PlanDefined', data: { planId: 'starter', version: 1, ...terms } } as PlanEvent, revision: 0, occurredAt: '2026-10-01T00:00:00.000Z' },
  { event: { type: 'PlanRevised', data: { planId: 'starter', version: 2, ...terms, price: { ...terms.price!, unitPricePer1000: 100 } } } as PlanEvent, revision: 1, occurredAt: '2026-11-15T00:00:00.000Z' },
])!;
const plans = new Map([['starter', plan]]);
const keys: ReportedKey[] = [
  { keyId: 'key_a000000000000000', consumerId: 'acme', planId: 'starter', createdAt: '2026-10-02T00:00:00.000Z', revokedAt: null },
  { keyId: 'key_b000000000000000', consumerId: 'acme', planId: null, createdAt: '2026-10-02T00:00:00.000Z', revokedAt: null },
];
const slices = [
  { keyId: 'key_a000000000000000', from: '2026-11-01T10:00:00.000Z', counts: { VALID: 1500, RATE_LIMITED: 10 }, units: 1500 },
  { keyId: 'key_a000000000000000', from: '2026-11-20T10:00:00.000Z', counts: { VALID: 1000 }, units: 1000 },
  { keyId: 'key_b000000000000000', from: '2026-11-20T11:00:00.000Z', counts: { VALID: 7, QUOTA_EXCEEDED: 2 }, units: 7 },
  // Outside the period: October and December.
  { keyId: 'key_a000000000000000', from: '2026-10-31T23:59:59.000Z', counts: { VALID: 99 }, units: 99 },
  { keyId: 'key_a000000000000000', from: '2026-12-01T00:00:00.000Z', counts: { VALID: 99 }, units: 99 },
];
const report = (nowMs = Date.parse('2026-12-05T00:00:00Z'), order = slices) =>
  buildUsageReport({ period: parsePeriod('2026-11'), consumerId: 'acme', planId: null, keys, slices: order, plans, nowMs });

describe('usage report', () => {
  it('given usage across a plan revision, then units by key, day and outcome, and the charge per version in force', () => {
    const r = report();
    expect(r).toMatchObject({ period: '2026-11', final: true, currency: 'EUR', units: 2507, flatFee: 1900, includedUnits: 1000, billableUnits: 1500 });
    // v1: 500 beyond included at 50/1000 = 25; v2: 1000 at 100/1000 = 100.
    expect(r.charge).toBe(1900 + 25 + 100);
    expect(r.byOutcome).toEqual({ VALID: 2507, RATE_LIMITED: 10, QUOTA_EXCEEDED: 2 });
    expect(r.byDay.map((d) => [d.day, d.units])).toEqual([['2026-11-01', 1500], ['2026-11-20', 1007]]);
    expect(r.byKey.map((k) => [k.keyId, k.units])).toEqual([['key_a000000000000000', 2500], ['key_b000000000000000', 7]]);
    expect(r.byPlanVersion).toEqual([{ planId: 'starter', version: 1, units: 1500 }, { planId: 'starter', version: 2, units: 1000 }]);
  });

  it('gives the same report whatever order the usage events were read in', () => {
    expect(report(undefined, [...slices].reverse())).toEqual(report());
  });

  it('an open period is not final; a plan held without usage still owes its flat fee', () => {
    expect(report(Date.parse('2026-11-20T00:00:00Z')).final).toBe(false);
    const idle = buildUsageReport({ period: parsePeriod('2026-11'), consumerId: 'acme', planId: null, keys, slices: [], plans, nowMs: 0 });
    expect(idle).toMatchObject({ units: 0, charge: 1900, currency: 'EUR' });
    const revokedBefore = buildUsageReport({ period: parsePeriod('2026-11'), consumerId: 'acme', planId: null, keys: [{ ...keys[0]!, revokedAt: '2026-10-20T00:00:00Z' }], slices: [], plans, nowMs: 0 });
    expect(revokedBefore.charge).toBe(0);
  });

  it('a period that is not YYYY-MM is INVALID_ARGUMENT (period-format)', () => {
    for (const bad of ['2026-13', '2026-1', '26-11', '2026-11-01', 'november']) {
      expect(() => parsePeriod(bad)).toThrow(DomainError);
      try {
        parsePeriod(bad);
      } catch (error) {
        expect((error as DomainError).rule).toBe('period-format');
      }
    }
    expect(parsePeriod('2026-12')).toEqual({ label: '2026-12', fromMs: Date.UTC(2026, 11, 1), toMs: Date.UTC(2027, 0, 1) });
  });

  it('CSV: one row per key and a total row with the charge', () => {
    const csv = usageReportCsv(report()).trim().split('\n');
    expect(csv[0]).toBe('period,consumer_id,plan_id,key_id,units,valid,refused,currency,charge_minor_units');
    expect(csv[1]).toBe('2026-11,acme,starter,key_a000000000000000,2500,2500,10,EUR,');
    expect(csv.at(-1)).toBe('2026-11,acme,,TOTAL,2507,2507,12,EUR,2025');
  });
});
