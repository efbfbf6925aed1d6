/**
 * Fastify plugin: verifies the API key of every request (an `onRequest` hook) and answers
 * refusals itself; accepted requests carry the verify result as `request.keyledger`.
 *
 *   app.register(keyledgerFastify, { verifier, scopes: { 'GET /orders/:id': ['orders:read'] } });
 *
 * The plugin sets `Symbol.for('skip-override')` (what fastify-plugin does), so its hook applies
 * to every route of the instance it is registered on, including routes registered after it.
 * It is typed structurally so the SDK does not depend on fastify.
 */
import type { VerifyResult } from '../types.js';
import type { Verifier } from '../verifier/index.js';
import { createRequestGuard, type GuardOptions, type GuardRequest } from './request-guard.js';

export interface KeyledgerFastifyOptions extends GuardOptions {
  verifier: Verifier;
  /** Routes that need no key (matched against the route pattern or path), e.g. ['/health']. */
  publicRoutes?: readonly string[];
}

interface FastifyRequestLike {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  routeOptions?: { url?: string | undefined };
  keyledger?: VerifyResult | undefined;
}

interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(payload?: unknown): FastifyReplyLike;
}

interface FastifyInstanceLike {
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
  decorateRequest?(name: string, value: unknown): unknown;
  hasRequestDecorator?(name: string): boolean;
}

type Plugin = ((instance: FastifyInstanceLike, options: KeyledgerFastifyOptions) => Promise<void>) & { [key: symbol]: unknown };

export const keyledgerFastify: Plugin = Object.assign(
  async (instance: FastifyInstanceLike, options: KeyledgerFastifyOptions) => {
    if (!options?.verifier) throw new TypeError('keyledgerFastify needs a `verifier` (createVerifier)');
    const guard = createRequestGuard(options.verifier, options);
    const open = new Set(options.publicRoutes ?? []);
    if (instance.decorateRequest && !instance.hasRequestDecorator?.('keyledger')) instance.decorateRequest('keyledger', undefined);
    instance.addHook('onRequest', async (request, reply) => {
      const route = request.routeOptions?.url;
      const guardRequest: GuardRequest = { method: request.method, url: request.url, headers: request.headers, ...(route ? { route } : {}) };
      if (open.has(route ?? '') || open.has(request.url.split('?')[0]!)) return;
      const decision = await guard(guardRequest);
      for (const [name, value] of Object.entries(decision.headers)) reply.header(name, value);
      if (!decision.allow) {
        // Returning the reply after send() tells fastify the hook has answered.
        return reply.code(decision.status).send(decision.body);
      }
      request.keyledger = decision.result;
      return undefined;
    });
  },
  { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'keyledger' },
);
