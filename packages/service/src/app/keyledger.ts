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
import { buildMetricsApp, createMetrics, metricsRoute } from '../metrics/metrics.js';
import { forwardAuthRoutes } from '../http/routes/forward-auth.js';
import { verifyRoutes } from '../http/routes/verify.js';
import { UsageRecorder } from '../verify/usage-recorder.js';
import { QuotaUsageProjection } from '../verify/usage-projection.js';
import { createVerification } from '../verify/verification.js';
import { createKeyVerifier } from '../verify/verify-key.js';
import { openEventStore } from '../store/open-store.js';
import type { EventStore } from '../store/port.js';
import { ensureRootKey, resolveServerSecret } from './bootstrap.js';
import { KeyCommands } from './key-commands.js';

type MetricsApp = Awaited<ReturnType<typeof buildMetricsApp>>;

export interface Keyledger {
  config: Config;
  app: HttpApp;
  store: EventStore;
  runner: ProjectionRunner;
  keys: KeyProjection;
  commands: KeyCommands;
  /** The /metrics listener of its own (KEYLEDGER_METRICS_LISTEN), not yet listening; null when /metrics is on `app`. */
  metricsApp: MetricsApp | null;
  /** The root key's plaintext when this start created it (print once, never log). */
  createdRootKey: string | null;
  close(): Promise<void>;
}

export interface CreateOptions {
  /** Create the root key on an empty ledger (serve); off for tools that only open the ledger. */
  bootstrapRootKey?: boolean;
  /** The commands' clock (tests inject one); default the system clock. */
  now?: () => Date;
}

export async function createKeyledger(config: Config, logger: Logger, options: CreateOptions = {}): Promise<Keyledger> {
  const store = await openEventStore(config.database);
  const keys = new KeyProjection();
  const quotaUsage = new QuotaUsageProjection();
  const runner = new ProjectionRunner(store, [keys, quotaUsage], {
    onError: (error) => logger.error({ err: error }, 'projection runner failed; retrying'),
  });
  const metrics = createMetrics(() => runner.lagSeconds);
  let limiter: Limiter | undefined;
  let usage: UsageRecorder | undefined;
  let metricsApp: MetricsApp | null = null;
  let ready = false;
  let closing = false;
  try {
    await runner.start();
    limiter = withFailurePolicy(
      config.redisUrl
        ? createRedisLimiter({ url: config.redisUrl, keyPrefix: config.redisPrefix, commandTimeoutMs: config.redisTimeoutMs })
        : createMemoryLimiter(),
      {
        mode: config.limiterFailureMode,
        onError: (error) => {
          metrics.limiterErrors.inc();
          logger.error({ err: error, mode: config.limiterFailureMode }, 'limiter unavailable; answering by failure mode');
        },
      },
    );
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
    const createdRootKey = options.bootstrapRootKey === false ? null : await ensureRootKey({ commands, keys, rootKey: config.rootKey, prefix: config.keyPrefixes.live, logger });
    // One verification for every route that answers verify questions: same checks, usage, metrics.
    const verification = createVerification({
      verify: createKeyVerifier({ keys, limiter }),
      usage,
      metrics,
    });
    const app = await buildHttpApp({
      logger,
      bodyLimitBytes: config.bodyLimitBytes,
      store,
      keys,
      commands,
      appliedCheckpoint: () => runner.checkpoint ?? null,
      isReady: () => ready && !closing,
      authThrottle: new AuthFailureThrottle(config.authFailures),
      onAuthFailure: (reason) => metrics.authFailures.labels({ reason }).inc(),
      httpLimits: config.http,
      eventStreamLimits: config.eventStream,
      metricsToken: config.metrics.token,
      rootPlugins: config.metrics.listen ? [] : [metricsRoute(metrics)],
      v1Plugins: [
        async (v1) => {
          await v1.register(verifyRoutes, { verification, keys, limiter: limiter as Limiter, usage: usage as UsageRecorder, store });
          await v1.register(forwardAuthRoutes, { verification, keys, config: config.forwardAuth });
        },
      ],
    });
    metricsApp = config.metrics.listen ? await buildMetricsApp(metrics, logger, config.http) : null;
    ready = true;
    return {
      config,
      app,
      store,
      runner,
      keys,
      commands,
      createdRootKey,
      metricsApp,
      async close() {
        closing = true;
        await app.close();
        await metricsApp?.close();
        await usage?.stop();
        await limiter?.close();
        await runner.stop();
        await store.close();
      },
    };
  } catch (error) {
    await metricsApp?.close().catch(() => undefined);
    await usage?.stop().catch(() => undefined);
    await limiter?.close().catch(() => undefined);
    await runner.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw error;
  }
}
