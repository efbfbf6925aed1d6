/**
 * Prometheus metrics via prom-client (the de-facto Node client). Names follow the Prometheus
 * conventions: the client's standard process_* and nodejs_* series unprefixed (what stock
 * dashboards query), generic HTTP series as http_*, keyledger's own as keyledger_*; base units
 * (seconds), _total on counters. Labels never carry key material or key ids, and every label
 * has a small, fixed set of values (route templates, not paths).
 *
 * Hot paths bind label children once and keep them (a Map lookup per call, no label hashing).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { createFastify, type HttpServerLimits } from '../http/server.js';
import type { Limiter } from '../limits/index.js';
import { type AppendResult, categoryOf, type EventStore } from '../store/port.js';

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
  limiterDuration: Histogram<'operation'>;
  eventsAppended: Counter<'category'>;
  eventsApplied: Counter;
  httpRequests: Counter<'route' | 'method' | 'status_class'>;
  httpDuration: Histogram<'route' | 'method' | 'status_class'>;
}

export interface MetricSources {
  /** Age of the newest event being applied (0 when caught up). */
  projectionLagSeconds(): number;
  /** Keys by status right now (read at scrape time, never on a request). */
  keysByStatus?(): Record<string, number>;
}

/** Sub-millisecond buckets: verify and the memory limiter answer in microseconds. */
const FAST_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05];
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export function createMetrics(sources: MetricSources | (() => number)): Metrics {
  const { projectionLagSeconds, keysByStatus } = typeof sources === 'function' ? { projectionLagSeconds: sources, keysByStatus: undefined } : sources;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const verifications = new Counter({
    name: 'keyledger_verifications_total',
    help: 'Key verifications by outcome code',
    labelNames: ['code'],
    registers: [registry],
  });
  const verifyDuration = new Histogram({
    name: 'keyledger_verify_duration_seconds',
    help: 'Time to answer a verification inside the service',
    buckets: FAST_BUCKETS,
    registers: [registry],
  });
  const limiterErrors = new Counter({
    name: 'keyledger_limiter_errors_total',
    help: 'Limiter store failures (answered by the configured fail-open / fail-closed mode)',
    registers: [registry],
  });
  const limiterDuration = new Histogram({
    name: 'keyledger_limiter_duration_seconds',
    help: 'Time of one limiter call (memory or Redis), by operation (check charges, peek does not)',
    labelNames: ['operation'],
    buckets: FAST_BUCKETS,
    registers: [registry],
  });
  const eventsAppended = new Counter({
    name: 'keyledger_events_appended_total',
    help: 'Events this instance appended to the ledger, by stream category (replays not counted)',
    labelNames: ['category'],
    registers: [registry],
  });
  const eventsApplied = new Counter({
    name: 'keyledger_projection_events_applied_total',
    help: 'Ledger events applied by this instance\'s projections (from every instance)',
    registers: [registry],
  });
  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by route template, method and status class',
    labelNames: ['route', 'method', 'status_class'],
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving an HTTP request to sending its response, by route template, method and status class',
    labelNames: ['route', 'method', 'status_class'],
    buckets: HTTP_BUCKETS,
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
  if (keysByStatus) {
    new Gauge({
      name: 'keyledger_keys',
      help: 'Keys in the ledger by current status',
      labelNames: ['status'],
      registers: [registry],
      collect() {
        for (const [status, count] of Object.entries(keysByStatus())) this.set({ status }, count);
      },
    });
  }
  return {
    registry,
    verifications,
    verifyDuration,
    limiterErrors,
    limiterDuration,
    eventsAppended,
    eventsApplied,
    httpRequests,
    httpDuration,
    skippedEvents,
    parkedEvents,
    authFailures,
  };
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

/** Requests that matched no route share one label value, so a scan of random paths adds no series. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * Counts and times every response by route template. Registered with `skip-override` (what
 * fastify-plugin does), so its hook belongs to the root instance and sees every route.
 */
export function httpMetrics(metrics: Metrics): FastifyPluginAsync {
  const children = new Map<string, { count: { inc(): void }; time: { observe(value: number): void } }>();
  const plugin: FastifyPluginAsync = async (app) => {
    // A callback hook, not an async one: no promise per request on the verify path.
    app.addHook('onResponse', (request, reply, done) => {
      const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
      const method = request.method;
      const statusClass = `${Math.floor(reply.statusCode / 100)}xx`;
      const id = `${method} ${route} ${statusClass}`;
      let child = children.get(id);
      if (child === undefined) {
        const labels = { route, method, status_class: statusClass };
        child = { count: metrics.httpRequests.labels(labels), time: metrics.httpDuration.labels(labels) };
        children.set(id, child);
      }
      child.count.inc();
      child.time.observe(reply.elapsedTime / 1000);
      done();
    });
  };
  return Object.assign(plugin, { [Symbol.for('skip-override')]: true });
}

/** Times every limiter call (Redis round trips included) into keyledger_limiter_duration_seconds. */
export function timedLimiter(limiter: Limiter, metrics: Metrics): Limiter {
  const check = metrics.limiterDuration.labels({ operation: 'check' });
  const peek = metrics.limiterDuration.labels({ operation: 'peek' });
  return {
    kind: limiter.kind,
    async check(request) {
      const started = performance.now();
      try {
        return await limiter.check(request);
      } finally {
        check.observe((performance.now() - started) / 1000);
      }
    },
    async peek(request) {
      const started = performance.now();
      try {
        return await limiter.peek(request);
      } finally {
        peek.observe((performance.now() - started) / 1000);
      }
    },
    restoreQuotaUsage: (subject, period, windowStart, units) => limiter.restoreQuotaUsage(subject, period, windowStart, units),
    addCredits: (request) => limiter.addCredits(request),
    restoreCredits: (request) => limiter.restoreCredits(request),
    close: () => limiter.close(),
  };
}

/**
 * The same store, counting the events this instance appends by stream category. A Proxy, so every
 * other method (and any the port gains) reaches the store itself unchanged.
 */
export function countedStore(store: EventStore, metrics: Metrics): EventStore {
  const byCategory = new Map<string, { inc(n: number): void }>();
  const count = (stream: string, result: AppendResult) => {
    if (result.replayed) return;
    const category = categoryOf(stream);
    let child = byCategory.get(category);
    if (child === undefined) {
      child = metrics.eventsAppended.labels({ category });
      byCategory.set(category, child);
    }
    child.inc(result.events.length);
  };
  const appendToStream: EventStore['appendToStream'] = async (stream, events, options) => {
    const result = await store.appendToStream(stream, events, options);
    count(stream, result);
    return result;
  };
  const appendToStreams: EventStore['appendToStreams'] = async (appends) => {
    const result = await store.appendToStreams(appends);
    result.streams.forEach((streamResult, i) => count((appends[i] as { stream: string }).stream, streamResult));
    return result;
  };
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, property) {
      if (property === 'appendToStream') return appendToStream;
      if (property === 'appendToStreams') return appendToStreams;
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      // Methods run against the store itself (its private fields), bound once.
      let method = bound.get(property);
      if (method === undefined) {
        method = (value as (...args: unknown[]) => unknown).bind(target);
        bound.set(property, method);
      }
      return method;
    },
  });
}
