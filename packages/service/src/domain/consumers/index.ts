export type { ConsumerState, VettingCheck } from './state.js';
export type { ConsumerCommand } from './commands.js';
export { ConsumerStreamError, evolveConsumer, foldConsumer, latestChecks } from './evolve.js';
export { assertMayReceiveKeys, decideConsumer } from './decide.js';
export { toConsumerView } from './view.js';
