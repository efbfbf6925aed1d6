/** Liveness and readiness for load balancers and orchestrators. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

export interface HealthRoutesOptions {
  /** Ready once the projections have caught up with the ledger and the service is not draining. */
  isReady: () => boolean;
}

export interface ReadinessInputs {
  /** Startup finished (projections restored and caught up, root key ensured, routes built). */
  started: boolean;
  closing: boolean;
  /** Age of the oldest event the projections have not applied yet (ProjectionRunner.lagSeconds). */
  lagSeconds: number;
  maxLagSeconds: number;
}

/**
 * An instance whose projections fall behind the log answers verify from stale state (a
 * revocation not yet applied): it reports unready, so a balancer sends callers elsewhere.
 */
export function isServiceReady(inputs: ReadinessInputs): boolean {
  return inputs.started && !inputs.closing && inputs.lagSeconds <= inputs.maxLagSeconds;
}

const Health = z.object({ status: z.enum(['ok', 'unavailable']) });

export const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (app, { isReady }) => {
  app.get('/healthz', { config: { public: true }, schema: { tags: ['health'], operationId: 'healthz', response: { 200: Health } } }, async () => ({ status: 'ok' as const }));
  app.get('/readyz', { config: { public: true }, schema: { tags: ['health'], operationId: 'readyz', response: { 200: Health, 503: Health } } }, async (_request, reply) => {
    if (isReady()) return { status: 'ok' as const };
    return reply.code(503).send({ status: 'unavailable' as const });
  });
};
