/** The API view of a plan: its current version's terms (or a given version's) and its status. */
import type { Plan } from '@keyledger/schemas';
import { currentVersion, type PlanState, type PlanVersion } from './state.js';

export function toPlanView(state: PlanState, version: PlanVersion = currentVersion(state)): Plan {
  return {
    id: state.id,
    version: version.version,
    ...version.terms,
    status: state.retired ? 'retired' : 'active',
    retiredReason: state.retiredReason,
    versionEffectiveFrom: version.effectiveFrom,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    revision: state.revision,
  };
}
