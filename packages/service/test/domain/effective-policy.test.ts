/** Effective policy: a key never reaches beyond its plan, and verify enforces plan and key together. */
import type { PlanTerms } from '@keyledger/schemas';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../src/domain/errors.js';
import { assertWithinPlan, effectivePolicy, endpointRuleWithin, type KeyLimits } from '../../src/domain/policy/effective-policy.js';
import { cidrWithin, networkList } from '../../src/domain/policy/networks.js';
import { chargeFor } from '../../src/domain/policy/pricing.js';

const plan: PlanTerms = {
  name: 'Starter',
  rateLimits: [
    { name: 'burst', limit: 5, windowSeconds: 1 },
    { name: 'sustained', limit: 1000, windowSeconds: 3600 },
  ],
  quota: { limit: 10_000, period: 'month' },
  credits: null,
  scopes: ['orders:read', 'orders:write', 'billing:*'],
  endpoints: ['GET /orders/**', 'POST /orders'],
  networks: ['10.0.0.0/8'],
  approvalRequired: false,
  price: { currency: 'EUR', flatFee: 1900, includedUnits: 1000, unitPricePer1000: 50 },
    leakAction: null,
};
const key = (overrides: Partial<KeyLimits> = {}): KeyLimits => ({ scopes: [], endpoints: [], networks: [], rateLimit: null, quota: null, ...overrides });
const rule = (fn: () => void) => {
  try {
    fn();
  } catch (error) {
    return (error as DomainError).rule;
  }
  return null;
};

describe('assertWithinPlan', () => {
  it('accepts a key that narrows the plan', () => {
    expect(rule(() => assertWithinPlan(key({ scopes: ['orders:read', 'billing:invoices'], endpoints: ['GET /orders/*'], networks: ['10.1.0.0/16'], rateLimit: { limit: 3, windowSeconds: 1 }, quota: { limit: 10, period: 'month' } }), plan, 'starter'))).toBeNull();
  });

  it('refuses scopes, endpoint rules and networks beyond the plan, naming the rule', () => {
    expect(rule(() => assertWithinPlan(key({ scopes: ['admin:all'] }), plan, 'starter'))).toBe('scopes-within-plan');
    expect(rule(() => assertWithinPlan(key({ scopes: ['orders:*'] }), plan, 'starter'))).toBe('scopes-within-plan');
    expect(rule(() => assertWithinPlan(key({ endpoints: ['DELETE /orders/1'] }), plan, 'starter'))).toBe('endpoints-within-plan');
    expect(rule(() => assertWithinPlan(key({ networks: ['0.0.0.0/0'] }), plan, 'starter'))).toBe('networks-within-plan');
  });

  it('refuses a rate limit or quota above the plan for the same window or period', () => {
    expect(rule(() => assertWithinPlan(key({ rateLimit: { limit: 6, windowSeconds: 1 } }), plan, 'starter'))).toBe('limits-only-lower');
    expect(rule(() => assertWithinPlan(key({ quota: { limit: 10_001, period: 'month' } }), plan, 'starter'))).toBe('limits-only-lower');
    // Another window is an extra limit, charged together with the plan's: it can only narrow.
    expect(rule(() => assertWithinPlan(key({ rateLimit: { limit: 100, windowSeconds: 60 } }), plan, 'starter'))).toBeNull();
  });
});

describe('effectivePolicy', () => {
  it('charges every plan limit plus the key limit; the lower quota of a period wins; networks stack', () => {
    const policy = effectivePolicy(key({ rateLimit: { limit: 2, windowSeconds: 1 }, quota: { limit: 50, period: 'month' }, networks: ['10.1.0.0/16'] }), { id: 'starter', version: 3, terms: plan }, ['10.0.0.0/9']);
    expect(policy.rateLimits.map((r) => r.name)).toEqual(['burst', 'sustained', 'key']);
    expect(policy.quotas).toEqual([{ limit: 50, period: 'month' }]);
    expect(policy.networkLists).toEqual([['10.0.0.0/9'], ['10.0.0.0/8'], ['10.1.0.0/16']]);
    expect(policy.plan).toEqual({ id: 'starter', version: 3 });
    expect(policy.scopes).toEqual(plan.scopes);
  });

  it("uses the key's own scopes when it names some, and no plan means the key alone", () => {
    expect(effectivePolicy(key({ scopes: ['orders:read'] }), { id: 'starter', version: 1, terms: plan }, []).scopes).toEqual(['orders:read']);
    expect(effectivePolicy(key({ scopes: ['a:b'] }), null, [])).toMatchObject({ scopes: ['a:b'], rateLimits: [], quotas: [], plan: null, networkLists: [] });
  });
});

describe('endpoint rule and network containment', () => {
  it('endpointRuleWithin', () => {
    expect(endpointRuleWithin('GET /orders/*', 'GET /orders/**')).toBe(true);
    expect(endpointRuleWithin('GET /orders/**', 'GET /orders/*')).toBe(false);
    expect(endpointRuleWithin('GET /orders/1', '* /orders/*')).toBe(true);
    expect(endpointRuleWithin('* /orders/1', 'GET /orders/*')).toBe(false);
    expect(endpointRuleWithin('GET /orders', 'GET /orders/**')).toBe(true);
  });

  it('cidrWithin and networkList (IPv4, IPv6, IPv4-mapped)', () => {
    expect(cidrWithin('10.1.0.0/16', '10.0.0.0/8')).toBe(true);
    expect(cidrWithin('10.0.0.0/8', '10.1.0.0/16')).toBe(false);
    expect(cidrWithin('2001:db8:1::/48', '2001:db8::/32')).toBe(true);
    expect(cidrWithin('10.0.0.1', '10.0.0.0/24')).toBe(true);
    const list = networkList(['203.0.113.0/24', '2001:db8::/32']);
    expect(list.allows('203.0.113.9')).toBe(true);
    expect(list.allows('198.51.100.1')).toBe(false);
    expect(list.allows('2001:db8::1')).toBe(true);
    expect(list.allows('not an ip')).toBe(false);
    expect(networkList([]).allows('198.51.100.1')).toBe(true);
  });
});

describe('chargeFor (integer minor units)', () => {
  const price = plan.price!;
  it('flat fee, included units, then per 1,000 units, rounded half up once', () => {
    expect(chargeFor([{ version: 1, price, units: 999 }])).toMatchObject({ total: 1900, billableUnits: 0 });
    expect(chargeFor([{ version: 1, price, units: 3000 }])).toMatchObject({ total: 1900 + 100, billableUnits: 2000, includedUnits: 1000 });
    // 1,010 units beyond at 50 per 1,000 = 50.5 -> 51
    expect(chargeFor([{ version: 1, price, units: 2010 }]).total).toBe(1900 + 51);
    expect(chargeFor([{ version: 1, price, units: 2009 }]).total).toBe(1900 + 50);
  });

  it('prices each slice with its own version; included units are shared across the period', () => {
    const dearer = { ...price, unitPricePer1000: 100, includedUnits: 1500 };
    const charge = chargeFor([
      { version: 1, price, units: 1200 },
      { version: 2, price: dearer, units: 1000 },
    ]);
    // v1: 1000 included, 200 beyond at 50/1000 = 10; v2: 500 more included (1500 - 1000), 500 at 100/1000 = 50.
    expect(charge).toMatchObject({ currency: 'EUR', flatFee: 1900, includedUnits: 1500, billableUnits: 700, total: 1900 + 60 });
  });

  it('no price: nothing to charge', () => {
    expect(chargeFor([{ version: 1, price: null, units: 10 }])).toEqual({ currency: null, flatFee: 0, includedUnits: 0, billableUnits: 0, total: 0 });
  });
});
