/**
 * Management authentication: callers present a key from the same ledger (`Authorization:
 * Bearer <key>`) that carries management permissions. The credential is checked against the
 * live projection on every request, so revoking or suspending a management key takes effect at
 * once. Nothing but its digest is ever stored, and not even that is logged.
 *
 * Deny by default: every route declares `config.permission` or `config.public: true`, and a route
 * that declares neither stops the service's start (assertEveryRouteDeclaresAccess).
 *
 * No liveness oracle: a well-formed key that is unknown, revoked, suspended, expired or a consumer
 * key all get the same 401, so the management API cannot be used to test whether a stolen
 * consumer key is live. Failed attempts are logged (never the credential), counted, and slowed
 * per source address.
 */
import { hasPermission, PROBLEM_TYPES, type Permission } from '@keyledger/schemas';
import type { FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { PresentedKeyDigests } from '../domain/presented-key-digests.js';
import { keyStatusAt } from '../domain/keys/status.js';
import type { KeyProjection } from '../projections/key-projection.js';
import type { AuthFailureThrottle } from './auth-throttle.js';
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
    /** The management permission a route needs. */
    permission?: Permission;
    /** Declares the route open to anyone; a route must say this or name a permission. */
    public?: true;
    /**
     * The header that carries the management credential (`Bearer <key>`), lowercase; default
     * `authorization`. Forward-auth names its own, so a gateway's credential never collides with
     * the consumer's Authorization header that it forwards.
     */
    credentialHeader?: string;
  }
}

/** Why an authentication failed; a label of the failure metric, never shown to the caller. */
export type AuthFailureReason = 'missing' | 'malformed' | 'unknown' | 'inactive' | 'not_management' | 'throttled';

export interface AuthHookOptions {
  keys: KeyProjection;
  throttle: AuthFailureThrottle;
  now?: () => number;
  onFailure?: (reason: AuthFailureReason) => void;
}

const CHALLENGE = { 'www-authenticate': 'Bearer realm="keyledger"' };

export function createAuthHook({ keys, throttle, now = Date.now, onFailure }: AuthHookOptions) {
  const digests = new PresentedKeyDigests(1024);

  const refuse = (
    request: FastifyRequest,
    reply: FastifyReply,
    reason: Exclude<AuthFailureReason, 'throttled'>,
    credentialHeader = 'authorization',
  ) => {
    onFailure?.(reason);
    const source = request.ip ?? 'unknown';
    const { throttledNow } = throttle.recordFailure(source, now());
    const log = { reason, sourceAddress: source, route: request.routeOptions.url, method: request.method, requestId: request.id };
    if (throttledNow) request.log.warn(log, 'authentication failures from this address exceed the limit; slowing it down');
    else request.log.info(log, 'authentication failed');
    const detail =
      reason === 'missing'
        ? `send a management key as ${credentialHeader === 'authorization' ? 'Authorization' : credentialHeader}: Bearer <key>`
        : 'the bearer credential is not a valid, active keyledger management key';
    return sendProblem(reply, { type: PROBLEM_TYPES.unauthorized, title: 'Unauthorized', status: 401, detail }, CHALLENGE);
  };

  // An async hook that answers must return the reply: fastify then stops the request there. (Returning
  // nothing after sending would let the route's handler run on an unauthenticated request.)
  return async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    request.caller = null;
    const config = request.routeOptions.config;
    // No route matched: the not-found handler answers 404 and there is nothing to protect.
    if (request.routeOptions.url === undefined || config.public === true) return undefined;
    const needed = config.permission;
    if (needed === undefined) {
      // Unreachable once the start-up check passed; refusing keeps a mistake from opening a route.
      return sendProblem(reply, { type: PROBLEM_TYPES.forbidden, title: 'Forbidden', status: 403, detail: 'this route declares no permission' });
    }
    const source = request.ip ?? 'unknown';
    const retryAfter = throttle.retryAfterSeconds(source, now());
    if (retryAfter > 0) {
      onFailure?.('throttled');
      return sendProblem(
        reply,
        {
          type: PROBLEM_TYPES.rateLimited,
          title: 'Too many failed authentications',
          status: 429,
          detail: `too many failed authentications from this address; retry in ${retryAfter} s`,
        },
        { 'retry-after': String(retryAfter) },
      );
    }
    const credentialHeader = config.credentialHeader ?? 'authorization';
    const header = request.headers[credentialHeader];
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return refuse(request, reply, 'missing', credentialHeader);
    const digest = digests.get(header.slice(7).trim());
    if (digest === null) return refuse(request, reply, 'malformed');
    const state = keys.getByDigest(digest);
    if (!state) return refuse(request, reply, 'unknown');
    if (keyStatusAt(state, now()) !== 'active') return refuse(request, reply, 'inactive');
    if (state.kind !== 'management') return refuse(request, reply, 'not_management');
    if (!hasPermission(state.permissions, needed)) {
      // A live management key of ours: it may learn which permission it lacks.
      return sendProblem(reply, {
        type: PROBLEM_TYPES.forbidden,
        title: 'Forbidden',
        status: 403,
        detail: `this credential lacks the '${needed}' permission`,
      });
    }
    request.caller = { keyId: state.id, permissions: state.permissions };
    return undefined;
  };
}

/** Thrown at start-up when a route declares neither a permission nor `public: true`. */
export class UndeclaredRouteAccessError extends Error {
  override name = 'UndeclaredRouteAccessError';
}

/** Checked once the app is assembled (plugins such as the docs UI add their routes late). */
export function assertEveryRouteDeclaresAccess(routes: readonly Pick<RouteOptions, 'method' | 'url' | 'config'>[]): void {
  const undeclared = routes
    .filter((route) => route.config?.permission === undefined && route.config?.public !== true)
    .map((route) => `${[route.method].flat().join(',')} ${route.url}`);
  if (undeclared.length > 0) {
    throw new UndeclaredRouteAccessError(
      `routes must declare config.permission or config.public: ${[...new Set(undeclared)].join('; ')}`,
    );
  }
}
