/** Folds plan events into state. Pure. */
import type { PlanEvent } from '@keyledger/schemas';
import type { RecordedAt } from '../keys/evolve.js';
import type { PlanState } from './state.js';

export class PlanStreamError extends Error {
  override name = 'PlanStreamError';
}

export function evolvePlan(state: PlanState | null, event: PlanEvent, recorded: RecordedAt): PlanState {
  if (event.type === 'PlanDefined') {
    if (state !== null) throw new PlanStreamError(`PlanDefined for ${event.data.planId} twice`);
    const { planId, version, ...terms } = event.data;
    return {
      id: planId,
      versions: [{ version, terms, effectiveFrom: recorded.occurredAt }],
      retired: false,
      retiredReason: null,
      createdAt: recorded.occurredAt,
      updatedAt: recorded.occurredAt,
      revision: recorded.revision,
    };
  }
  if (state === null) throw new PlanStreamError(`${event.type} for ${event.data.planId} before it was defined`);
  const next: PlanState = { ...state, updatedAt: recorded.occurredAt, revision: recorded.revision };
  switch (event.type) {
    case 'PlanRevised': {
      const { planId: _id, version, ...terms } = event.data;
      return { ...next, versions: [...state.versions, { version, terms, effectiveFrom: recorded.occurredAt }] };
    }
    case 'PlanRetired':
      return { ...next, retired: true, retiredReason: event.data.reason };
    default:
      return state;
  }
}

export function foldPlan(events: readonly ({ event: PlanEvent } & RecordedAt)[]): PlanState | null {
  let state: PlanState | null = null;
  for (const { event, ...recorded } of events) state = evolvePlan(state, event, recorded);
  return state;
}
