/** Operator reads under /v1/admin: what the projections had to set aside. */
import { ParkedEventsResponse, Problem } from '@keyledger/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

export interface AdminRoutesOptions {
  /** The parked events of this instance's projections. */
  parkedEvents: () => ParkedEventsResponse;
}

export const adminRoutes: FastifyPluginAsyncZod<AdminRoutesOptions> = async (app, { parkedEvents }) => {
  app.get('/admin/parked-events', {
    config: { permission: 'admin' },
    schema: {
      tags: ['admin'],
      security: [{ bearer: [] }],
      operationId: 'listParkedEvents',
      summary: "Events this instance's projections could not apply (parked so the log keeps moving)",
      response: { 200: ParkedEventsResponse, 401: Problem, 403: Problem },
    },
  }, async () => parkedEvents());
};
