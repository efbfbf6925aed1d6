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
  authFailures: Counter<'reason'>;
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
    help: 'Age of the newest event the projections were applying when last polled (0 when caught up)',
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
  return { registry, verifications, verifyDuration, limiterErrors, authFailures };
}

export function metricsRoute(metrics: Metrics): FastifyPluginAsync {
  return async (app) => {
    app.get('/metrics', { schema: { hide: true }, config: { permission: 'metrics:read' } }, async (_request, reply) => {
      reply.type(metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  };
}
