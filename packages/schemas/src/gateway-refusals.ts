/**
 * How a gateway answers a refused verify code: the HTTP status, problem type and wording. The
 * SDK's request guard and the service's /v1/forward-auth both answer from this table, so a
 * client sees the same refusal whichever of them stands in front of the API.
 *
 *   no key, MALFORMED, NOT_FOUND, REVOKED, EXPIRED  -> 401 (with WWW-Authenticate: Bearer)
 *   SUSPENDED, FORBIDDEN (scope or endpoint)        -> 403
 *   RATE_LIMITED, QUOTA_EXCEEDED                    -> 429 (with Retry-After)
 *   CREDITS_EXHAUSTED                               -> 402 (nothing to wait for: credits must be bought)
 */
import type { VerifyCodeValues } from './events.js';
import { PROBLEM_TYPES, type ProblemType } from './problem.js';

export type RefusedCode = Exclude<(typeof VerifyCodeValues)[number], 'VALID'> | 'MISSING';

export interface GatewayRefusal {
  status: 401 | 402 | 403 | 429;
  type: ProblemType;
  title: string;
  detail: string;
}

const notAccepted = (code: string) => `the presented API key is not accepted (${code})`;

export const GATEWAY_REFUSALS: Readonly<Record<RefusedCode, GatewayRefusal>> = {
  MISSING: { status: 401, type: PROBLEM_TYPES.unauthorized, title: 'API key required', detail: 'send the API key as `Authorization: Bearer <key>` or `x-api-key`' },
  MALFORMED: { status: 401, type: PROBLEM_TYPES.invalidKey, title: 'Malformed API key', detail: notAccepted('MALFORMED') },
  NOT_FOUND: { status: 401, type: PROBLEM_TYPES.invalidKey, title: 'Unknown API key', detail: notAccepted('NOT_FOUND') },
  REVOKED: { status: 401, type: PROBLEM_TYPES.keyRevoked, title: 'API key revoked', detail: notAccepted('REVOKED') },
  EXPIRED: { status: 401, type: PROBLEM_TYPES.invalidKey, title: 'API key expired', detail: notAccepted('EXPIRED') },
  SUSPENDED: { status: 403, type: PROBLEM_TYPES.forbidden, title: 'API key suspended', detail: 'the presented API key is suspended' },
  FORBIDDEN: { status: 403, type: PROBLEM_TYPES.forbidden, title: 'Not allowed', detail: 'the API key lacks a required scope, may not call this endpoint, or may not be used from this address' },
  RATE_LIMITED: { status: 429, type: PROBLEM_TYPES.rateLimited, title: 'Rate limit exceeded', detail: 'too many requests for this API key; retry later' },
  QUOTA_EXCEEDED: { status: 429, type: PROBLEM_TYPES.quotaExceeded, title: 'Quota exceeded', detail: 'the API key has used its quota for this period' },
  CREDITS_EXHAUSTED: { status: 402, type: PROBLEM_TYPES.creditsExhausted, title: 'Credits exhausted', detail: 'the API key has no prepaid credits left' },
};

/** The refusal for a code, or undefined for VALID (and for a code this version does not know). */
export function gatewayRefusalFor(code: string): GatewayRefusal | undefined {
  return Object.hasOwn(GATEWAY_REFUSALS, code) ? GATEWAY_REFUSALS[code as RefusedCode] : undefined;
}
