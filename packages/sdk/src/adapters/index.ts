export {
  createRequestGuard,
  decisionFor,
  presentedKey,
  PROBLEM_CONTENT_TYPE,
  type Decision,
  type GuardOptions,
  type GuardRequest,
  type ProblemBody,
  type RequiredScopes,
} from './request-guard.js';
export { keyledgerFastify, type KeyledgerFastifyOptions } from './fastify.js';
