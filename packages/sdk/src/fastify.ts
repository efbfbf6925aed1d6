/**
 * `@keyledger/sdk/fastify`: the fastify plugin typed against fastify itself, and
 * `request.keyledger` typed on every FastifyRequest through module augmentation.
 *
 *   import { keyledgerFastify } from '@keyledger/sdk/fastify';
 *   await app.register(keyledgerFastify, { verifier, scopes: { 'GET /orders/:id': ['orders:read'] } });
 *   app.get('/orders/:id', async (request) => request.keyledger?.consumerId);
 *
 * A subpath of its own because the augmentation needs fastify's types: importing the SDK's main
 * entry never requires fastify to be installed (it is an optional peer dependency).
 */
import type { FastifyPluginAsync } from 'fastify';
import { keyledgerFastify as plugin, type KeyledgerFastifyOptions } from './adapters/fastify.js';
import type { VerifyValid } from './types.js';

export type { KeyledgerFastifyOptions } from './adapters/fastify.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The verified key (always `valid: true`) on routes the plugin guards; undefined on
     * `publicRoutes`, when the request failed open, and on instances without the plugin.
     */
    keyledger: VerifyValid | undefined;
  }
}

export const keyledgerFastify: FastifyPluginAsync<KeyledgerFastifyOptions> = plugin as unknown as FastifyPluginAsync<KeyledgerFastifyOptions>;
