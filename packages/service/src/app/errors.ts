/**
 * Application errors: what a caller did wrong or what cannot be done right now. The HTTP layer
 * turns each into a problem+json response with a stable type; none of them is a 500.
 */
import { PROBLEM_TYPES, type ProblemType } from '@keyledger/schemas';

export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly status: number,
    readonly type: ProblemType,
    readonly title: string,
    detail: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail);
  }
}

export const notFound = (detail: string) => new AppError(404, PROBLEM_TYPES.notFound, 'Not found', detail);

export const preconditionFailed = (expected: string | number, actual: number) =>
  new AppError(
    412,
    PROBLEM_TYPES.preconditionFailed,
    'Precondition failed',
    `If-Match expected revision ${expected} but the key is at revision ${actual}`,
    { expectedRevision: expected, actualRevision: actual },
  );

export const idempotencyMismatch = (key: string) =>
  new AppError(
    422,
    PROBLEM_TYPES.idempotencyMismatch,
    'Idempotency key reused',
    `Idempotency-Key '${key}' was already used with a different request; use a new key for a new request`,
  );

export const forbidden = (detail: string) => new AppError(403, PROBLEM_TYPES.forbidden, 'Forbidden', detail);

export const conflict = (detail: string) => new AppError(409, PROBLEM_TYPES.conflict, 'Conflict', detail);

export const badRequest = (detail: string, errors?: { path: string; message: string }[]) =>
  new AppError(400, PROBLEM_TYPES.validation, 'Invalid request', detail, errors ? { errors } : {});
