export { currentVersion, type PlanState, type PlanVersion, versionAt } from './state.js';
export { evolvePlan, foldPlan, PlanStreamError } from './evolve.js';
export { decidePlan, type PlanCommand, type ProposedTerms } from './decide.js';
export { toPlanView } from './view.js';
