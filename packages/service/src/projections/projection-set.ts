/**
 * The service's read models, made in one place: the service, `projections rebuild` and its
 * benchmark build the same set, in the same order, so a rebuild applies what serving applies and
 * saves a snapshot with the very parts a starting service restores (a snapshot of other parts is
 * refused, and the service then replays the whole log).
 */
import { CreditLedger } from '../verify/credit-ledger.js';
import { QuotaUsageProjection } from '../verify/usage-projection.js';
import {
  type ConsumerReadModel,
  createConsumerReadModel,
  createKeyRequestReadModel,
  createPlanReadModel,
  type KeyRequestReadModel,
  type PlanReadModel,
} from './consumer-plan-projections.js';
import { KeyProjection } from './key-projection.js';
import { ParkedEvents } from './parked-events.js';
import type { Projection } from './runner.js';
import type { SnapshotPart } from './snapshot-part.js';

export interface ProjectionSet {
  keys: KeyProjection;
  quotaUsage: QuotaUsageProjection;
  consumers: ConsumerReadModel;
  plans: PlanReadModel;
  keyRequests: KeyRequestReadModel;
  creditLedger: CreditLedger;
  parked: ParkedEvents;
}

export function createProjectionSet(options: { onKeyListenerError?: (error: unknown) => void } = {}): ProjectionSet {
  const keys = new KeyProjection(options.onKeyListenerError ? { onListenerError: options.onKeyListenerError } : {});
  return {
    keys,
    quotaUsage: new QuotaUsageProjection(),
    consumers: createConsumerReadModel(),
    plans: createPlanReadModel(),
    keyRequests: createKeyRequestReadModel(),
    // Credits are spent only by keys on a plan, as the keys projection knows them at that point of the log.
    creditLedger: new CreditLedger({ onPlan: (keyId) => (keys.getById(keyId)?.planId ?? null) !== null }),
    parked: new ParkedEvents(),
  };
}

/** What the runner applies, in order (keys first: the credit ledger reads them). */
export function appliedProjections(set: ProjectionSet): Projection[] {
  return [set.keys, set.quotaUsage, set.consumers, set.plans, set.keyRequests, set.creditLedger];
}

/** What a snapshot holds, in its order. */
export function snapshotParts(set: ProjectionSet): SnapshotPart[] {
  return [set.keys, set.quotaUsage, set.consumers, set.plans, set.keyRequests, set.creditLedger, set.parked];
}
