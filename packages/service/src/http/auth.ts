/**
 * Management authentication: callers present a key from the same ledger (`Authorization:
 * Bearer <key>`) that carries management permissions. The credential is checked against the
 * live projection on every request, so revoking or suspending a management key takes effect at
 * once. Nothing but its digest is ever stored or logged (PresentedKeyDigests only spares re-hashing).
 */
import { hasPermission, PROBLEM_TYPES, type Permission } from '@keyledger/schemas';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { PresentedKeyDigests } from '../domain/presented-key-digests.js';
import { keyStatusAt } from '../domain/keys/status.js';
import type { KeyProjection } from '../projections/key-projection.js';
import { sendProblem } from './problem.js';

export interface Caller {
  keyId: string;
  permissions: Permission[];
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    /** The management permission a route needs; routes without one are public. */
    permission?: Permission;
    /**
     * The header that carries the management credential (`Bearer <key>`), lowercase; default
     * `authorization`. Forward-auth names its own, so a gateway's credential never collides with
     * the consumer's Authorization header that it forwards.
     */
    credentialHeader?: string;
  }
}

export function createAuthHook(keys: KeyProjection, now: () => number = Date.now) {
  const digests = new PresentedKeyDigests(1024);
  return async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const needed = request.routeOptions.config.permission;
    request.caller = null;
    if (needed === undefined) return;
    const credentialHeader = request.routeOptions.config.credentialHeader ?? 'authorization';
    const header = request.headers[credentialHeader];
    const challenge = { 'www-authenticate': 'Bearer realm="keyledger"' };
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) {
      return void sendProblem(reply, {
        type: PROBLEM_TYPES.unauthorized,
        title: 'Unauthorized',
        status: 401,
        detail: `send a management key as ${credentialHeader}: Bearer <key>`,
      }, challenge);
    }
    const token = header.slice(7).trim();
    const digest = digests.get(token);
    const state = digest === null ? undefined : keys.getByDigest(digest);
    if (!state || keyStatusAt(state, now()) !== 'active') {
      return void sendProblem(reply, {
        type: PROBLEM_TYPES.unauthorized,
        title: 'Unauthorized',
        status: 401,
        detail: 'the bearer credential is not a valid, active keyledger key',
      }, challenge);
    }
    if (!hasPermission(state.permissions, needed)) {
      return void sendProblem(reply, {
        type: PROBLEM_TYPES.forbidden,
        title: 'Forbidden',
        status: 403,
        detail: `this credential lacks the '${needed}' permission`,
      });
    }
    request.caller = { keyId: state.id, permissions: state.permissions };
  };
}
