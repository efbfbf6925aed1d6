/**
 * The service's verify checks, evaluated on cached facts, in the service's order: revoked,
 * expired, suspended, scope and endpoint, then limits. A rejection before the limits consumes
 * nothing at the service either, so answering it locally is exact. Scope and endpoint matching
 * use the very functions the service uses (@keyledger/schemas).
 */
import { endpointAllows, scopeCovers } from '@keyledger/schemas';
import type { VerifyResult } from '../types.js';
import type { KeyFacts } from './key-facts.js';

export interface VerifyContext {
  scopes?: readonly string[] | undefined;
  endpoint?: { method: string; path: string } | undefined;
  cost?: number | undefined;
}

/** A final local answer, or 'limits' when only the key's rate limit / quota remain to be checked. */
export type LocalOutcome = VerifyResult | 'limits';

export function evaluateFacts(facts: KeyFacts, context: VerifyContext, now: number): LocalOutcome {
  const code = decide(facts, context, now);
  return code === 'limits' ? code : answer(code, facts);
}

/** Like evaluateFacts, but only the code, so the hot path can reuse a prepared answer. */
export function decide(facts: KeyFacts, context: VerifyContext, now: number): VerifyResult['code'] | 'limits' {
  if (facts.revoked) return 'REVOKED';
  if (isExpired(facts, now)) return 'EXPIRED';
  if (facts.suspended) return 'SUSPENDED';
  if (!allowsScopes(facts, context.scopes) || !allowsEndpoint(facts, context.endpoint)) return 'FORBIDDEN';
  if (facts.rateLimit !== null || facts.quota !== null) return 'limits';
  return 'VALID';
}

/** True once the key can never verify again (revocation and expiry are final). */
export function isFinal(facts: KeyFacts, now: number): boolean {
  return facts.revoked || isExpired(facts, now);
}

export function answer(code: VerifyResult['code'], facts: KeyFacts, limits: VerifyResult['limits'] = EMPTY_LIMITS): VerifyResult {
  return {
    valid: code === 'VALID',
    code,
    keyId: facts.keyId,
    consumerId: facts.consumerId,
    scopes: facts.scopes,
    meta: facts.meta,
    expiresAt: effectiveExpiry(facts),
    limits,
  } as VerifyResult;
}

const EMPTY_LIMITS: VerifyResult['limits'] = { rate: null, quota: null };

function effectiveExpiry(facts: KeyFacts): string | null {
  if (facts.validUntil === null) return facts.expiresAt;
  if (facts.expiresAt === null) return facts.validUntil;
  return Date.parse(facts.validUntil) < Date.parse(facts.expiresAt) ? facts.validUntil : facts.expiresAt;
}

function isExpired(facts: KeyFacts, now: number): boolean {
  return (facts.expiresAt !== null && Date.parse(facts.expiresAt) <= now) || (facts.validUntil !== null && Date.parse(facts.validUntil) <= now);
}

function allowsScopes(facts: KeyFacts, requested: readonly string[] | undefined): boolean {
  if (!requested || requested.length === 0) return true;
  return requested.every((scope) => facts.scopes.some((granted) => scopeCovers(granted, scope)));
}

/** As the service: a key with endpoint rules is refused when the call does not say its endpoint. */
function allowsEndpoint(facts: KeyFacts, endpoint: VerifyContext['endpoint']): boolean {
  if (facts.endpoints.length === 0) return true;
  if (!endpoint) return false;
  return facts.endpoints.some((rule) => endpointAllows(rule, endpoint.method, endpoint.path));
}
