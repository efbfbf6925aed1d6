/**
 * The plan decider: define (version 1), revise (a whole new numbered version: keys on the plan get
 * its terms at once), retire (no new keys; existing keys keep working). Money must be whole minor
 * units: the API accepts any JSON number so that `19.5` is refused here, naming the field, instead
 * of failing as a generic schema error.
 */
import type { PlanEvent, PlanTerms } from '@keyledger/schemas';
import { DomainError } from '../errors.js';
import { unique, validated } from '../validate-event.js';
import type { PlanState } from './state.js';

/** Terms as a caller sends them: money fields may still be fractions (refused by decide). */
export type ProposedTerms = Omit<PlanTerms, 'price'> & {
  price: { currency: string; flatFee: number; includedUnits: number; unitPricePer1000: number } | null;
};

export type PlanCommand =
  | { type: 'DefinePlan'; planId: string; terms: ProposedTerms }
  | { type: 'RevisePlan'; terms: ProposedTerms }
  | { type: 'RetirePlan'; reason: string | null };

export function decidePlan(command: PlanCommand, state: PlanState | null): PlanEvent[] {
  return validated(decideUnchecked(command, state));
}

function decideUnchecked(command: PlanCommand, state: PlanState | null): PlanEvent[] {
  if (command.type === 'DefinePlan') {
    if (state !== null) throw new DomainError('EXISTS', `plan ${state.id} already exists`, 'plan-exists');
    return [{ type: 'PlanDefined', data: { planId: command.planId, version: 1, ...checkedTerms(command.terms) } }];
  }
  if (state === null) throw new DomainError('NOT_FOUND', 'plan not found');
  if (state.retired) {
    throw new DomainError('INVALID_TRANSITION', `plan ${state.id} is retired; a retired plan cannot change`, 'plan-retired');
  }
  if (command.type === 'RevisePlan') {
    const version = (state.versions.at(-1)?.version ?? 0) + 1;
    return [{ type: 'PlanRevised', data: { planId: state.id, version, ...checkedTerms(command.terms) } }];
  }
  return [{ type: 'PlanRetired', data: { planId: state.id, reason: command.reason } }];
}

const MONEY_FIELDS = ['flatFee', 'includedUnits', 'unitPricePer1000'] as const;
const RESERVED_LIMIT_NAMES = /^(rate|key|quota|credits|quota-(minute|hour|day|month))$/;

function checkedTerms(terms: ProposedTerms): PlanTerms {
  if (terms.price !== null) {
    for (const field of MONEY_FIELDS) {
      const value = terms.price[field];
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new DomainError(
          'INVALID_ARGUMENT',
          `price.${field} must be a whole, non-negative number of ${field === 'includedUnits' ? 'units' : `minor units of ${terms.price.currency} (e.g. cents)`}, got ${value}`,
          'price-whole-minor-units',
        );
      }
    }
  }
  const names = terms.rateLimits.map((limit) => limit.name);
  const repeated = names.filter((name, index) => names.indexOf(name) !== index);
  if (repeated.length > 0) {
    throw new DomainError('INVALID_ARGUMENT', `rate limit names must be unique, repeated: ${unique(repeated).join(', ')}`, 'rate-limit-names-unique');
  }
  // These names label other limits in verify answers and RateLimit headers (a key's own rate limit, quotas, credits).
  const reserved = names.filter((name) => RESERVED_LIMIT_NAMES.test(name));
  if (reserved.length > 0) {
    throw new DomainError('INVALID_ARGUMENT', `rate limit names ${unique(reserved).join(', ')} are reserved (rate, key, quota, quota-<period>, credits)`, 'rate-limit-name-reserved');
  }
  return {
    ...terms,
    scopes: unique(terms.scopes),
    endpoints: unique(terms.endpoints),
    networks: unique(terms.networks),
    price: terms.price as PlanTerms['price'],
  };
}
