/** What the management route families share: problem responses, cursors, history entries, command answers. */
import { type Actor, Problem } from '@keyledger/schemas';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { badRequest } from '../../app/errors.js';
import { describeRecordedChange } from '../../domain/keys/index.js';
import type { RecordedEvent } from '../../store/port.js';
import { answeredAt, etag } from '../context.js';

export const problems = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 412: Problem, 422: Problem };
/** Commands also answer 503 when written but not yet applied by this instance (Retry-After). */
export const commandProblems = { ...problems, 503: Problem };
export const security = [{ bearer: [] }];

export const idempotencyHeaders = z.object({
  'idempotency-key': z.string().optional().meta({ description: 'Same key and body: the first outcome, written once' }),
  'if-match': z.string().optional().meta({ description: 'ETag (revision) the caller last saw; 412 when it changed' }),
});

/** An optional body (`{"reason": ...}`) may be sent as no body at all: a bare `curl -X POST` is valid. */
export async function emptyBodyIsEmptyObject(request: FastifyRequest): Promise<void> {
  if (request.body === null || request.body === undefined) request.body = {};
}

/** The answer to a command: its checkpoint, its ETag, and whether it was a replay. */
export function commandAnswer<View extends { revision: number }>(
  request: FastifyRequest,
  reply: FastifyReply,
  result: { view: View; replayed: boolean; appliedCheckpoint: string | null },
): View {
  answeredAt(request, result.appliedCheckpoint);
  reply.header('etag', etag(result.view.revision));
  if (result.replayed) reply.header('idempotent-replayed', 'true');
  return result.view;
}

/** Opaque list cursors: the id of the last item of the previous page. */
export function encodeCursor(id: string): string {
  return Buffer.from(JSON.stringify({ after: id })).toString('base64url');
}

export function decodeCursor(cursor: string, id: z.ZodType<string>): string {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    const result = id.safeParse(parsed.after);
    if (result.success) return result.data;
  } catch {
    /* fall through to the problem below */
  }
  throw badRequest('cursor is not one returned by keyledger', [{ path: 'querystring.cursor', message: 'invalid cursor' }]);
}

/** One stream's events as history entries: who changed what, when, from where. */
export function historyEntries(events: readonly RecordedEvent[]) {
  return events.map((event) => {
    const meta = event.metadata as {
      actor: Actor;
      requestId: string | null;
      clientRequestId?: string;
      sourceAddress: string | null;
      occurredAt: string;
      schemaVersion?: number;
    };
    return {
      revision: event.revision,
      type: event.type,
      occurredAt: meta.occurredAt,
      actor: meta.actor,
      requestId: meta.requestId,
      clientRequestId: meta.clientRequestId ?? null,
      sourceAddress: meta.sourceAddress,
      changes: describeRecordedChange(event.type, meta.schemaVersion ?? 1, event.data),
    };
  });
}
