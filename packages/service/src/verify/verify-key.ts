/**
 * The verify path. Answers from memory: format and checksum (no lookup), SHA-256 digest, the
 * key projection, status, scope and endpoint, then rate limit and quota in one limiter call. The
 * order is fixed (format, existence, revoked, expired, suspended, scope, rate, quota) and a
 * rejected check consumes nothing: the limiter is only called when everything before passed,
 * and it charges rate and quota together or not at all.
 */
import { checkAccess, effectiveExpiry, type VerifyCode, type VerifyRequest, type VerifyResponse } from '@keyledger/schemas';
import { PresentedKeyDigests } from '../domain/presented-key-digests.js';
import { isVerifiableByGateways, type KeyState } from '../domain/keys/index.js';
import type { LimitDecision, LimitRequest, Limiter } from '../limits/index.js';
import type { KeyProjection } from '../projections/key-projection.js';

/** The verify answer; the route adds the checkpoint this instance had applied. */
export type VerifyAnswer = Omit<VerifyResponse, 'checkpoint'>;

export interface VerifyOutcome {
  response: VerifyAnswer;
  /** The limiter's answer when it was consulted (for the RateLimit headers). */
  decision: LimitDecision | undefined;
  /** Quota units charged by this call (0 unless VALID with a quota). */
  units: number;
}

export interface VerifyDeps {
  keys: KeyProjection;
  limiter: Limiter;
  now?: () => number;
}

const EMPTY_LIMITS = { rate: null, quota: null };

export function createKeyVerifier({ keys, limiter, now = Date.now }: VerifyDeps) {
  const digests = new PresentedKeyDigests();
  return async function verify(request: VerifyRequest): Promise<VerifyOutcome> {
    const digest = digests.get(request.key);
    if (digest === null) return reject('MALFORMED', undefined);
    const state = keys.getByDigest(digest);
    if (!state || !isVerifiableByGateways(state)) return reject('NOT_FOUND', undefined);
    const refused = checkAccess(state, request, now());
    if (refused !== null) return reject(refused, state);
    if (state.rateLimit === null && state.quota === null) {
      return { response: answer('VALID', state, undefined), decision: undefined, units: 0 };
    }
    const cost = request.cost ?? 1;
    const limitRequest: LimitRequest = { subject: state.id, cost };
    if (state.rateLimit) limitRequest.rate = state.rateLimit;
    if (state.quota) limitRequest.quota = state.quota;
    const decision = await limiter.check(limitRequest);
    // This verifier passes no credits, so CREDITS_EXHAUSTED cannot come back yet (the lead adds it to VerifyCode with plans).
    const code: VerifyCode = decision.allowed ? 'VALID' : (decision.code as Exclude<typeof decision.code, 'CREDITS_EXHAUSTED'>) ?? 'RATE_LIMITED';
    return {
      response: answer(code, state, decision),
      decision,
      units: decision.allowed && state.quota ? cost : 0,
    };
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

function reject(code: VerifyCode, state: KeyState | undefined): VerifyOutcome {
  return { response: answer(code, state, undefined), decision: undefined, units: 0 };
}

function answer(code: VerifyCode, state: KeyState | undefined, decision: LimitDecision | undefined): VerifyAnswer {
  if (!state) {
    return { valid: false, code, keyId: null, consumerId: null, scopes: [], meta: null, expiresAt: null, limits: EMPTY_LIMITS };
  }
  return {
    valid: code === 'VALID',
    code,
    keyId: state.id,
    consumerId: state.consumerId,
    scopes: state.scopes,
    meta: state.meta,
    expiresAt: effectiveExpiry(state),
    limits: {
      rate: decision?.rate
        ? { limit: decision.rate.limit, remaining: decision.rate.remaining, resetSeconds: decision.rate.resetSeconds }
        : null,
      quota: decision?.quota
        ? {
            limit: decision.quota.limit,
            remaining: decision.quota.remaining,
            resetAt: isoAt(decision.quota.resetAt.getTime()),
            period: decision.quota.period,
          }
        : null,
    },
  };
}
