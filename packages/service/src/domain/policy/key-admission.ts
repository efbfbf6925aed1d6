/**
 * Whether a consumer key may exist as asked, given its consumer and its plan: the rules that tie
 * the key aggregate to the others, checked when a key is issued (or its scopes and limits change).
 * Pure; the command layer loads the consumer and plan streams and calls these.
 *
 * - A registered consumer must be approved to receive keys.
 * - A consumer id nobody registered is a key from before consumers existed: allowed unless the
 *   installation refuses unregistered consumers; never with a plan (plans are new, so there is
 *   nothing to stay compatible with).
 * - A plan must exist and not be retired, and the key stays within its current version.
 * Management keys call keyledger itself: consumers and plans do not apply to them.
 */
import type { KeyKind } from '@keyledger/schemas';
import { assertMayReceiveKeys, type ConsumerState } from '../consumers/index.js';
import { DomainError } from '../errors.js';
import { currentVersion, type PlanState } from '../plans/index.js';
import { assertWithinPlan, type KeyLimits } from './effective-policy.js';
import { cidrWithin } from './networks.js';

export type UnregisteredConsumers = 'allow' | 'refuse';

export interface AdmittedKey extends KeyLimits {
  kind: KeyKind;
  consumerId: string;
  planId: string | null;
}

export interface AdmissionFacts {
  /** The consumer's state; null when no consumer with that id was registered. */
  consumer: ConsumerState | null;
  /** The plan's state when the key names one; null when no such plan was defined. */
  plan: PlanState | null;
  unregisteredConsumers: UnregisteredConsumers;
}

/** For a new key: its consumer may receive keys and its plan may take new ones. */
export function assertMayIssue(key: AdmittedKey, facts: AdmissionFacts): void {
  if (key.kind === 'management') return;
  if (facts.consumer !== null) {
    assertMayReceiveKeys(facts.consumer);
    assertNetworksWithin(key.networks, facts.consumer.allowedNetworks, `consumer ${facts.consumer.id}`, 'networks-within-consumer');
  } else if (key.planId !== null) {
    throw new DomainError('RULE_VIOLATED', `consumer ${key.consumerId} is not registered; keys on a plan are issued only to registered, approved consumers`, 'consumer-not-registered');
  } else if (facts.unregisteredConsumers === 'refuse') {
    throw new DomainError('RULE_VIOLATED', `consumer ${key.consumerId} is not registered; this installation issues keys only to registered, approved consumers`, 'consumer-not-registered');
  }
  if (key.planId === null) return;
  const plan = existingPlan(key.planId, facts.plan);
  if (plan.retired) throw new DomainError('RULE_VIOLATED', `plan ${plan.id} is retired; it takes no new keys`, 'plan-retired');
  assertWithinPlan(key, currentVersion(plan).terms, plan.id);
}

/** For a change to an existing key: the result stays within its plan's current version. */
export function assertStaysWithinPlan(key: AdmittedKey, plan: PlanState | null): void {
  if (key.kind === 'management' || key.planId === null || plan === null) return;
  assertWithinPlan(key, currentVersion(plan).terms, plan.id);
}

/** A key's networks only narrow: each of them inside one of the outer list (an empty outer list allows all). */
function assertNetworksWithin(networks: readonly string[], outer: readonly string[], owner: string, rule: string): void {
  if (outer.length === 0) return;
  const beyond = networks.filter((cidr) => !outer.some((allowed) => cidrWithin(cidr, allowed)));
  if (beyond.length > 0) throw new DomainError('INVALID_ARGUMENT', `networks beyond ${owner}'s allowed networks: ${beyond.join(', ')}`, rule);
}

function existingPlan(planId: string, plan: PlanState | null): PlanState {
  if (plan === null) throw new DomainError('INVALID_ARGUMENT', `plan ${planId} does not exist; define it first (POST /v1/plans)`, 'plan-unknown');
  return plan;
}

/** Credits can be added only to a key whose plan's current version has credits (its balance lives under that policy). */
export function assertTakesCredits(key: Pick<AdmittedKey, 'planId'> & { id: string }, plan: PlanState | null): void {
  if (key.planId === null || plan === null || currentVersion(plan).terms.credits === null) {
    throw new DomainError('RULE_VIOLATED', `key ${key.id} is not on a plan with prepaid credits; credits can only be added under such a plan`, 'plan-without-credits');
  }
}
