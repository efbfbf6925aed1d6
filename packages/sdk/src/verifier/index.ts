export { createVerifier, type Verifier, type VerifierOptions, type VerifierStats, type VerifyContext } from './verifier.js';
export { LruMap } from './lru.js';
export { KeyledgerVerifierError, logOncePerKind, type VerifierFailureReason } from './readiness.js';
export { AuditTrail, AuditViolationError, type AuditTrailOptions, type AuditTrailStatus } from './audit-trail.js';
