/**
 * GET /v1/events/stream: the ledger as Server-Sent Events. Fed from the global log, so it
 * carries writes made by every instance (PostgreSQL LISTEN/NOTIFY wakes it), resumable with
 * `Last-Event-ID` (the event's checkpoint), with heartbeats so proxies and clients can tell a
 * quiet feed from a dead one.
 *
 * Filtered readers also get `event: checkpoint` frames carrying only an id: they advance the
 * client's resume point past events it does not want, so a reconnect never rescans them.
 *
 * Bounded: writes wait for the socket to drain (a reader too far behind is closed, see
 * SseConnection), streams are capped in all and per credential, and the credential is checked
 * again whenever the key projection applies a key event, so a revoked, suspended or expired
 * key, or one that lost `events:read`, loses its stream within one event.
 */
import { EventsQuery, hasPermission, Problem, PROBLEM_TYPES } from '@keyledger/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { keyStatusAt } from '../../domain/keys/status.js';
import type { KeyProjection } from '../../projections/key-projection.js';
import type { EventStore } from '../../store/port.js';
import type { EventStreamRegistry } from '../event-stream-registry.js';
import { sendProblem } from '../problem.js';
import { SseConnection } from '../sse-connection.js';
import { splitList, toLedgerEvent } from './events.js';

export interface EventStreamOptions {
  store: EventStore;
  keys: KeyProjection;
  streams: EventStreamRegistry;
  heartbeatMs?: number;
  now?: () => number;
}

const StreamQuery = EventsQuery.omit({ limit: true });

/**
 * Events read per page. Small on purpose: a reader waiting for `drain` holds its current page, so
 * the page size bounds what a stalled reader costs (64 events of at most ~5 kB each), at the price
 * of more, cheap, reads while a reader catches up.
 */
const PAGE_SIZE = 64;

/** Frames are batched into writes of about this size while catching up. */
const WRITE_BATCH_CHARS = 16 * 1024;

/** Seconds a refused reader is told to wait (streams end as readers leave; no exact time exists). */
const RETRY_AFTER_SECONDS = '5';

const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

export const eventStreamRoutes: FastifyPluginAsyncZod<EventStreamOptions> = async (
  app,
  { store, keys, streams, heartbeatMs = 15_000, now = Date.now },
) => {
  /** Why `credential` may no longer read the feed, or null while it may. */
  const refusal = (credential: string): string | null => {
    const state = keys.getById(credential);
    if (!state) return 'credential unknown';
    const status = keyStatusAt(state, now());
    if (status !== 'active') return `credential ${status}`;
    if (!hasPermission(state.permissions, 'events:read')) return "credential lost the 'events:read' permission";
    return null;
  };
  const stopWatching = keys.onChange(() => streams.closeWhere(refusal));
  // preClose, not onClose: fastify waits for open connections before onClose, and a live feed never ends by itself.
  app.addHook('preClose', async () => {
    stopWatching();
    streams.closeAll('server shutting down; reconnect with Last-Event-ID');
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
        // 429: this credential has its most open streams; 503: the service has. Both carry Retry-After.
        429: Problem,
        503: Problem,
      },
    },
  }, async (request, reply) => {
    // HEAD: same authentication, headers at once, no feed.
    if (request.method === 'HEAD') {
      reply.hijack();
      reply.raw.writeHead(200, { ...STREAM_HEADERS, 'x-request-id': request.id });
      reply.raw.end();
      return;
    }
    const credential = (request.caller as { keyId: string }).keyId;
    const admission = streams.admit(credential);
    if (!admission.admitted) {
      const perCredential = admission.scope === 'credential';
      return sendProblem(reply, {
        type: perCredential ? PROBLEM_TYPES.rateLimited : PROBLEM_TYPES.unavailable,
        title: 'Too many event streams',
        status: perCredential ? 429 : 503,
        detail: perCredential
          ? `this credential already has ${admission.limit} open event streams (KEYLEDGER_SSE_MAX_STREAMS_PER_CREDENTIAL); close one or retry later`
          : `the service already serves ${admission.limit} event streams (KEYLEDGER_SSE_MAX_STREAMS); retry later`,
        instance: request.url.split('?')[0],
      }, { 'retry-after': RETRY_AFTER_SECONDS });
    }

    const lastEventId = request.headers['last-event-id'];
    let after = lastEventId || request.query.after || undefined;
    const categories = splitList(request.query.category);
    const types = splitList(request.query.type);
    let first;
    try {
      // Validate the checkpoint before switching to a stream, so a bad one is a problem+json 400.
      first = await store.readAll({ after, maxCount: PAGE_SIZE, categories, types });
    } catch (error) {
      admission.release();
      throw error;
    }

    reply.hijack();
    const res = reply.raw;
    // The stall timeout and heartbeats govern this socket, not the idle timeout meant for requests.
    request.raw.socket?.setTimeout(0);
    const connection = new SseConnection(res, { stallTimeoutMs: streams.limits.stallTimeoutMs });
    admission.attach(connection);
    const release = admission.release;
    res.writeHead(200, {
      ...STREAM_HEADERS,
      'x-request-id': request.id,
      // Hijacked replies skip onSend: the checkpoint header is written here (events carry their own).
      ...(request.appliedCheckpoint !== null ? { 'keyledger-checkpoint': request.appliedCheckpoint } : {}),
    });
    // A key event may have changed the credential while the first page was read.
    const changed = refusal(credential);
    if (changed !== null) connection.close(changed);

    let page = first;
    try {
      await connection.write(`retry: 1000\n: connected\n\n`);
      while (!connection.closed) {
        let frames = '';
        for (const event of page.events) {
          frames += `id: ${event.checkpoint}\nevent: ${event.type}\ndata: ${JSON.stringify(toLedgerEvent(event))}\n\n`;
          if (frames.length >= WRITE_BATCH_CHARS) {
            if (!(await connection.write(frames))) break;
            frames = '';
          }
        }
        const lastSent = page.events.at(-1)?.checkpoint;
        if (page.checkpoint !== undefined && page.checkpoint !== lastSent && page.checkpoint !== after) {
          frames += `id: ${page.checkpoint}\nevent: checkpoint\ndata: {"checkpoint":${JSON.stringify(page.checkpoint)}}\n\n`;
        }
        if (frames && !(await connection.write(frames))) break;
        after = page.checkpoint ?? after;
        if (page.events.length === 0) {
          const before = Date.now();
          await store.waitForEvents(after, { signal: connection.signal, timeoutMs: heartbeatMs });
          if (connection.closed) break;
          if (Date.now() - before >= heartbeatMs - 5) {
            // Expiry is a matter of time, not of an event: look again on every heartbeat too.
            const reason = refusal(credential);
            if (reason !== null) connection.close(reason);
            else await connection.write(': heartbeat\n\n');
          }
        }
        if (connection.closed) break;
        page = await store.readAll({ after, maxCount: PAGE_SIZE, categories, types });
      }
    } catch (error) {
      if (!connection.closed) request.log.warn({ err: error }, 'event stream ended by an error');
      connection.close('server error; reconnect with Last-Event-ID');
    } finally {
      release();
      if (!connection.closed) connection.close('stream ended');
    }
  });
};
