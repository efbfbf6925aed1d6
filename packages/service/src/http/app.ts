/**
 * The HTTP application: fastify with zod validation and serialisation, problem+json errors,
 * bearer authentication against the ledger's own keys, and the OpenAPI document emitted from the
 * routes themselves.
 */
import { randomUUID } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { PROBLEM_TYPES, type ParkedEventsResponse } from '@keyledger/schemas';
import Fastify, { type FastifyPluginAsync, LogController } from 'fastify';
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
import { createAuthHook } from './auth.js';
import { adminRoutes } from './routes/admin.js';
import { problemFor, sendProblem } from './problem.js';
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
  isReady: () => boolean;
  /** Events the projections parked (GET /v1/admin/parked-events); the route is left out without it. */
  parkedEvents?: () => ParkedEventsResponse;
  now?: () => Date;
  version?: string;
  /** Extra /v1 routes (verify, quotas, live feed) registered by the features that own them. */
  v1Plugins?: FastifyPluginAsync[];
  /** Routes outside /v1 (metrics). */
  rootPlugins?: FastifyPluginAsync[];
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

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
  const app = Fastify({
    ...(deps.logger === false ? { logger: false } : { loggerInstance: deps.logger }),
    bodyLimit: deps.bodyLimitBytes,
    // Per-request log lines would dominate the verify path; errors are logged below instead.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorateRequest('caller', null);

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

  app.addHook('onSend', async (request, reply, payload) => {
    reply.header('x-request-id', request.id);
    return payload;
  });

  app.setErrorHandler((error, request, reply) => {
    const { problem, internal } = problemFor(error, request);
    if (internal) request.log.error({ err: error, requestId: request.id }, 'request failed');
    else request.log.debug({ status: problem.status, type: problem.type, requestId: request.id }, 'request rejected');
    return sendProblem(reply, problem);
  });

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, {
      type: PROBLEM_TYPES.notFound,
      title: 'Not found',
      status: 404,
      detail: `no route ${request.method} ${request.url.split('?')[0]}`,
      instance: request.url.split('?')[0],
    }),
  );

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
      ],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes, { isReady: deps.isReady });
  for (const plugin of deps.rootPlugins ?? []) await app.register(plugin);

  await app.register(
    async (v1) => {
      v1.addHook('onRequest', createAuthHook(deps.keys));
      await v1.register(keyRoutes, { commands: deps.commands, keys: deps.keys, now });
      await v1.register(eventRoutes, { store: deps.store });
      await v1.register(eventStreamRoutes, { store: deps.store });
      if (deps.parkedEvents) await v1.register(adminRoutes, { parkedEvents: deps.parkedEvents });
      for (const plugin of deps.v1Plugins ?? []) await v1.register(plugin);
    },
    { prefix: '/v1' },
  );
  return app;
}

export type HttpApp = Awaited<ReturnType<typeof buildHttpApp>>;
