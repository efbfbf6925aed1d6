/**
 * Prometheus metrics via prom-client (the de-facto Node client): verifications by code, verify
 * latency, projection lag, limiter errors. Labels never carry key material or key ids.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { FastifyPluginAsync } from 'fastify';

export interface Metrics {
  registry: Registry;
  verifications: Counter<'code'>;
  verifyDuration: Histogram;
  limiterErrors: Counter;
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
  return { registry, verifications, verifyDuration, limiterErrors, skippedEvents, parkedEvents };
}

export function metricsRoute(metrics: Metrics): FastifyPluginAsync {
  return async (app) => {
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  };
}
