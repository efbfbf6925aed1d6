/**
 * The verify path. Answers from memory: format and checksum (no lookup), SHA-256 digest, the
 * key projection, status (the consumer's included), scope and endpoint, client network, then
 * every limit in one limiter call. The order is fixed (format, existence, revoked, expired,
 * suspended, scope, endpoint, network, rates, quotas, credits) and a rejected check consumes
 * nothing: the limiter is only called when everything before passed, and it charges every limit
 * together or not at all.
 *
 * A key of a registered consumer or on a defined plan is checked against its effective policy
 * (verify/key-policy.ts); any other key (issued before consumers and plans existed) takes the
 * plain path it always took.
 */
import {
  type AccessFacts,
  checkAccess,
  effectiveExpiry,
  type ForbiddenReason,
  grantsScopes,
  type VerifyCode,
  type VerifyRequest,
  type VerifyResponse,
} from '@keyledger/schemas';
import { PresentedKeyDigests } from '../domain/presented-key-digests.js';
import { isVerifiableByGateways, type KeyState } from '../domain/keys/index.js';
import type { LimitDecision, LimitRequest, Limiter } from '../limits/index.js';
import type { KeyProjection } from '../projections/key-projection.js';
import { type KeyPolicies, type KeyPolicy, limitsUnder } from './key-policy.js';

/** The verify answer; the route adds the checkpoint this instance had applied. */
export type VerifyAnswer = Omit<VerifyResponse, 'checkpoint'>;

export interface VerifyOutcome {
  response: VerifyAnswer;
  /** The limiter's answer when it was consulted (for the RateLimit headers). */
  decision: LimitDecision | undefined;
  /** Units charged by this call: 0 unless VALID and charged now (not a chargeId replay) with a quota, credits or a plan. */
  units: number;
}

export interface VerifyDeps {
  keys: KeyProjection;
  limiter: Limiter;
  /** Effective policies from the consumer and plan read models; without them every key takes the plain path. */
  policies?: KeyPolicies;
  now?: () => number;
}

const EMPTY_LIMITS: VerifyAnswer['limits'] = { rate: null, quota: null, rates: [], credits: null };

export function createKeyVerifier({ keys, limiter, policies, now = Date.now }: VerifyDeps) {
  const digests = new PresentedKeyDigests();
  return async function verify(request: VerifyRequest): Promise<VerifyOutcome> {
    const digest = digests.get(request.key);
    if (digest === null) return reject('MALFORMED', undefined, undefined, null);
    const state = keys.getByDigest(digest);
    if (!state || !isVerifiableByGateways(state)) return reject('NOT_FOUND', undefined, undefined, null);
    const policy = policies?.of(state);
    const facts: AccessFacts = policy?.facts ?? state;
    const refused = checkAccess(facts, request, now());
    if (refused !== null) {
      return reject(refused, state, policy, refused === 'FORBIDDEN' ? forbiddenReason(facts, request) : null);
    }
    if (policy && !policy.networks.every((list) => request.clientIp !== undefined && list.allows(request.clientIp))) {
      // No address given where networks are restricted: it cannot be checked, so it is refused (fail closed).
      return reject('FORBIDDEN', state, policy, 'network');
    }
    const limitRequest = limitRequestFor(state, policy, request);
    if (limitRequest === undefined) {
      return { response: answer('VALID', state, policy, undefined, null), decision: undefined, units: policy?.policy?.plan ? (request.cost ?? 1) : 0 };
    }
    const decision = await limiter.check(limitRequest);
    const code: VerifyCode = decision.allowed ? 'VALID' : (decision.code ?? 'RATE_LIMITED');
    const charged = decision.allowed && decision.replayed !== true;
    const billed = limitRequest.quota !== undefined || limitRequest.credits !== undefined || policy?.policy?.plan != null;
    return {
      response: answer(code, state, policy, decision, null),
      decision,
      units: charged && billed ? limitRequest.cost : 0,
    };
  };
}

/** Every limit the key is under, or undefined when it is under none (and no chargeId asks to be remembered). */
function limitRequestFor(state: KeyState, policy: KeyPolicy | undefined, request: VerifyRequest): LimitRequest | undefined {
  const limits = limitPolicyOf(state, policy);
  const cost = request.cost ?? 1;
  if (limits === undefined) {
    // No limit, but a chargeId: the limiter remembers the outcome, so a retry is not billed twice.
    return request.chargeId === undefined ? undefined : { subject: state.id, cost, chargeId: request.chargeId };
  }
  return request.chargeId === undefined ? { ...limits, cost } : { ...limits, cost, chargeId: request.chargeId };
}

/**
 * The limits a key is under, as the limiter takes them (see `limitsUnder`); a key under a policy
 * has them computed once with the policy. Verify charges them; GET /v1/keys/{id}/quota peeks at them.
 */
export function limitPolicyOf(state: KeyState, policy: KeyPolicy | undefined): Omit<LimitRequest, 'cost'> | undefined {
  return policy ? policy.limits : limitsUnder(state, null);
}

function forbiddenReason(facts: AccessFacts, request: VerifyRequest): ForbiddenReason {
  return grantsScopes(facts.scopes, request.scopes) ? 'endpoint' : 'scope';
}

function reject(code: VerifyCode, state: KeyState | undefined, policy: KeyPolicy | undefined, reason: ForbiddenReason | null): VerifyOutcome {
  return { response: answer(code, state, policy, undefined, reason), decision: undefined, units: 0 };
}

function answer(
  code: VerifyCode,
  state: KeyState | undefined,
  policy: KeyPolicy | undefined,
  decision: LimitDecision | undefined,
  reason: ForbiddenReason | null,
): VerifyAnswer {
  if (!state) {
    return { valid: false, code, keyId: null, consumerId: null, scopes: [], meta: null, expiresAt: null, limits: EMPTY_LIMITS, plan: null, reason, replayed: false, consumerRegistered: false };
  }
  return {
    valid: code === 'VALID',
    code,
    keyId: state.id,
    consumerId: state.consumerId,
    scopes: (policy?.scopes ?? state.scopes) as string[],
    meta: state.meta,
    expiresAt: effectiveExpiry(state),
    limits: decision === undefined ? EMPTY_LIMITS : limitsOf(decision),
    plan: policy?.policy?.plan ?? null,
    reason,
    replayed: decision?.replayed === true,
    consumerRegistered: policy?.consumerRegistered ?? false,
  };
}

export function limitsOf(decision: LimitDecision): VerifyAnswer['limits'] {
  return {
    rate: decision.rate ? { limit: decision.rate.limit, remaining: decision.rate.remaining, resetSeconds: decision.rate.resetSeconds } : null,
    quota: decision.quota
      ? { limit: decision.quota.limit, remaining: decision.quota.remaining, resetAt: isoAt(decision.quota.resetAt.getTime()), period: decision.quota.period }
      : null,
    rates: decision.rates ? decision.rates.map((rate) => ({ name: rate.name, limit: rate.limit, remaining: rate.remaining, resetSeconds: rate.resetSeconds })) : [],
    credits: decision.credits ? { remaining: decision.credits.balance, refillAt: decision.credits.refillAt?.toISOString() ?? null } : null,
  };
}

/** Every call in one quota window answers the same resetAt: format it once, not per call. */
let lastIsoMs = Number.NaN;
let lastIso = '';
function isoAt(ms: number): string {
  if (ms !== lastIsoMs) {
    lastIso = new Date(ms).toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
}
