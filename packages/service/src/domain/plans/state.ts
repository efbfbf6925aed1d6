/** One usage plan folded from its stream (`plan-<id>`): every version it ever had, in order. */
import type { PlanTerms } from '@keyledger/schemas';

export interface PlanVersion {
  version: number;
  terms: PlanTerms;
  /** When this version came into force (its event's time). */
  effectiveFrom: string;
}

export interface PlanState {
  id: string;
  versions: PlanVersion[];
  retired: boolean;
  retiredReason: string | null;
  createdAt: string;
  updatedAt: string;
  revision: number;
}

export const currentVersion = (plan: PlanState): PlanVersion => plan.versions.at(-1) as PlanVersion;

/** The version in force at an instant (the first one for instants before the plan existed). */
export function versionAt(plan: PlanState, atMs: number): PlanVersion {
  let found = plan.versions[0] as PlanVersion;
  for (const version of plan.versions) {
    if (Date.parse(version.effectiveFrom) <= atMs) found = version;
    else break;
  }
  return found;
}
