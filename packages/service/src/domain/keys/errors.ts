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

/** A refused command. The message is meant for the caller (problem `detail`), so it never holds a secret. */
export class KeyDomainError extends Error {
  override name = 'KeyDomainError';

  constructor(
    readonly code: KeyDomainErrorCode,
    message: string,
  ) {
    super(message);
  }
}
