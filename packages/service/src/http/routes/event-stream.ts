/**
 * GET /v1/events/stream: the ledger as Server-Sent Events. Fed from the global log, so it
 * carries writes made by every instance (PostgreSQL LISTEN/NOTIFY wakes it), resumable with
 * `Last-Event-ID` (the event's checkpoint), with heartbeats so proxies and clients can tell a
 * quiet feed from a dead one.
 *
 * Filtered readers also get `event: checkpoint` frames carrying only an id: they advance the
 * client's resume point past events it does not want, so a reconnect never rescans them.
 */
import { EventsQuery, Problem } from '@keyledger/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { EventStore } from '../../store/port.js';
import { splitList, toLedgerEvent } from './events.js';

export interface EventStreamOptions {
  store: EventStore;
  heartbeatMs?: number;
}

const StreamQuery = EventsQuery.omit({ limit: true });

export const eventStreamRoutes: FastifyPluginAsyncZod<EventStreamOptions> = async (app, { store, heartbeatMs = 15_000 }) => {
  const open = new Set<AbortController>();
  // preClose, not onClose: fastify waits for open connections before onClose, and a live feed never ends by itself.
  app.addHook('preClose', async () => {
    for (const controller of open) controller.abort();
  });

  app.get('/events/stream', {
    config: { permission: 'events:read' },
    schema: {
      tags: ['events'],
      security: [{ bearer: [] }],
      operationId: 'streamEvents',
      summary: 'Follow the ledger live (text/event-stream); resume with Last-Event-ID',
      querystring: StreamQuery,
      headers: z.object({ 'last-event-id': z.string().max(100).optional() }),
      response: {
        200: z.string().meta({ description: 'text/event-stream: `id` is the checkpoint, `event` the type, `data` a LedgerEvent' }),
        400: Problem,
        401: Problem,
        403: Problem,
      },
    },
  }, async (request, reply) => {
    const lastEventId = request.headers['last-event-id'];
    let after = lastEventId || request.query.after || undefined;
    const categories = splitList(request.query.category);
    const types = splitList(request.query.type);
    // Validate the checkpoint before switching to a stream, so a bad one is a problem+json 400.
    const first = await store.readAll({ after, maxCount: 500, categories, types });

    const controller = new AbortController();
    open.add(controller);
    request.raw.on('close', () => controller.abort());
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': request.id,
      // Hijacked replies skip onSend: the checkpoint header is written here (events carry their own).
      ...(request.appliedCheckpoint !== null ? { 'keyledger-checkpoint': request.appliedCheckpoint } : {}),
    });
    res.write(`retry: 1000\n: connected\n\n`);

    let page = first;
    try {
      while (!controller.signal.aborted) {
        let frames = '';
        for (const event of page.events) {
          frames += `id: ${event.checkpoint}\nevent: ${event.type}\ndata: ${JSON.stringify(toLedgerEvent(event))}\n\n`;
        }
        const lastSent = page.events.at(-1)?.checkpoint;
        if (page.checkpoint !== undefined && page.checkpoint !== lastSent && page.checkpoint !== after) {
          frames += `id: ${page.checkpoint}\nevent: checkpoint\ndata: {"checkpoint":${JSON.stringify(page.checkpoint)}}\n\n`;
        }
        if (frames) res.write(frames);
        after = page.checkpoint ?? after;
        if (page.events.length === 0) {
          const before = Date.now();
          await store.waitForEvents(after, { signal: controller.signal, timeoutMs: heartbeatMs });
          if (controller.signal.aborted) break;
          if (Date.now() - before >= heartbeatMs - 5) res.write(': heartbeat\n\n');
        }
        page = await store.readAll({ after, maxCount: 500, categories, types });
      }
    } catch (error) {
      if (!controller.signal.aborted) request.log.warn({ err: error }, 'event stream ended by an error');
    } finally {
      open.delete(controller);
      res.end();
    }
  });
};
