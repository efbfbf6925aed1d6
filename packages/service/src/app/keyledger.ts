/**
 * The composition root: opens the ledger, catches the projections up, bootstraps the root key
 * and builds the HTTP app. Everything with I/O is wired here and nowhere else.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { buildHttpApp, type HttpApp } from '../http/app.js';
import { KeyProjection } from '../projections/key-projection.js';
import { ProjectionRunner } from '../projections/runner.js';
import { createMemoryLimiter, createRedisLimiter, type Limiter, withFailurePolicy } from '../limits/index.js';
import { countedStore, createMetrics, httpMetrics, metricsRoute, timedLimiter } from '../metrics/metrics.js';
import { keyStatusAt } from '../domain/keys/status.js';
import { verifyRoutes } from '../http/routes/verify.js';
import { UsageRecorder } from '../verify/usage-recorder.js';
import { QuotaUsageProjection } from '../verify/usage-projection.js';
import { createKeyVerifier } from '../verify/verify-key.js';
import { openEventStore } from '../store/open-store.js';
import type { EventStore } from '../store/port.js';
import { ensureRootKey, resolveServerSecret } from './bootstrap.js';
import { acquireInstanceLock, type InstanceLock } from './instance-lock.js';
import { KeyCommands } from './key-commands.js';

export interface Keyledger {
  config: Config;
  app: HttpApp;
  store: EventStore;
  runner: ProjectionRunner;
  keys: KeyProjection;
  commands: KeyCommands;
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

export interface CreateKeyledgerOptions {
  /** Leave the root key (and readiness) to `bootstrapRootKey()`; the CLI calls it after listen. */
  deferRootKey?: boolean;
}

export async function createKeyledger(config: Config, logger: Logger, options: CreateKeyledgerOptions = {}): Promise<Keyledger> {
  // Memory limits count in this process only: one serving process per SQLite ledger (see instance-lock.ts).
  const lock: InstanceLock | undefined =
    config.database.kind === 'sqlite' && !config.redisUrl ? acquireInstanceLock(config.database.file) : undefined;
  let opened: EventStore;
  try {
    opened = await openEventStore(config.database);
  } catch (error) {
    lock?.release();
    throw error;
  }
  const keys = new KeyProjection();
  const quotaUsage = new QuotaUsageProjection();
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
  const runner = new ProjectionRunner(store, [keys, quotaUsage], {
    onError: (error) => logger.error({ err: error }, 'projection runner failed; retrying'),
  });
  runner.onBatch((events) => metrics.eventsApplied.inc(events.length));
  let limiter: Limiter | undefined;
  let usage: UsageRecorder | undefined;
  let ready = false;
  let closing = false;
  try {
    await runner.start();
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
      isReady: () => ready && !closing,
      rootPlugins: [httpMetrics(metrics), metricsRoute(metrics)],
      v1Plugins: [
        async (v1) =>
          v1.register(verifyRoutes, {
            verify: createKeyVerifier({ keys, limiter: limiter as Limiter }),
            keys,
            limiter: limiter as Limiter,
            usage: usage as UsageRecorder,
            store,
            metrics,
          }),
      ],
    });
    return {
      config,
      app,
      store,
      runner,
      keys,
      commands,
      createdRootKey,
      bootstrapRootKey,
      async close() {
        closing = true;
        try {
          await app.close();
          await usage?.stop();
          await limiter?.close();
          await runner.stop();
          await store.close();
        } finally {
          lock?.release();
        }
      },
    };
  } catch (error) {
    await usage?.stop().catch(() => undefined);
    await limiter?.close().catch(() => undefined);
    await runner.stop().catch(() => undefined);
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
