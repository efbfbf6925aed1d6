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
    /** Response headers that belong to this answer (Retry-After). */
    readonly headers: Record<string, string> = {},
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

/**
 * The command is in the ledger, but this instance has not applied it within the timeout (its
 * projection lags): answering 200 would let a read here contradict the write just confirmed.
 */
export const notYetApplied = (checkpoint: string, resource: string, timeoutMs: number) =>
  new AppError(
    503,
    PROBLEM_TYPES.notYetApplied,
    'Written, not yet applied',
    `the command is written to the ledger (checkpoint ${checkpoint}) but this instance has not applied it within ${timeoutMs} ms; ` +
      `read ${resource} later, or repeat the request with the same Idempotency-Key to get its outcome (without one, an issued or rotated secret cannot be shown again)`,
    { written: true, checkpoint, resource },
    { 'retry-after': '1' },
  );

/**
 * A stream holds an event this version cannot fold (a newer keyledger wrote it during a rolling
 * deploy). Deciding on the part it understands could undo what the newer version recorded, so
 * the command is refused for now: an upgraded instance (the retry) can decide it.
 */
export const writtenByNewerVersion = (stream: string, type: string, reason: string) =>
  new AppError(
    503,
    PROBLEM_TYPES.unavailable,
    'Written by a newer keyledger',
    `${stream} holds a ${type} event this version of keyledger cannot apply (${reason.replace('_', ' ')}); ` +
      'nothing was written; retry, and an upgraded instance will answer',
    {},
    { 'retry-after': '5' },
  );

/** Something this instance cannot do now, through no fault of the caller (e.g. a misconfigured secret). */
export const unavailable = (detail: string) =>
  new AppError(503, PROBLEM_TYPES.unavailable, 'Service unavailable', detail, {}, { 'retry-after': '5' });
