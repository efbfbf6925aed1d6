/** Liveness and readiness for load balancers and orchestrators. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

export interface HealthRoutesOptions {
  /** Ready once the projections have caught up with the ledger and the service is not draining. */
  isReady: () => boolean;
}

const Health = z.object({ status: z.enum(['ok', 'unavailable']) });

export const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (app, { isReady }) => {
  app.get('/healthz', { config: { public: true }, schema: { tags: ['health'], operationId: 'healthz', response: { 200: Health } } }, async () => ({ status: 'ok' as const }));
  app.get('/readyz', { config: { public: true }, schema: { tags: ['health'], operationId: 'readyz', response: { 200: Health, 503: Health } } }, async (_request, reply) => {
    if (isReady()) return { status: 'ok' as const };
    return reply.code(503).send({ status: 'unavailable' as const });
  });
};
