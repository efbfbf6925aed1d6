/**
 * The service's verify checks, evaluated on cached facts, in the service's order: revoked,
 * expired, suspended, scope and endpoint, then limits. A rejection before the limits consumes
 * nothing at the service either, so answering it locally is exact. Scope and endpoint matching
 * use the very functions the service uses (@keyledger/schemas).
 */
import { effectiveExpiry } from '@keyledger/schemas';
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
  return code === 'limits' ? code : answer(code, facts, EMPTY_LIMITS, context);
}

/** Like evaluateFacts, but only the code, so the hot path can reuse a prepared answer. */
export function decide(facts: KeyFacts, context: VerifyContext, now: number): VerifyResult['code'] | 'limits' {
  // checkAccess's order (revoked, expired, suspended, scope and endpoint), on precomputed facts.
  if (facts.revoked) return 'REVOKED';
  if (facts.expiryMs <= now) return 'EXPIRED';
  if (facts.suspended) return 'SUSPENDED';
  if (!facts.rules.grants(context.scopes) || !facts.rules.allows(context.endpoint)) return 'FORBIDDEN';
  if (facts.rateLimit !== null || facts.quota !== null) return 'limits';
  return 'VALID';
}

/** True once the key can never verify again (revocation and expiry are final). */
export function isFinal(facts: KeyFacts, now: number): boolean {
  return facts.revoked || facts.expiryMs <= now;
}

export function answer(code: VerifyResult['code'], facts: KeyFacts, limits: VerifyResult['limits'] = EMPTY_LIMITS, context: VerifyContext = {}): VerifyResult {
  return {
    valid: code === 'VALID',
    code,
    keyId: facts.keyId,
    consumerId: facts.consumerId,
    scopes: facts.scopes,
    meta: facts.meta,
    expiresAt: effectiveExpiry(facts),
    limits,
    // Only keys outside any plan or registered consumer are answered from the cache (see verifier.ts).
    plan: null,
    reason: code === 'FORBIDDEN' ? forbiddenReason(facts, context) : null,
    replayed: false,
    consumerRegistered: false,
  } as VerifyResult;
}

const EMPTY_LIMITS: VerifyResult['limits'] = { rate: null, quota: null, rates: [], credits: null };

/** Which rule a FORBIDDEN answer broke: the scope check comes first. */
export function forbiddenReason(facts: KeyFacts, context: VerifyContext): 'scope' | 'endpoint' {
  return facts.rules.grants(context.scopes) ? 'endpoint' : 'scope';
}
