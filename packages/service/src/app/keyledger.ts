/**
 * The composition root: opens the ledger, catches the projections up, bootstraps the root key
 * and builds the HTTP app. Everything with I/O is wired here and nowhere else.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { buildHttpApp, type HttpApp } from '../http/app.js';
import { AuthFailureThrottle } from '../http/auth-throttle.js';
import { KeyProjection } from '../projections/key-projection.js';
import { ProjectionRunner } from '../projections/runner.js';
import { createMemoryLimiter, createRedisLimiter, type Limiter, withFailurePolicy } from '../limits/index.js';
import { buildMetricsApp, countedStore, createMetrics, httpMetrics, metricsRoute, timedLimiter } from '../metrics/metrics.js';
import { forwardAuthRoutes } from '../http/routes/forward-auth.js';
import { keyStatusAt } from '../domain/keys/status.js';
import { verifyRoutes } from '../http/routes/verify.js';
import { UsageRecorder } from '../verify/usage-recorder.js';
import { QuotaUsageProjection } from '../verify/usage-projection.js';
import { createVerification } from '../verify/verification.js';
import { createKeyVerifier } from '../verify/verify-key.js';
import { openEventStore } from '../store/open-store.js';
import type { EventStore } from '../store/port.js';
import { openSnapshotStore } from '../store/snapshots/open.js';
import type { SnapshotStore } from '../store/snapshots/port.js';
import { ProjectionSnapshots, type RestoreOutcome } from '../projections/snapshots.js';
import { isServiceReady } from '../http/routes/health.js';
import { ensureRootKey, resolveServerSecret } from './bootstrap.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { startAudit, type RunningAudit } from '../audit/index.js';
import { auditRoutes } from '../http/routes/audit.js';
import { KeyCommands } from './key-commands.js';

type MetricsApp = Awaited<ReturnType<typeof buildMetricsApp>>;

export interface Keyledger {
  config: Config;
  app: HttpApp;
  store: EventStore;
  runner: ProjectionRunner;
  keys: KeyProjection;
  quotaUsage: QuotaUsageProjection;
  /** How this start got its projections: from a snapshot plus the tail, or from the whole log. */
  restored: RestoreOutcome;
  /** Saves a projection snapshot now (also done periodically and at close). */
  saveSnapshot(): Promise<'saved' | 'skipped'>;
  commands: KeyCommands;
  /** The transparency log: integrator, signed checkpoints, proofs (audit/). */
  audit: RunningAudit;
  /** The /metrics listener of its own (KEYLEDGER_METRICS_LISTEN), not yet listening; null when /metrics is on `app`. */
  metricsApp: MetricsApp | null;
  /** The root key's plaintext when this start created it (print once, never log). */
  createdRootKey: string | null;
  /**
   * With `deferRootKey`: creates the root key on an empty ledger (returns its plaintext, to be
   * printed once) and only then reports ready. Call it once the port is bound, so a start that
   * cannot listen never creates a key nobody saw. Without the option it already ran.
   */
  bootstrapRootKey(): Promise<string | null>;
  close(): Promise<void>;
}

/** A start that applied at least this many events saves a snapshot right after it is ready. */
const SAVE_AFTER_START_EVENTS = 1000;

export interface CreateOptions {
  /** Leave the root key (and readiness) to `bootstrapRootKey()`; the CLI calls it after listen. */
  deferRootKey?: boolean;
  /**
   * Take the one-serving-process lock of a SQLite ledger with memory limits (default true). Off for
   * host tools that only append a command next to a running service (`root-key reset`).
   */
  instanceLock?: boolean;
  /** The commands' clock (tests inject one); default the system clock. */
  now?: () => Date;
}

export async function createKeyledger(config: Config, logger: Logger, options: CreateOptions = {}): Promise<Keyledger> {
  // Memory limits count in this process only: one serving process per SQLite ledger (see instance-lock.ts).
  const lock: InstanceLock | undefined =
    options.instanceLock !== false && config.database.kind === 'sqlite' && !config.redisUrl
      ? acquireInstanceLock(config.database.file)
      : undefined;
  let opened: EventStore;
  try {
    opened = await openEventStore(config.database);
  } catch (error) {
    lock?.release();
    throw error;
  }
  const compare = opened.compareCheckpoints.bind(opened);
  let snapshotStore: SnapshotStore;
  try {
    snapshotStore = await openSnapshotStore(config.database, compare);
  } catch (error) {
    await opened.close().catch(() => undefined);
    lock?.release();
    throw error;
  }
  const keys = new KeyProjection({ onListenerError: (error) => logger.error({ err: error }, 'key change listener failed') });
  const quotaUsage = new QuotaUsageProjection();
  // The gauges read the runner and the keys only when scraped, after both exist.
  const metrics = createMetrics({
    projectionLagSeconds: () => runner.lagSeconds,
    keysByStatus: () => {
      const counts: Record<string, number> = { active: 0, suspended: 0, revoked: 0, expired: 0 };
      const now = Date.now();
      for (const state of keys.list({ limit: Number.MAX_SAFE_INTEGER }, new Date(now)).items) counts[keyStatusAt(state, now)]!++;
      return counts;
    },
  });
  const store = countedStore(opened, metrics);
  const skippedKinds = new Set<string>();
  const runner = new ProjectionRunner(store, [keys, quotaUsage], {
    onError: (error) => logger.error({ err: error }, 'projection runner failed; retrying'),
    onSkip: (event, reason) => {
      metrics.skippedEvents.inc({ type: event.type.slice(0, 100), reason });
      // Once per type and reason: a newer version may write thousands of them.
      const kind = `${event.type}|${reason}`;
      if (skippedKinds.has(kind)) return;
      skippedKinds.add(kind);
      logger.warn({ type: event.type, reason, checkpoint: event.checkpoint }, 'projections skip an event this version does not know');
    },
    onPark: (projection, event, error) => {
      metrics.parkedEvents.inc({ projection });
      logger.error({ err: error, projection, eventId: event.id, stream: event.stream, revision: event.revision, type: event.type }, 'projection could not apply an event; parked it');
    },
  });
  const snapshots = new ProjectionSnapshots(snapshotStore, [keys, quotaUsage, runner.parked], { logger, instanceId: config.instanceId, compare });
  let snapshotTimer: NodeJS.Timeout | undefined;
  let snapshotSaving: Promise<unknown> = Promise.resolve();
  const saveSnapshot = (): Promise<'saved' | 'skipped'> => {
    const next = snapshotSaving.then(() => snapshots.save(() => runner.checkpoint));
    snapshotSaving = next.catch((error: unknown) => logger.warn({ err: error }, 'projection snapshot not saved; the next one will be'));
    return next;
  };
  runner.onBatch((events) => metrics.eventsApplied.inc(events.length));
  let limiter: Limiter | undefined;
  let usage: UsageRecorder | undefined;
  let metricsApp: MetricsApp | null = null;
  let ready = false;
  let closing = false;
  let restored: RestoreOutcome = { kind: 'none' };
  let audit: RunningAudit | undefined;
  try {
    audit = await startAudit({ config, store, logger });
    const runningAudit = audit;
    const restoreStarted = performance.now();
    restored = await snapshots.restore();
    await runner.start(restored.kind === 'restored' ? restored.checkpoint : undefined);
    const cpu = process.cpuUsage();
    logger.info(
      {
        snapshot: restored.kind,
        keys: keys.size,
        tailEvents: runner.appliedCount,
        ms: Math.round(performance.now() - restoreStarted),
        // CPU this process used since it started (module loading included): on a busy machine a
        // fairer measure of the start's cost than the wall clock.
        processCpuMs: Math.round((cpu.user + cpu.system) / 1000),
      },
      restored.kind === 'restored' ? 'projections restored from a snapshot and the tail of the log' : 'projections rebuilt from the whole log',
    );
    limiter = withFailurePolicy(
      timedLimiter(
        config.redisUrl
          ? createRedisLimiter({ url: config.redisUrl, keyPrefix: config.redisPrefix, commandTimeoutMs: config.redisTimeoutMs })
          : createMemoryLimiter(),
        metrics,
      ),
      {
        mode: config.limiterFailureMode,
        onError: (error) => {
          metrics.limiterErrors.inc();
          logger.error({ err: error, mode: config.limiterFailureMode }, 'limiter unavailable; answering by failure mode');
        },
      },
    );
    if (limiter.kind === 'memory' && config.database.kind === 'postgres') {
      // PostgreSQL invites several instances; with memory limits each counts only its own calls.
      logger.warn('rate limits and quotas are counted in this process only: with several instances on this database, set KEYLEDGER_REDIS_URL');
    }
    if (limiter.kind === 'memory') {
      // Quota counters live in this process only: rebuild the open windows from the ledger.
      const restored = await quotaUsage.restoreInto(limiter, Date.now());
      if (restored > 0) logger.info({ windows: restored }, 'restored quota usage from the ledger');
    }
    usage = new UsageRecorder(store, { intervalMs: config.usageFlushMs, instanceId: config.instanceId, logger });
    usage.start();
    const serverSecret = resolveServerSecret({
      configured: config.serverSecret,
      file: config.database.kind === 'sqlite' ? join(config.dataDir, 'server-secret') : undefined,
      logger,
    });
    const commands = new KeyCommands({
      store,
      runner,
      keyPrefixes: config.keyPrefixes,
      maxGracePeriodSeconds: config.maxGracePeriodSeconds,
      serverSecret,
      otherActiveAdminKeys: (keyId, nowMs) => keys.otherActiveAdminKeys(keyId, nowMs),
      applyTimeoutMs: config.commandApplyTimeoutMs,
      secretReplayWindowSeconds: config.idempotentSecretWindowSeconds,
      ...(options.now ? { now: options.now } : {}),
    });
    // One verification for every route that answers verify questions: same checks, usage, metrics.
    const verification = createVerification({
      verify: createKeyVerifier({ keys, limiter }),
      usage,
      metrics,
    });
    let rootKeyBootstrapped = false;
    const bootstrapRootKey = async (): Promise<string | null> => {
      if (rootKeyBootstrapped) return null;
      rootKeyBootstrapped = true;
      const created = await ensureRootKey({ commands, keys, rootKey: config.rootKey, prefix: config.keyPrefixes.live, logger });
      // Another instance may have won the bootstrap race: ready only once our projections hold
      // everything committed so far (its root key included), by checkpoint.
      await applyEverythingCommitted(store, runner);
      ready = true;
      return created;
    };
    const createdRootKey = options.deferRootKey ? null : await bootstrapRootKey();
    const app = await buildHttpApp({
      logger,
      bodyLimitBytes: config.bodyLimitBytes,
      store,
      keys,
      commands,
      appliedCheckpoint: () => runner.checkpoint ?? null,
      isReady: () => isServiceReady({ started: ready, closing, lagSeconds: runner.lagSeconds, maxLagSeconds: config.readyMaxLagSeconds }),
      parkedEvents: () => runner.parked.list(),
      authThrottle: new AuthFailureThrottle(config.authFailures),
      onAuthFailure: (reason) => metrics.authFailures.labels({ reason }).inc(),
      httpLimits: config.http,
      eventStreamLimits: config.eventStream,
      metricsToken: config.metrics.token,
      rootPlugins: [httpMetrics(metrics), ...(config.metrics.listen ? [] : [metricsRoute(metrics)])],
      v1Plugins: [
        async (v1) => {
          await v1.register(verifyRoutes, { verification, keys, limiter: limiter as Limiter, usage: usage as UsageRecorder, store });
          await v1.register(forwardAuthRoutes, { verification, keys, config: config.forwardAuth });
          await v1.register(auditRoutes, { audit: runningAudit.audit });
        },
      ],
    });
    metricsApp = config.metrics.listen ? await buildMetricsApp(metrics, logger, config.http) : null;
    // A start that replayed much of the log saves at once, so the next start reads only the tail
    // (a short tail waits for the periodic save: encoding blocks the event loop for a moment).
    if (runner.appliedCount >= SAVE_AFTER_START_EVENTS) void saveSnapshot().catch(() => undefined);
    if (config.snapshotIntervalMs > 0) {
      snapshotTimer = setInterval(() => void saveSnapshot().catch(() => undefined), config.snapshotIntervalMs);
      snapshotTimer.unref();
    }
    return {
      config,
      app,
      store,
      runner,
      keys,
      quotaUsage,
      restored,
      saveSnapshot,
      commands,
      audit: runningAudit,
      createdRootKey,
      metricsApp,
      bootstrapRootKey,
      async close() {
        closing = true;
        clearInterval(snapshotTimer);
        try {
          await app.close();
          await metricsApp?.close();
          await usage?.stop();
          await limiter?.close();
          await runner.stop();
          await runningAudit.close().catch(() => undefined);
          await saveSnapshot().catch(() => undefined);
          await snapshotStore.close().catch(() => undefined);
          await store.close();
        } finally {
          lock?.release();
        }
      },
    };
  } catch (error) {
    await metricsApp?.close().catch(() => undefined);
    clearInterval(snapshotTimer);
    await usage?.stop().catch(() => undefined);
    await limiter?.close().catch(() => undefined);
    await runner.stop().catch(() => undefined);
    await audit?.close().catch(() => undefined);
    await snapshotStore.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    lock?.release();
    throw error;
  }
}

/** Waits until the projections have applied every event committed before this call. */
async function applyEverythingCommitted(store: EventStore, runner: ProjectionRunner): Promise<void> {
  let target: string | undefined;
  for (let after = runner.checkpoint; ; ) {
    const page = await store.readAll({ ...(after !== undefined ? { after } : {}), maxCount: 1000 });
    if (page.events.length === 0) break;
    target = page.checkpoint;
    after = page.checkpoint;
  }
  if (target !== undefined && !(await runner.waitFor(target, 10_000))) throw new Error('projections did not catch up with the ledger within 10 s of start');
}
