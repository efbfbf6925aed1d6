export type { KeyState } from './state.js';
export type {
  IssueKey,
  KeyCommand,
  PatchScopes,
  ReinstateKey,
  ReplaceScopes,
  RevokeKey,
  RotateKey,
  SetLimits,
  SuspendKey,
} from './commands.js';
export { KeyDomainError, type KeyDomainErrorCode } from './errors.js';
export { evolve, foldKey, KeyStreamError, type RecordedAt } from './evolve.js';
export { decide } from './decide.js';
export { successorIssue } from './successor.js';
export { keyStatusAt } from './status.js';
export { toKeyView } from './view.js';
export { describeChange, describeRecordedChange, type Changes, type JsonValue } from './history.js';
export {
  type Authority,
  HOST_OPERATOR_AUTHORITY,
  isActiveAdminKey,
  isAdmin,
  isVerifiableByGateways,
  SYSTEM_AUTHORITY,
} from './authority.js';
export { toKeyEvent } from './recorded.js';
