/**
 * The HTTP application: fastify with zod validation and serialisation, problem+json errors,
 * bearer authentication against the ledger's own keys, and the OpenAPI document emitted from the
 * routes themselves.
 */
import { randomUUID } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { PROBLEM_TYPES } from '@keyledger/schemas';
import Fastify, { type FastifyPluginAsync, LogController } from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { KeyCommands } from '../app/key-commands.js';
import type { KeyProjection } from '../projections/key-projection.js';
import type { EventStore } from '../store/port.js';
import { createAuthHook } from './auth.js';
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
  now?: () => Date;
  version?: string;
  /** Extra /v1 routes (verify, quotas, live feed) registered by the features that own them. */
  v1Plugins?: FastifyPluginAsync[];
  /** Routes outside /v1 (metrics). */
  rootPlugins?: FastifyPluginAsync[];
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

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
      for (const plugin of deps.v1Plugins ?? []) await v1.register(plugin);
    },
    { prefix: '/v1' },
  );
  return app;
}

export type HttpApp = Awaited<ReturnType<typeof buildHttpApp>>;
