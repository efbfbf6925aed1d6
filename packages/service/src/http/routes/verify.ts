/** POST /v1/verify for gateways, plus live quota and ledger usage per key. */
import {
  KeyId,
  Problem,
  QuotaResponse,
  UsageQuery,
  UsageResponse,
  VerifyRequest,
  VerifyResponse,
} from '@keyledger/schemas';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound } from '../../app/errors.js';
import type { Limiter } from '../../limits/index.js';
import type { KeyProjection } from '../../projections/key-projection.js';
import type { EventStore } from '../../store/port.js';
import type { UsageRecorder } from '../../verify/usage-recorder.js';
import { usageStream } from '../../verify/usage-recorder.js';
import { readKeyUsage, usageBuckets } from '../../verify/usage-projection.js';
import { limitResponseHeaders, type Verification } from '../../verify/verification.js';
import type { KeyPolicies } from '../../verify/key-policy.js';
import { limitPolicyOf, limitsOf } from '../../verify/verify-key.js';
import { verifyValidatorCompiler } from './verify-body.js';

export interface VerifyRoutesOptions {
  /** The shared verification (checks, usage, metrics); see verify/verification.ts. */
  verification: Verification;
  keys: KeyProjection;
  /** Effective policies: the quota route shows the same limits verify charges. */
  policies: KeyPolicies;
  limiter: Limiter;
  usage: UsageRecorder;
  store: EventStore;
}

const Params = z.object({ id: KeyId }).strict();
const security = [{ bearer: [] }];

export const verifyRoutes: FastifyPluginAsyncZod<VerifyRoutesOptions> = async (app, options) => {
  const { verification, keys, policies, limiter, usage, store } = options;

  app.post('/verify', {
    config: { permission: 'keys:verify' },
    // The hot path: the answer is built by our own code (verify-key.ts) in exactly the
    // VerifyResponse shape, so re-validating it with zod on every call buys nothing. schema.response
    // stays, so the OpenAPI document is still generated from the zod schemas; only the compiler
    // that turns it into a serialiser is replaced. Problems (4xx) are plain objects too.
    serializerCompiler: () => (data) => JSON.stringify(data),
    // The body schema below is still zod's (OpenAPI, error messages); valid bodies skip zod's parse.
    validatorCompiler: verifyValidatorCompiler,
    schema: {
      tags: ['verify'], security, operationId: 'verifyKey',
      summary: 'Verify a presented key: always 200 with a code; RateLimit headers when limits apply',
      body: VerifyRequest,
      response: { 200: VerifyResponse, 400: Problem, 401: Problem, 403: Problem, 413: Problem },
    },
  }, async (request, reply) => {
    const { response, decision } = await verification(request.body);
    if (decision !== undefined) reply.headers(limitResponseHeaders(decision));
    // Taken when the request arrived, before the projection was read: the answer reflects at least it.
    return { ...response, checkpoint: request.appliedCheckpoint };
  });

  app.get('/keys/:id/quota', {
    config: { permission: 'keys:read' },
    schema: { tags: ['keys'], security, operationId: 'getQuota', summary: 'Live rate limit and quota state (charges nothing)', params: Params, response: { 200: QuotaResponse, 401: Problem, 403: Problem, 404: Problem } },
  }, async (request) => {
    const state = keys.getById(request.params.id);
    if (!state) throw notFound(`key ${request.params.id} not found`);
    // The same limits verify charges (a plan's included), peeked at.
    const limits = limitPolicyOf(state, policies.of(state));
    const decision = limits ? await limiter.peek(limits) : undefined;
    const view = decision ? limitsOf(decision) : undefined;
    return {
      keyId: state.id,
      rate: view?.rate ?? null,
      quota: decision?.quota
        ? { limit: decision.quota.limit, remaining: decision.quota.remaining, used: decision.quota.used, resetAt: decision.quota.resetAt.toISOString(), period: decision.quota.period }
        : null,
      rates: view?.rates ?? [],
      credits: view?.credits ?? null,
    };
  });

  app.get('/keys/:id/usage', {
    config: { permission: 'keys:read' },
    schema: { tags: ['keys'], security, operationId: 'getUsage', summary: 'Verifications and units from the ledger, bucketed', params: Params, querystring: UsageQuery, response: { 200: UsageResponse, 400: Problem, 401: Problem, 403: Problem, 404: Problem } },
  }, async (request) => {
    const { id } = request.params;
    if (!keys.getById(id)) throw notFound(`key ${id} not found`);
    await usage.flush();
    const { from, to, granularity } = request.query;
    const entries = await readKeyUsage(store, id, usageStream);
    const fromMs = from ? Date.parse(from) : 0;
    const toMs = to ? Date.parse(to) : Number.MAX_SAFE_INTEGER;
    return { keyId: id, granularity, buckets: usageBuckets(entries, granularity, fromMs, toMs) };
  });
};
