/**
 * Every non-2xx answer is RFC 9457 problem details with a stable `type`. This module turns
 * every error that can reach fastify (validation, parsing, body size, domain, store, unknown)
 * into one; a client's mistake is never a 500.
 */
import { PROBLEM_TYPES, type Problem } from '@keyledger/schemas';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, ResponseSerializationError } from 'fastify-type-provider-zod';
import { AppError } from '../app/errors.js';
import { DomainError } from '../domain/errors.js';
import {
  CheckpointBeyondHeadError,
  DuplicateEventIdError,
  InvalidAppendError,
  InvalidCheckpointError,
  InvalidReadError,
  StoreClosedError,
  StoreUnavailableError,
  WrongExpectedRevisionError,
} from '../store/errors.js';

export function sendProblem(reply: FastifyReply, problem: Problem, headers: Record<string, string> = {}): FastifyReply {
  return reply.code(problem.status).headers(headers).type('application/problem+json').send(problem);
}

const DOMAIN_STATUS: Record<string, { status: number; type: string; title: string }> = {
  KEY_NOT_FOUND: { status: 404, type: PROBLEM_TYPES.notFound, title: 'Key not found' },
  KEY_EXISTS: { status: 409, type: PROBLEM_TYPES.conflict, title: 'Key already exists' },
  KEY_REVOKED: { status: 409, type: PROBLEM_TYPES.keyRevoked, title: 'Key is revoked' },
  INVALID_TRANSITION: { status: 409, type: PROBLEM_TYPES.invalidTransition, title: 'Invalid transition' },
  INVALID_ARGUMENT: { status: 422, type: PROBLEM_TYPES.validation, title: 'Invalid argument' },
  FORBIDDEN: { status: 403, type: PROBLEM_TYPES.forbidden, title: 'Forbidden' },
  LAST_ADMIN_KEY: { status: 409, type: PROBLEM_TYPES.lastAdminKey, title: 'Last admin key' },
  NOT_FOUND: { status: 404, type: PROBLEM_TYPES.notFound, title: 'Not found' },
  EXISTS: { status: 409, type: PROBLEM_TYPES.conflict, title: 'Already exists' },
  RULE_VIOLATED: { status: 409, type: PROBLEM_TYPES.ruleViolated, title: 'Refused by a rule' },
  GONE: { status: 410, type: PROBLEM_TYPES.gone, title: 'Gone' },
};

/** A lost database is usually back within a second (reconnect, failover): say when to retry. */
export const STORE_UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/**
 * Maps any error to a problem; `internal` is true only for what is our fault (logged as an error);
 * `headers` go with the answer (Retry-After on a 503).
 */
export function problemFor(error: unknown, request: FastifyRequest): { problem: Problem; internal: boolean; headers?: Record<string, string> } {
  const instance = request.url.split('?')[0];
  const base = { instance };
  if (hasZodFastifySchemaValidationErrors(error as object)) {
    const validation = (error as { validation: { keyword: string; instancePath: string; message?: string; params: object }[] }).validation;
    const where = (error as FastifyError).validationContext ?? 'body';
    const errors = validation.flatMap((issue) => {
      const path = [where, ...issue.instancePath.split('/').filter(Boolean)].join('.');
      const unknownKeys = (issue.params as { keys?: unknown }).keys;
      if (issue.keyword === 'unrecognized_keys' && Array.isArray(unknownKeys)) {
        return unknownKeys.map((key) => ({ path: `${path}.${String(key)}`, message: 'unknown field' }));
      }
      return [{ path, message: issue.message ?? 'invalid' }];
    });
    return {
      problem: {
        ...base,
        type: PROBLEM_TYPES.validation,
        title: 'Invalid request',
        status: 400,
        detail: `${where} failed validation: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`.slice(0, 1000),
        errors,
      },
      internal: false,
    };
  }
  if (error instanceof AppError) {
    return {
      problem: { ...base, type: error.type, title: error.title, status: error.status, detail: error.message, ...error.extra },
      internal: false,
      headers: error.headers,
    };
  }
  if (error instanceof DomainError) {
    const mapped = DOMAIN_STATUS[error.code] ?? DOMAIN_STATUS.INVALID_TRANSITION!;
    return { problem: { ...base, ...mapped, detail: error.message, ...(error.rule ? { rule: error.rule } : {}) }, internal: false };
  }
  if (error instanceof WrongExpectedRevisionError) {
    return {
      problem: {
        ...base,
        type: PROBLEM_TYPES.conflict,
        title: 'Concurrent modification',
        status: 409,
        detail: error.message,
        expectedRevision: typeof error.expected === 'number' ? error.expected : String(error.expected),
        actualRevision: error.actual,
      },
      internal: false,
    };
  }
  if (error instanceof CheckpointBeyondHeadError) {
    // Before InvalidCheckpointError (its parent): the client must learn that its checkpoint is
    // from somewhere else (another deployment, a restored backup), not that it is malformed.
    return {
      problem: {
        ...base,
        type: PROBLEM_TYPES.validation,
        title: 'Checkpoint beyond the head of the ledger',
        status: 400,
        detail: `${error.message}; resume from a checkpoint this service returned, or omit \`after\` to read from the start`,
        errors: [{ path: request.headers['last-event-id'] ? 'headers.last-event-id' : 'querystring.after', message: 'beyond the head of the ledger' }],
      },
      internal: false,
    };
  }
  if (error instanceof InvalidReadError) {
    return { problem: { ...base, type: PROBLEM_TYPES.validation, title: 'Invalid read', status: 400, detail: error.message }, internal: false };
  }
  if (error instanceof InvalidCheckpointError) {
    return {
      problem: { ...base, type: PROBLEM_TYPES.validation, title: 'Invalid checkpoint', status: 400, detail: error.message },
      internal: false,
    };
  }
  if (error instanceof DuplicateEventIdError) {
    return { problem: { ...base, type: PROBLEM_TYPES.conflict, title: 'Duplicate event', status: 409, detail: error.message }, internal: false };
  }
  if (error instanceof StoreUnavailableError || error instanceof StoreClosedError) {
    return {
      problem: { ...base, type: PROBLEM_TYPES.unavailable, title: 'Service unavailable', status: 503, detail: 'the event store is unavailable; retry later' },
      internal: true,
      headers: { 'retry-after': String(STORE_UNAVAILABLE_RETRY_AFTER_SECONDS) },
    };
  }
  if (error instanceof InvalidAppendError) {
    return { problem: { ...base, type: PROBLEM_TYPES.validation, title: 'Invalid request', status: 422, detail: error.message }, internal: false };
  }
  const fastifyError = error as FastifyError;
  if (error instanceof ResponseSerializationError) {
    return { problem: { ...base, type: PROBLEM_TYPES.internal, title: 'Internal error', status: 500, detail: 'response serialisation failed' }, internal: true };
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { problem: { ...base, type: PROBLEM_TYPES.bodyTooLarge, title: 'Body too large', status: 413, detail: fastifyError.message }, internal: false };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        problem: { ...base, type: PROBLEM_TYPES.unsupportedMediaType, title: 'Unsupported media type', status: 415, detail: 'send application/json' },
        internal: false,
      };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_INVALID_CHARSET':
      return { problem: { ...base, type: PROBLEM_TYPES.malformedBody, title: 'Malformed body', status: 400, detail: fastifyError.message }, internal: false };
  }
  if (error instanceof SyntaxError || fastifyError.statusCode === 400) {
    return {
      problem: { ...base, type: PROBLEM_TYPES.malformedBody, title: 'Malformed body', status: 400, detail: `body is not valid JSON: ${fastifyError.message}`.slice(0, 300) },
      internal: false,
    };
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return {
      problem: { ...base, type: PROBLEM_TYPES.validation, title: 'Bad request', status: fastifyError.statusCode, detail: fastifyError.message },
      internal: false,
    };
  }
  return {
    problem: { ...base, type: PROBLEM_TYPES.internal, title: 'Internal error', status: 500, detail: `request ${request.id} failed; see the service log` },
    internal: true,
  };
}
