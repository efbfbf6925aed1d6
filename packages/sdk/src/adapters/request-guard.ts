/**
 * A framework-free guard: `(request) => Promise<Decision>` for node:http, express or anything
 * else that has a method, a URL and headers. It reads the presented key, verifies it with the
 * gateway verifier, and maps the outcome to an HTTP answer (GATEWAY_REFUSALS in @keyledger/schemas):
 *
 *   no key, MALFORMED, NOT_FOUND, REVOKED, EXPIRED  -> 401 (with WWW-Authenticate: Bearer)
 *   SUSPENDED, FORBIDDEN (scope or endpoint)        -> 403
 *   RATE_LIMITED, QUOTA_EXCEEDED                    -> 429 (RateLimit-Policy, RateLimit, Retry-After)
 *   verification failed (network, service down)     -> 503, unless `failOpen: true`
 *
 * Refusals are RFC 9457 problem details (`application/problem+json`), with keyledger's problem
 * type URIs and the verify code, so clients can switch on them.
 */
import { GATEWAY_REFUSALS, gatewayRefusalFor, PROBLEM_TYPES } from '@keyledger/schemas';
import type { VerifyResult } from '../types.js';
import type { Verifier } from '../verifier/index.js';

export interface GuardRequest {
  method: string;
  /** The request target, e.g. /orders/7?x=1 (a query is ignored). */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The route pattern the framework matched, e.g. /orders/:id, for per-route scopes. */
  route?: string;
}

/**
 * Scopes a request needs: one list for every route, a map from "METHOD /route" (or "/route" for
 * any method) to a list, or a function. Unlisted routes need no scope (the key must still be valid).
 */
export type RequiredScopes = readonly string[] | Readonly<Record<string, readonly string[]>> | ((request: GuardRequest) => readonly string[] | undefined);

export interface GuardOptions {
  scopes?: RequiredScopes;
  /** Quota units a request costs (default 1). */
  cost?: number | ((request: GuardRequest) => number);
  /** Let requests through when verification itself fails (default false: answer 503). */
  failOpen?: boolean;
  /** Called with every verification failure, whether failing open or closed. */
  onError?: (error: unknown, request: GuardRequest) => void;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The verify code behind a refusal, e.g. REVOKED. */
  code?: string;
}

export type Decision =
  | {
      allow: true;
      /** Absent only when failing open. */
      result: VerifyResult | undefined;
      /** Headers to add to the upstream response (RateLimit fields). */
      headers: Record<string, string>;
      /** Set when the request passed only because `failOpen` is on. */
      failedOpen?: true;
    }
  | { allow: false; status: 401 | 402 | 403 | 429 | 503; headers: Record<string, string>; body: ProblemBody; result?: VerifyResult };

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The key from `Authorization: Bearer <key>` or `x-api-key`, or undefined. */
export function presentedKey(headers: GuardRequest['headers']): string | undefined {
  const authorization = first(headers.authorization);
  if (authorization !== undefined) {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1];
  }
  const apiKey = first(headers['x-api-key'])?.trim();
  return apiKey ? apiKey : undefined;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function requiredScopes(spec: RequiredScopes | undefined, request: GuardRequest): readonly string[] | undefined {
  if (spec === undefined) return undefined;
  if (typeof spec === 'function') return spec(request);
  if (Array.isArray(spec)) return spec as readonly string[];
  const map = spec as Readonly<Record<string, readonly string[]>>;
  const route = request.route ?? pathOf(request.url);
  return map[`${request.method.toUpperCase()} ${route}`] ?? map[route];
}

function refuse(status: 401 | 402 | 403 | 429 | 503, type: string, title: string, detail: string, code: string | undefined, headers: Record<string, string>, result?: VerifyResult): Decision {
  return {
    allow: false,
    status,
    headers: { 'content-type': PROBLEM_CONTENT_TYPE, ...headers },
    body: { type, title, status, detail, ...(code ? { code } : {}) },
    ...(result ? { result } : {}),
  };
}

function rateLimitHeaders(result: VerifyResult): Record<string, string> {
  const info = result.rateLimit;
  if (!info) return {};
  return {
    'RateLimit-Policy': info.policy,
    RateLimit: info.value,
    ...(info.retryAfter !== undefined ? { 'Retry-After': String(info.retryAfter) } : {}),
  };
}

/** Maps a verify result to the answer a gateway gives (the shared table in @keyledger/schemas). */
export function decisionFor(result: VerifyResult): Decision {
  const limitHeaders = rateLimitHeaders(result);
  if (result.code === 'VALID') return { allow: true, result, headers: limitHeaders };
  const refusal = gatewayRefusalFor(result.code);
  if (!refusal) {
    return refuse(503, PROBLEM_TYPES.unavailable, 'Verification failed', `unexpected verify code ${String((result as { code: unknown }).code)}`, undefined, {});
  }
  const headers: Record<string, string> = refusal.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : refusal.status === 429 ? { 'Retry-After': '1', ...limitHeaders } : {};
  return refuse(refusal.status, refusal.type, refusal.title, refusal.detail, result.code, headers, result);
}

export function createRequestGuard(verifier: Verifier, options: GuardOptions = {}): (request: GuardRequest) => Promise<Decision> {
  return async (request) => {
    const key = presentedKey(request.headers);
    if (key === undefined) {
      const missing = GATEWAY_REFUSALS.MISSING;
      return refuse(401, missing.type, missing.title, missing.detail, 'MISSING', { 'WWW-Authenticate': 'Bearer' });
    }
    const scopes = requiredScopes(options.scopes, request);
    const cost = typeof options.cost === 'function' ? options.cost(request) : options.cost;
    let result: VerifyResult;
    try {
      result = await verifier.verify(key, {
        ...(scopes && scopes.length > 0 ? { scopes } : {}),
        endpoint: { method: request.method.toUpperCase(), path: pathOf(request.url) },
        ...(cost !== undefined ? { cost } : {}),
      });
    } catch (error) {
      options.onError?.(error, request);
      if (options.failOpen) return { allow: true, result: undefined, headers: {}, failedOpen: true };
      // Never echo the error: it may come from anywhere, and the key must not leak through it.
      return refuse(503, PROBLEM_TYPES.unavailable, 'Key verification unavailable', 'the API key could not be verified right now; retry later', undefined, { 'Retry-After': '1' });
    }
    return decisionFor(result);
  };
}
