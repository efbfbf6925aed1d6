/**
 * Per-request context: the command context every event records, and the ledger checkpoint the
 * answer reflects (the `keyledger-checkpoint` header on every /v1 answer).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CommandContext } from '../app/command-context.js';
import { badRequest } from '../app/errors.js';
import { requestHash } from '../app/ids.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;
/** A client's x-request-id is kept (as clientRequestId) only when it is this plain. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

export function commandContext(request: FastifyRequest, options: { withIfMatch?: boolean } = {}): CommandContext {
  const caller = request.caller;
  if (!caller) throw new Error('commandContext on an unauthenticated route');
  const idempotencyKey = headerValue(request, 'idempotency-key');
  if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
    throw badRequest('Idempotency-Key must be 1-200 visible ASCII characters', [
      { path: 'headers.idempotency-key', message: 'invalid' },
    ]);
  }
  const clientRequestId = headerValue(request, 'x-request-id');
  return {
    actor: { kind: 'key', id: caller.keyId },
    authority: { kind: 'key', permissions: caller.permissions },
    requestId: request.id,
    clientRequestId: clientRequestId !== undefined && CLIENT_REQUEST_ID.test(clientRequestId) ? clientRequestId : undefined,
    sourceAddress: request.ip ?? null,
    idempotencyKey,
    requestHash: idempotencyKey
      ? requestHash(request.method, request.routeOptions.url ?? request.url, request.params, request.body)
      : undefined,
    expectedRevision: options.withIfMatch === false ? undefined : parseIfMatch(headerValue(request, 'if-match')),
  };
}

/** `If-Match: "3"` (or W/"3", or 3) names the revision the caller last saw. */
export function parseIfMatch(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(value);
  if (!match) {
    throw badRequest('If-Match must be an ETag returned by keyledger, e.g. "3"', [{ path: 'headers.if-match', message: 'invalid' }]);
  }
  return Number(match[1]);
}

export const etag = (revision: number) => `"${revision}"`;

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The checkpoint this instance had applied when the answer was made (a lower bound of what it reflects). */
    appliedCheckpoint: string | null;
  }
}

export const CHECKPOINT_HEADER = 'keyledger-checkpoint';

/**
 * Hooks for the /v1 scope. The checkpoint is taken when the request arrives, before any read:
 * the projections can only move forward, so the answer reflects at least that checkpoint, and a
 * cache (the SDK verifier) may trust it. A command raises it to what it waited for
 * (`answeredAt`), which covers its own events.
 */
export function checkpointHooks(appliedCheckpoint: () => string | null) {
  // Callback hooks, not async ones: no promise per request on the verify path.
  return {
    onRequest: (request: FastifyRequest, _reply: FastifyReply, done: () => void) => {
      request.appliedCheckpoint = appliedCheckpoint();
      done();
    },
    onSend: (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) => {
      if (request.appliedCheckpoint !== null) reply.header(CHECKPOINT_HEADER, request.appliedCheckpoint);
      done(null, payload);
    },
  };
}

/** Records that the answer reflects `checkpoint` (a command's result, after it was applied here). */
export function answeredAt(request: FastifyRequest, checkpoint: string | null): string | null {
  if (checkpoint !== null) request.appliedCheckpoint = checkpoint;
  return request.appliedCheckpoint;
}
