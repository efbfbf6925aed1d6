/**
 * The HTTP application: fastify with zod validation and serialisation, problem+json errors,
 * bearer authentication against the ledger's own keys, and the OpenAPI document emitted from the
 * routes themselves.
 */
import { randomUUID } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { PROBLEM_TYPES, type ParkedEventsResponse } from '@keyledger/schemas';
import type { FastifyPluginAsync } from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { AppError } from '../app/errors.js';
import type { KeyCommands } from '../app/key-commands.js';
import type { KeyProjection } from '../projections/key-projection.js';
import type { EventStore } from '../store/port.js';
import { assertEveryRouteDeclaresAccess, type AuthFailureReason, createAuthHook } from './auth.js';
import type { AuthFailureThrottle } from './auth-throttle.js';
import { checkpointHooks } from './context.js';
import { acceptMetricsToken } from '../metrics/metrics.js';
import { EventStreamRegistry, type EventStreamLimits } from './event-stream-registry.js';
import { createFastify, type HttpServerLimits } from './server.js';
import { adminRoutes } from './routes/admin.js';
import { eventRoutes } from './routes/events.js';
import { eventStreamRoutes } from './routes/event-stream.js';
import { healthRoutes } from './routes/health.js';
import { keyRoutes } from './routes/keys.js';

export interface HttpAppDeps {
  logger: Logger | false;
  bodyLimitBytes: number;
  store: EventStore;
  keys: KeyProjection;
  commands: KeyCommands;
  /** The ledger checkpoint this instance's projections have applied. */
  appliedCheckpoint: () => string | null;
  isReady: () => boolean;
  /** Slows down failed authentications per source address. */
  authThrottle: AuthFailureThrottle;
  onAuthFailure?: (reason: AuthFailureReason) => void;
  /** Events the projections parked (GET /v1/admin/parked-events); the route is left out without it. */
  parkedEvents?: () => ParkedEventsResponse;
  now?: () => Date;
  version?: string;
  /** Extra /v1 routes (verify, quotas, live feed) registered by the features that own them. */
  v1Plugins?: FastifyPluginAsync[];
  /** Routes outside /v1 (metrics). */
  rootPlugins?: FastifyPluginAsync[];
  /** Server timeouts and connection cap; Node's defaults when absent. */
  httpLimits?: HttpServerLimits;
  eventStreamLimits?: EventStreamLimits;
  /** KEYLEDGER_METRICS_TOKEN: a static bearer accepted for `metrics:read` routes. */
  metricsToken?: string | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The open live-feed streams (caps, credential re-checks, buffered bytes). */
    eventStreams: EventStreamRegistry;
  }
}

/**
 * No request body needs more than a few levels; free-form `meta` gets room. Deeper JSON is
 * refused before parsing because the recursive schema validators would overflow the stack
 * on it (a 500 instead of a 400).
 */
export const MAX_JSON_DEPTH = 32;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when any string (or property name) holds a NUL or an unpaired surrogate: text that no
 * store keeps as sent (PostgreSQL's jsonb rejects both, SQLite would silently mangle the latter).
 */
export function hasUnstorableText(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000') || LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.some(hasUnstorableText);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([key, item]) => hasUnstorableText(key) || hasUnstorableText(item));
  }
  return false;
}

/** True when `text` opens more than `max` nested arrays/objects (string contents ignored). */
export function jsonNestingExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

export async function buildHttpApp(deps: HttpAppDeps) {
  const now = deps.now ?? (() => new Date());
  const app = createFastify({
    logger: deps.logger,
    ...(deps.httpLimits ? { limits: deps.httpLimits } : {}),
    fastify: {
      bodyLimit: deps.bodyLimitBytes,
      // The request id recorded in events is always our own: a client could otherwise pick ids that
      // collide with other requests' in the audit trail. Its x-request-id is kept as clientRequestId.
      requestIdHeader: false,
      genReqId: () => randomUUID(),
      routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    },
  }).withTypeProvider<ZodTypeProvider>();
  const streams = new EventStreamRegistry(deps.eventStreamLimits);
  app.decorate('eventStreams', streams);

  const routes: Parameters<typeof assertEveryRouteDeclaresAccess>[0][number][] = [];
  app.addHook('onRoute', (route) => void routes.push(route));
  // Before authentication, so even a 401 says which ledger checkpoint answered it.
  const checkpoint = checkpointHooks(deps.appliedCheckpoint);
  app.addHook('onRequest', checkpoint.onRequest);
  app.addHook('onSend', checkpoint.onSend);
  // One auth hook for every route; the static metrics token is accepted on `metrics:read` routes only.
  const authenticate = createAuthHook({
    keys: deps.keys,
    throttle: deps.authThrottle,
    // Date.now unless a clock was injected: the hook reads the time on every request.
    now: deps.now ? () => now().getTime() : Date.now,
    ...(deps.onAuthFailure ? { onFailure: deps.onAuthFailure } : {}),
  });
  app.addHook('onRequest', acceptMetricsToken(authenticate, deps.metricsToken));
  app.addHook('onReady', async () => assertEveryRouteDeclaresAccess(routes));

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest('caller', null);
  app.decorateRequest('appliedCheckpoint', null);

  // JSON only: fastify's default text/plain parser would hand a string body to the schemas
  // (a confusing 400) where the honest answer is 415.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (jsonNestingExceeds(body as string, MAX_JSON_DEPTH)) {
      done(new AppError(400, PROBLEM_TYPES.malformedBody, 'Malformed body', `JSON nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      return;
    }
    parseJson(request, body as string, (error, value) => {
      if (!error && hasUnstorableText(value)) {
        done(new AppError(400, PROBLEM_TYPES.malformedBody, 'Malformed body', 'text must not contain NUL characters or unpaired UTF-16 surrogates'), undefined);
        return;
      }
      done(error, value);
    });
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    done(null, payload);
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'keyledger',
        version: deps.version ?? '0.1.0',
        description:
          'Event-sourced API key lifecycle: issue, scope, limit, rotate and revoke keys; verify them; replay their history.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A keyledger management key' } } },
      tags: [
        { name: 'keys', description: 'Key lifecycle' },
        { name: 'verify', description: 'Verification for gateways' },
        { name: 'events', description: 'The ledger' },
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'admin', description: 'Operator reads' },
        { name: 'webhooks', description: 'Webhook endpoints and their deliveries' },
        { name: 'leaks', description: 'Leaked-key reports from secret scanners' },
        { name: 'audit', description: 'Transparency log: signed checkpoints, inclusion and consistency proofs' },
      ],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(async (docs) => {
    // The docs UI's routes are added by its plugin; this context declares them all public.
    docs.addHook('onRoute', (route) => {
      route.config = { ...route.config, public: true };
    });
    await docs.register(fastifySwaggerUi, { routePrefix: '/docs' });
  });

  app.get('/openapi.json', { schema: { hide: true }, config: { public: true } }, async () => app.swagger());

  await app.register(healthRoutes, { isReady: deps.isReady });
  for (const plugin of deps.rootPlugins ?? []) await app.register(plugin);

  await app.register(
    async (v1) => {
      await v1.register(keyRoutes, { commands: deps.commands, keys: deps.keys, now });
      await v1.register(eventRoutes, { store: deps.store });
      await v1.register(eventStreamRoutes, { store: deps.store, keys: deps.keys, streams });
      if (deps.parkedEvents) await v1.register(adminRoutes, { parkedEvents: deps.parkedEvents });
      for (const plugin of deps.v1Plugins ?? []) await v1.register(plugin);
    },
    { prefix: '/v1' },
  );
  return app;
}

export type HttpApp = Awaited<ReturnType<typeof buildHttpApp>>;
