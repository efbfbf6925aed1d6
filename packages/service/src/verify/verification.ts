/**
 * One verification as every verify-answering route performs it (POST /v1/verify and the
 * gateways' /v1/forward-auth): the checks of verify-key.ts, then usage recorded for the key and
 * the outcome counted and timed. The routes differ only in how they read the question and shape
 * the answer, so a key is checked, charged and counted the same way whichever route asked.
 */
import type { VerifyRequest } from '@keyledger/schemas';
import { rateLimitHeaders, type LimitDecision } from '../limits/index.js';
import type { Metrics } from '../metrics/metrics.js';
import type { UsageRecorder } from './usage-recorder.js';
import type { VerifyOutcome } from './verify-key.js';

export type Verification = (request: VerifyRequest) => Promise<VerifyOutcome>;

export interface VerificationDeps {
  verify: (request: VerifyRequest) => Promise<VerifyOutcome>;
  usage: UsageRecorder;
  metrics: Metrics;
}

export function createVerification({ verify, usage, metrics }: VerificationDeps): Verification {
  // Counter children bound once per code: no label hashing per call.
  const byCode = new Map<string, { inc(): void }>();
  const countCode = (code: string) => {
    let child = byCode.get(code);
    if (child === undefined) {
      child = metrics.verifications.labels({ code });
      byCode.set(code, child);
    }
    child.inc();
  };

  return async function verification(request) {
    const started = performance.now();
    const outcome = await verify(request);
    const { response, decision } = outcome;
    if (response.keyId !== null) {
      usage.record(
        response.keyId,
        response.code,
        outcome.units,
        decision?.quota && outcome.units > 0 ? { windowStart: decision.quota.windowStart, period: decision.quota.period } : undefined,
      );
    }
    countCode(response.code);
    metrics.verifyDuration.observe((performance.now() - started) / 1000);
    return outcome;
  };
}

/**
 * The response headers a limiter decision adds to any verify answer (lowercase names): the IETF
 * RateLimit-Policy / RateLimit fields, Retry-After on a refusal, and keyledger-limiter when the
 * limiter store was unreachable and the failure mode answered.
 */
export function limitResponseHeaders(decision: LimitDecision | undefined): Record<string, string> {
  if (!decision) return {};
  const fields = rateLimitHeaders(decision);
  const headers: Record<string, string> = {};
  if (fields['RateLimit-Policy']) headers['ratelimit-policy'] = fields['RateLimit-Policy'];
  if (fields.RateLimit) headers.ratelimit = fields.RateLimit;
  if (fields['Retry-After']) headers['retry-after'] = fields['Retry-After'];
  if (decision.degraded) headers['keyledger-limiter'] = decision.degraded;
  return headers;
}
