/**
 * The verify checks that need no limiter, in the fixed order (revoked, expired, suspended,
 * scope and endpoint). The service and the SDK's gateway verifier both call this, so a cached
 * decision at a gateway is computed exactly as the service computes it.
 */
import { endpointAllows, scopeCovers } from './scopes.js';

export interface AccessFacts {
  revoked: boolean;
  suspended: boolean;
  expiresAt: string | null;
  /** End of a rotation's grace period. */
  validUntil: string | null;
  scopes: readonly string[];
  endpoints: readonly string[];
}

export interface AccessRequest {
  scopes?: readonly string[] | undefined;
  endpoint?: { method: string; path: string } | undefined;
}

export type AccessRefusal = 'REVOKED' | 'EXPIRED' | 'SUSPENDED' | 'FORBIDDEN';

/** The first check that refuses, or null when only rate limit and quota remain. */
export function checkAccess(facts: AccessFacts, request: AccessRequest, nowMs: number): AccessRefusal | null {
  if (facts.revoked) return 'REVOKED';
  if (isExpiredAt(facts, nowMs)) return 'EXPIRED';
  if (facts.suspended) return 'SUSPENDED';
  if (!grantsScopes(facts.scopes, request.scopes) || !allowsEndpointOf(facts.endpoints, request.endpoint)) return 'FORBIDDEN';
  return null;
}

/** Expiry and the end of a rotation's grace period are points in time, never scheduled events. */
export function isExpiredAt(facts: Pick<AccessFacts, 'expiresAt' | 'validUntil'>, nowMs: number): boolean {
  return (
    (facts.expiresAt !== null && Date.parse(facts.expiresAt) <= nowMs) ||
    (facts.validUntil !== null && Date.parse(facts.validUntil) <= nowMs)
  );
}

/** The instant the key stops working: its expiry or the end of a rotation's grace period. */
export function effectiveExpiry(facts: Pick<AccessFacts, 'expiresAt' | 'validUntil'>): string | null {
  if (facts.validUntil === null) return facts.expiresAt;
  if (facts.expiresAt === null) return facts.validUntil;
  return Date.parse(facts.validUntil) < Date.parse(facts.expiresAt) ? facts.validUntil : facts.expiresAt;
}

/** Every requested scope must be covered by one granted scope. */
export function grantsScopes(granted: readonly string[], requested: readonly string[] | undefined): boolean {
  if (!requested || requested.length === 0) return true;
  return requested.every((scope) => granted.some((pattern) => scopeCovers(pattern, scope)));
}

/**
 * A key with endpoint rules may call only those endpoints; a verify that does not say which
 * endpoint is being called cannot be checked, so it is refused (fail closed).
 */
export function allowsEndpointOf(rules: readonly string[], endpoint: AccessRequest['endpoint']): boolean {
  if (rules.length === 0) return true;
  if (!endpoint) return false;
  return rules.some((rule) => endpointAllows(rule, endpoint.method, endpoint.path));
}
