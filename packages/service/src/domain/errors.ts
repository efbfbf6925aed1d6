/**
 * Why a decider refused a command. One class for every aggregate, so the HTTP layer maps codes to
 * statuses in one table (http/problem.ts). The message is meant for the caller (problem `detail`),
 * so it never holds a secret.
 */
export type DomainErrorCode =
  | 'NOT_FOUND'
  | 'EXISTS'
  | 'INVALID_TRANSITION'
  | 'INVALID_ARGUMENT'
  | 'FORBIDDEN'
  /** A rule that ties aggregates together was broken (e.g. issuing to a consumer that is not approved). */
  | 'RULE_VIOLATED'
  | 'GONE';

export class DomainError<Code extends string = DomainErrorCode> extends Error {
  override name = 'DomainError';

  constructor(
    readonly code: Code,
    message: string,
    /** A stable name of the rule that refused, for clients that branch on it. */
    readonly rule?: string,
  ) {
    super(message);
  }
}
