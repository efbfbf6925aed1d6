/** The global ledger feed: every event in commit order, resumable from a checkpoint. */
import { EventPage, EventsQuery, type LedgerEvent, Problem, publicEventView } from '@keyledger/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { EventStore, RecordedEvent } from '../../store/port.js';

export interface EventRoutesOptions {
  store: EventStore;
}

/** The public view of a stored event: what `events:read` may see (no digest, no replay keys). */
export function toLedgerEvent(event: RecordedEvent): LedgerEvent {
  const { data, metadata } = publicEventView(event.type, event.data, event.metadata);
  return {
    id: event.id,
    checkpoint: event.checkpoint,
    stream: event.stream,
    revision: event.revision,
    type: event.type,
    data: data as LedgerEvent['data'],
    metadata: metadata as LedgerEvent['metadata'],
    recordedAt: event.recordedAt.toISOString(),
  };
}

/** `type=KeyRevoked,KeySuspended` -> ['KeyRevoked', 'KeySuspended']. */
export function splitList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((item) => item.trim()).filter(Boolean);
  return items.length === 0 ? undefined : items;
}

export const eventRoutes: FastifyPluginAsyncZod<EventRoutesOptions> = async (app, { store }) => {
  app.get('/events', {
    config: { permission: 'events:read' },
    schema: {
      tags: ['events'],
      security: [{ bearer: [] }],
      summary: 'Read the global ledger after a checkpoint',
      operationId: 'listEvents',
      querystring: EventsQuery,
      response: { 200: EventPage, 400: Problem, 401: Problem, 403: Problem },
    },
  }, async (request) => {
    const { after, limit, category, type } = request.query;
    const page = await store.readAll({
      after: after === '' ? undefined : after,
      maxCount: limit,
      categories: splitList(category),
      types: splitList(type),
    });
    return { events: page.events.map(toLedgerEvent), checkpoint: page.checkpoint ?? after ?? null };
  });
};
