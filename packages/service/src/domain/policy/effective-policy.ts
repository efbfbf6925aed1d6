/**
 * A key's effective policy: its plan's current version narrowed by the key's own settings, and
 * the consumer's allowed networks on top. Two jobs:
 * - `assertWithinPlan` refuses (422, naming the rule) a key that would reach beyond its plan when
 *   it is issued or changed: scopes a subset of the plan's, endpoint rules within the plan's,
 *   networks within the plan's, and a rate limit or quota never above the plan's for the same
 *   window or period;
 * - `effectivePolicy` computes what verify enforces: every limit of the plan and of the key
 *   (charged together or not at all, so an extra key-level limit can only narrow), the scopes and
 *   endpoint rules of the key (the plan's when the key names none), and every network list that
 *   applies (consumer, plan, key: an address must be in each non-empty one).
 */
import { type Credits, type NamedRateLimit, type PlanTerms, type Quota, type RateLimit, scopeCovers } from '@keyledger/schemas';
import { DomainError } from '../errors.js';
import { cidrWithin } from './networks.js';

/** The settings of a key that a plan bounds. */
export interface KeyLimits {
  scopes: readonly string[];
  endpoints: readonly string[];
  networks: readonly string[];
  rateLimit: RateLimit | null;
  quota: Quota | null;
}

export interface EffectivePolicy {
  scopes: readonly string[];
  endpoints: readonly string[];
  rateLimits: readonly NamedRateLimit[];
  quotas: readonly Quota[];
  credits: Credits | null;
  /** Each non-empty list must contain the client address. */
  networkLists: readonly (readonly string[])[];
  plan: { id: string; version: number } | null;
}

function refuse(rule: string, message: string): never {
  throw new DomainError('INVALID_ARGUMENT', message, rule);
}

/** True when every request `inner` allows, `outer` allows too (method and path patterns). */
export function endpointRuleWithin(inner: string, outer: string): boolean {
  const [innerMethod, innerPath] = inner.split(' ') as [string, string];
  const [outerMethod, outerPath] = outer.split(' ') as [string, string];
  if (outerMethod !== '*' && outerMethod !== innerMethod) return false;
  const a = innerPath.split('/');
  const b = outerPath.split('/');
  for (let i = 0; i < b.length; i++) {
    const segment = b[i];
    if (segment === '**' && i === b.length - 1) return a.length >= b.length - 1;
    if (i >= a.length) return false;
    const mine = a[i] as string;
    if (segment === '*') {
      if (mine === '**' || mine === '') return false;
      continue;
    }
    if (segment !== mine) return false;
  }
  return a.length === b.length;
}

export function assertWithinPlan(key: KeyLimits, plan: PlanTerms, planId: string): void {
  const beyondScopes = key.scopes.filter((scope) => !plan.scopes.some((granted) => scopeCovers(granted, scope)));
  if (beyondScopes.length > 0) {
    refuse('scopes-within-plan', `scopes beyond plan ${planId}: ${beyondScopes.join(', ')} (the plan allows ${plan.scopes.join(', ') || 'no scopes'})`);
  }
  if (plan.endpoints.length > 0) {
    const beyond = key.endpoints.filter((rule) => !plan.endpoints.some((outer) => endpointRuleWithin(rule, outer)));
    if (beyond.length > 0) refuse('endpoints-within-plan', `endpoint rules beyond plan ${planId}: ${beyond.join(', ')}`);
  }
  if (plan.networks.length > 0) {
    const beyond = key.networks.filter((cidr) => !plan.networks.some((outer) => cidrWithin(cidr, outer)));
    if (beyond.length > 0) refuse('networks-within-plan', `networks beyond plan ${planId}: ${beyond.join(', ')}`);
  }
  if (key.rateLimit) {
    const rate = key.rateLimit;
    const above = plan.rateLimits.find((limit) => limit.windowSeconds === rate.windowSeconds && rate.limit > limit.limit);
    if (above) {
      refuse('limits-only-lower', `rateLimit ${rate.limit}/${rate.windowSeconds}s is above plan ${planId}'s '${above.name}' limit of ${above.limit}/${above.windowSeconds}s`);
    }
  }
  if (key.quota && plan.quota && key.quota.period === plan.quota.period && key.quota.limit > plan.quota.limit) {
    refuse('limits-only-lower', `quota ${key.quota.limit} per ${key.quota.period} is above plan ${planId}'s ${plan.quota.limit} per ${plan.quota.period}`);
  }
}

export function effectivePolicy(
  key: KeyLimits,
  plan: { id: string; version: number; terms: PlanTerms } | null,
  consumerNetworks: readonly string[],
): EffectivePolicy {
  const rateLimits: NamedRateLimit[] = [...(plan?.terms.rateLimits ?? [])];
  if (key.rateLimit) rateLimits.push({ name: 'key', ...key.rateLimit });
  const quotas: Quota[] = [];
  if (plan?.terms.quota) quotas.push(plan.terms.quota);
  if (key.quota) {
    const samePeriod = quotas.findIndex((quota) => quota.period === key.quota?.period);
    if (samePeriod === -1) quotas.push(key.quota);
    else quotas[samePeriod] = { period: key.quota.period, limit: Math.min(key.quota.limit, (quotas[samePeriod] as Quota).limit) };
  }
  return {
    scopes: plan && key.scopes.length === 0 ? plan.terms.scopes : key.scopes,
    endpoints: plan && key.endpoints.length === 0 ? plan.terms.endpoints : key.endpoints,
    rateLimits,
    quotas,
    credits: plan?.terms.credits ?? null,
    networkLists: [consumerNetworks, plan?.terms.networks ?? [], key.networks].filter((list) => list.length > 0),
    plan: plan ? { id: plan.id, version: plan.version } : null,
  };
}
