import { DomainError } from '../errors.js';

/** Why the key domain refused a command; the HTTP layer maps each code to a status. */
export type KeyDomainErrorCode =
  | 'KEY_NOT_FOUND'
  | 'KEY_EXISTS'
  | 'KEY_REVOKED'
  | 'INVALID_TRANSITION'
  | 'INVALID_ARGUMENT'
  /** The caller's authority does not cover this command (see authority.ts). */
  | 'FORBIDDEN'
  /** Revoking or suspending the last active admin key. */
  | 'LAST_ADMIN_KEY';

/** A refused key command (see domain/errors.ts). */
export class KeyDomainError extends DomainError<KeyDomainErrorCode> {
  override name = 'KeyDomainError';
}
