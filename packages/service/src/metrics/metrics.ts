/**
 * Prometheus metrics via prom-client (the de-facto Node client): verifications by code, verify
 * latency, projection lag, limiter errors. Labels never carry key material or key ids.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { createFastify, type HttpServerLimits } from '../http/server.js';

export interface Metrics {
  registry: Registry;
  verifications: Counter<'code'>;
  verifyDuration: Histogram;
  limiterErrors: Counter;
  authFailures: Counter<'reason'>;
  /** Events no projection applied: a type or schema version this keyledger does not know. */
  skippedEvents: Counter<'type' | 'reason'>;
  /** Events a projection threw on, parked so the log moves on. */
  parkedEvents: Counter<'projection'>;
}

export function createMetrics(projectionLagSeconds: () => number): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keyledger_process_' });
  const verifications = new Counter({
    name: 'keyledger_verifications_total',
    help: 'Key verifications by outcome code',
    labelNames: ['code'],
    registers: [registry],
  });
  const verifyDuration = new Histogram({
    name: 'keyledger_verify_duration_seconds',
    help: 'Time to answer a verification inside the service',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [registry],
  });
  const limiterErrors = new Counter({
    name: 'keyledger_limiter_errors_total',
    help: 'Limiter store failures (answered by the configured fail-open / fail-closed mode)',
    registers: [registry],
  });
  new Gauge({
    name: 'keyledger_projection_lag_seconds',
    help: 'Age of the oldest ledger event the projections have not applied yet (0 only when caught up with the head)',
    registers: [registry],
    collect() {
      this.set(projectionLagSeconds());
    },
  });
  const authFailures = new Counter({
    name: 'keyledger_auth_failures_total',
    help: 'Refused management authentications by reason (throttled: refused unchecked while an address is slowed down)',
    labelNames: ['reason'],
    registers: [registry],
  });
  const skippedEvents = new Counter({
    name: 'keyledger_projection_skipped_events_total',
    help: 'Events the projections skipped: unknown type or newer schema version (written by a newer keyledger)',
    labelNames: ['type', 'reason'],
    registers: [registry],
  });
  const parkedEvents = new Counter({
    name: 'keyledger_projection_parked_events_total',
    help: 'Events a projection failed to apply, parked (GET /v1/admin/parked-events) so the log keeps moving',
    labelNames: ['projection'],
    registers: [registry],
  });
  return { registry, verifications, verifyDuration, limiterErrors, skippedEvents, parkedEvents, authFailures };
}

/**
 * GET /metrics. On the main listener it needs `metrics:read` (admin implies it), checked by the
 * same auth hook as /v1; `public: true` serves it without auth, for a listener of its own
 * (KEYLEDGER_METRICS_LISTEN) on a loopback or private address.
 */
export function metricsRoute(metrics: Metrics, options: { public?: boolean } = {}): FastifyPluginAsync {
  return async (app) => {
    app.get('/metrics', {
      schema: { hide: true },
      // Its own listener is meant for a loopback or private address: public there, metrics:read here.
      config: options.public ? { public: true as const } : { permission: 'metrics:read' as const },
    }, async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  };
}

type AuthHook = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;

/** The caller a valid KEYLEDGER_METRICS_TOKEN stands for: it may read metrics and nothing else. */
export const METRICS_TOKEN_CALLER = { keyId: 'metrics-token', permissions: ['metrics:read' as const] };

/**
 * Lets a static bearer token (KEYLEDGER_METRICS_TOKEN, for Prometheus) through the auth hook on
 * routes that need `metrics:read`; every other request, and any other bearer, goes to `authenticate`.
 * Compared as SHA-256 digests with timingSafeEqual: constant time, whatever the lengths.
 */
export function acceptMetricsToken(authenticate: AuthHook, token: string | undefined): AuthHook {
  if (token === undefined) return authenticate;
  const expected = createHash('sha256').update(token).digest();
  return async (request, reply) => {
    const header = request.headers.authorization;
    if (request.routeOptions.config.permission === 'metrics:read' && typeof header === 'string' && header.startsWith('Bearer ')) {
      const presented = createHash('sha256').update(header.slice(7).trim()).digest();
      if (timingSafeEqual(presented, expected)) {
        request.caller = { ...METRICS_TOKEN_CALLER, permissions: [...METRICS_TOKEN_CALLER.permissions] };
        return undefined;
      }
    }
    return authenticate(request, reply);
  };
}

/** The separate /metrics listener: nothing but the metrics route, without auth. */
export async function buildMetricsApp(metrics: Metrics, logger: Logger | false, limits?: HttpServerLimits) {
  const app = createFastify({ logger, ...(limits ? { limits } : {}) });
  await app.register(metricsRoute(metrics, { public: true }));
  return app;
}
