/**
 * /v1/forward-auth (any method, optionally followed by the original path): keyledger as the auth
 * backend of nginx auth_request, Caddy forward_auth, Traefik ForwardAuth and Envoy ext_authz.
 * The gateway asks about the original request; the answer is in the status code and headers:
 *
 *   200  allowed; keyledger-consumer-id, keyledger-key-id, keyledger-plan-id to copy upstream
 *   401  no key, malformed, unknown, revoked or expired (WWW-Authenticate: Bearer)
 *   403  suspended, a scope the route needs, an endpoint outside the key's rules
 *   429  rate limit or quota, with Retry-After and the RateLimit fields
 *
 * Refusals carry the same problem+json body as the SDK's request guard (GATEWAY_REFUSALS), for
 * gateways that pass it through, and every answer says its verify code in keyledger-code. The
 * key is checked, charged and counted by the same verification as POST /v1/verify.
 *
 * The gateway's own management key (keys:verify) travels in Keyledger-Authorization, so the
 * consumer's Authorization header reaches this route untouched.
 */
import { isIP } from 'node:net';
import { GATEWAY_REFUSALS, gatewayRefusalFor, PROBLEM_TYPES, type GatewayRefusal, type RefusedCode } from '@keyledger/schemas';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ForwardAuthConfig } from '../../config/config.js';
import type { KeyProjection } from '../../projections/key-projection.js';
import { createProxyTrust, originalRequestOf, pathOf, presentedKeyOf, requiredScopesOf } from '../../verify/forwarded-request.js';
import { limitResponseHeaders, type Verification } from '../../verify/verification.js';
import { sendProblem } from '../problem.js';

export const FORWARD_AUTH_PATH = '/forward-auth';
/** The request header carrying the gateway's management key, as `Bearer <key>`. */
export const GATEWAY_CREDENTIAL_HEADER = 'keyledger-authorization';

export interface ForwardAuthRoutesOptions {
  verification: Verification;
  keys: KeyProjection;
  config: ForwardAuthConfig;
}

export const forwardAuthRoutes: FastifyPluginAsync<ForwardAuthRoutesOptions> = async (app, { verification, keys, config }) => {
  const trust = createProxyTrust(config.trustedProxies);

  // A gateway may forward the original body (or its headers) with the subrequest. It is never
  // read: answer whatever the content type (Node discards the unread body after the response).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

  const refuse = (reply: FastifyReply, code: RefusedCode, refusal: GatewayRefusal, headers: Record<string, string>, detail = refusal.detail) => {
    reply.header('keyledger-code', code);
    if (refusal.status === 401) reply.header('www-authenticate', 'Bearer');
    if (refusal.status === 429 && headers['retry-after'] === undefined) reply.header('retry-after', '1');
    const body = { type: refusal.type, title: refusal.title, status: refusal.status, detail, code };
    return sendProblem(reply, body, headers);
  };

  const route = {
    config: { permission: 'keys:verify' as const, credentialHeader: GATEWAY_CREDENTIAL_HEADER },
    // Gateways, not SDK clients, call it; its contract is headers and status codes (README).
    schema: { hide: true },
  };
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const at = request.url.indexOf(FORWARD_AUTH_PATH);
    const suffix = request.url.slice(at + FORWARD_AUTH_PATH.length) || '/';
    const read = originalRequestOf({ peer: request.socket.remoteAddress, method: request.method, suffix: suffix.startsWith('/') ? suffix : `/${suffix}`, headers: request.headers }, trust);
    if (!read.ok) {
      return sendProblem(reply, { type: PROBLEM_TYPES.validation, title: 'Bad forwarding headers', status: 400, detail: read.problem });
    }
    const original = read.request;
    const key = presentedKeyOf(config.keyFrom, request.headers, original.target);
    if (key === undefined) return refuse(reply, 'MISSING', GATEWAY_REFUSALS.MISSING, {});
    const path = pathOf(original.target);
    const scopes = requiredScopesOf(config.scopes, original.method, path);
    if (scopes === null) {
      return refuse(reply, 'FORBIDDEN', GATEWAY_REFUSALS.FORBIDDEN, {}, 'the request path holds . or .. segments; no rule can say where it leads');
    }
    const { response, decision } = await verification({
      key,
      ...(scopes.length > 0 ? { scopes } : {}),
      endpoint: { method: original.method, path },
      cost: 1,
      // The client's own address (through trusted proxies), for the consumer's and plan's allowed networks.
      ...(original.clientAddress !== null && isIP(original.clientAddress) !== 0 ? { clientIp: original.clientAddress } : {}),
    });
    const headers = limitResponseHeaders(decision);
    const refusal = gatewayRefusalFor(response.code);
    if (refusal) return refuse(reply, response.code as RefusedCode, refusal, headers);
    const planId = response.keyId === null ? null : (keys.getById(response.keyId)?.planId ?? null);
    reply.headers(headers);
    reply.header('keyledger-code', response.code);
    reply.header('keyledger-key-id', response.keyId ?? '');
    reply.header('keyledger-consumer-id', response.consumerId ?? '');
    // Always sent (empty without a plan), so a gateway copying it overwrites anything a client sent.
    reply.header('keyledger-plan-id', planId ?? '');
    return reply.code(200).send();
  };
  app.all(FORWARD_AUTH_PATH, route, handler);
  app.all(`${FORWARD_AUTH_PATH}/*`, route, handler);
};
