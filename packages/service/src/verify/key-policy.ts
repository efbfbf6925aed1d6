/**
 * What verify enforces for one key: its own settings, narrowed by its consumer's status and
 * networks and, for a key on a plan, by the plan's current version (domain/policy/effective-policy).
 * Computed once per (key revision, consumer state, plan state) and kept until one of them changes:
 * the read models replace a state object on every change, so identity says whether it is current.
 */
import type { AccessFacts, Credits } from '@keyledger/schemas';
import type { CreditPolicy, LimitRequest } from '../limits/index.js';
import type { ConsumerState } from '../domain/consumers/index.js';
import type { KeyState } from '../domain/keys/index.js';
import { currentVersion, type PlanState } from '../domain/plans/index.js';
import { type EffectivePolicy, effectivePolicy } from '../domain/policy/effective-policy.js';
import { type NetworkList, networkList } from '../domain/policy/networks.js';

export interface KeyPolicy {
  /** The key as verify checks it: the plan's scopes where the key names none, the consumer's status folded in. */
  facts: AccessFacts;
  scopes: readonly string[];
  policy: EffectivePolicy | null;
  /** Every list the client address must be in (consumer's, plan's). */
  networks: readonly NetworkList[];
  consumerRegistered: boolean;
  /** The limits verify charges (verify-key.ts), made once with the policy. */
  limits: Omit<LimitRequest, 'cost'> | undefined;
}

interface Cached {
  revision: number;
  consumer: ConsumerState | undefined;
  plan: PlanState | undefined;
  value: KeyPolicy;
}

export interface PolicySources {
  consumer(id: string): ConsumerState | undefined;
  plan(id: string): PlanState | undefined;
}

export class KeyPolicies {
  readonly #cache = new Map<string, Cached>();

  constructor(private readonly sources: PolicySources) {}

  /** Undefined for a key that neither a registered consumer, a defined plan nor its own networks govern (the plain path). */
  of(key: KeyState): KeyPolicy | undefined {
    const consumer = this.sources.consumer(key.consumerId);
    const plan = key.planId === null ? undefined : this.sources.plan(key.planId);
    if (consumer === undefined && plan === undefined && key.networks.length === 0) return undefined;
    const cached = this.#cache.get(key.id);
    if (cached && cached.revision === key.revision && cached.consumer === consumer && cached.plan === plan) return cached.value;
    const value = compute(key, consumer, plan);
    if (this.#cache.size >= 100_000) this.#cache.clear();
    this.#cache.set(key.id, { revision: key.revision, consumer, plan, value });
    return value;
  }
}

function compute(key: KeyState, consumer: ConsumerState | undefined, plan: PlanState | undefined): KeyPolicy {
  const version = plan ? currentVersion(plan) : undefined;
  const policy =
    key.kind === 'consumer'
      ? effectivePolicy(
          { scopes: key.scopes, endpoints: key.endpoints, networks: key.networks, rateLimit: key.rateLimit, quota: key.quota },
          plan && version ? { id: plan.id, version: version.version, terms: version.terms } : null,
          consumer?.allowedNetworks ?? [],
        )
      : null;
  const scopes = policy?.scopes ?? key.scopes;
  return {
    facts: {
      expiresAt: key.expiresAt,
      validUntil: key.validUntil,
      scopes: [...scopes],
      endpoints: [...(policy?.endpoints ?? key.endpoints)],
      // A suspended consumer suspends every key at once; a closed one revokes them (the closure
      // process manager then records a revocation per key, for the history).
      suspended: key.suspended || consumer?.status === 'suspended',
      revoked: key.revoked || consumer?.status === 'closed',
    },
    scopes,
    policy,
    networks: (policy?.networkLists ?? []).map((list) => networkList(list)),
    consumerRegistered: consumer !== undefined,
    limits: limitsUnder(key, policy),
  };
}

/**
 * A plan's credits as the limiter takes them for one key: the key's balance begins when the key
 * was issued (refills are counted from then).
 */
export function creditPolicyOf(key: Pick<KeyState, 'createdAt'>, credits: Credits | null): CreditPolicy | undefined {
  return credits === null ? undefined : { initial: credits.initial, refill: credits.refill, sinceMs: Date.parse(key.createdAt) };
}

/**
 * The limits a key is under, as the limiter takes them: its own rate limit and quota, and on a
 * plan the plan's named rate limits, quotas (the key's own only lower) and credits. Undefined
 * when there are none.
 */
export function limitsUnder(state: KeyState, effective: EffectivePolicy | null): Omit<LimitRequest, 'cost'> | undefined {
  if (!effective) {
    if (state.rateLimit === null && state.quota === null) return undefined;
    const plain: Omit<LimitRequest, 'cost'> = { subject: state.id };
    if (state.rateLimit) plain.rate = state.rateLimit;
    if (state.quota) plain.quota = state.quota;
    return plain;
  }
  const planRates = effective.rateLimits.filter((limit) => limit.name !== 'key');
  if (state.rateLimit === null && planRates.length === 0 && effective.quotas.length === 0 && effective.credits === null) return undefined;
  const limited: Omit<LimitRequest, 'cost'> = { subject: state.id };
  if (state.rateLimit) limited.rate = state.rateLimit;
  if (planRates.length > 0) limited.rates = planRates;
  const [quota, ...quotas] = effective.quotas;
  if (quota) limited.quota = quota;
  if (quotas.length > 0) limited.quotas = quotas;
  const credits = creditPolicyOf(state, effective.credits);
  if (credits) limited.credits = credits;
  return limited;
}
