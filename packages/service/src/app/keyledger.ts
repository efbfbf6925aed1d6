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
import { appliedProjections, createProjectionSet, snapshotParts } from '../projections/projection-set.js';
import { createMemoryLimiter, createRedisLimiter, type Limiter, withFailurePolicy } from '../limits/index.js';
import { buildMetricsApp, countedStore, createMetrics, httpMetrics, metricsRoute, timedLimiter } from '../metrics/metrics.js';
import { forwardAuthRoutes } from '../http/routes/forward-auth.js';
import { keyStatusAt } from '../domain/keys/status.js';
import { verifyRoutes } from '../http/routes/verify.js';
import { UsageRecorder } from '../verify/usage-recorder.js';
import { QuotaUsageProjection } from '../verify/usage-projection.js';
import { createVerification } from '../verify/verification.js';
import { createKeyVerifier } from '../verify/verify-key.js';
import { creditPolicyOf, KeyPolicies } from '../verify/key-policy.js';
import { currentVersion } from '../domain/plans/index.js';
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
import { CommandRunner } from './command-runner.js';
import { ConsumerClosure } from './consumer-closure.js';
import { ConsumerCommands } from './consumer-commands.js';
import { KeyRequestCommands } from './key-request-commands.js';
import { PlanCommands } from './plan-commands.js';
import { UsageReports } from './usage-reports.js';
import {
  type ConsumerReadModel,
  type KeyRequestReadModel,
  type PlanReadModel,
} from '../projections/consumer-plan-projections.js';
import { consumerRoutes } from '../http/routes/consumers.js';
import { keyRequestRoutes } from '../http/routes/key-requests.js';
import { planRoutes } from '../http/routes/plans.js';
import { AlertDeriver, planAwareThresholds } from '../alerts/deriver.js';
import { loadGithubKeys } from '../leaks/github-keys.js';
import { LeakResponder } from '../leaks/leak-response.js';
import { leakRoutes } from '../leaks/routes.js';
import { WebhookCommands } from '../webhooks/commands.js';
import { type DeliveryStore, openDeliveryStore } from '../webhooks/delivery-store.js';
import { WebhookDeliveryWorker } from '../webhooks/delivery-worker.js';
import { WebhookEndpoints } from '../webhooks/endpoints.js';
import { webhookRoutes } from '../webhooks/routes.js';

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
  consumerCommands: ConsumerCommands;
  planCommands: PlanCommands;
  keyRequestCommands: KeyRequestCommands;
  consumers: ConsumerReadModel;
  plans: PlanReadModel;
  keyRequests: KeyRequestReadModel;
  /** Revokes the keys of closed consumers (also those a crash left unrevoked). */
  consumerClosure: ConsumerClosure;
  webhooks: WebhookCommands;
  alerts: AlertDeriver;
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
  /**
   * Run the webhook deliverer and the alert deriver (default true). Off for host tools that open
   * the ledger only to append a command or read the routes (`root-key reset`, `openapi`).
   */
  background?: boolean;
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
  // One factory with `projections rebuild`, so its snapshots have this service's parts.
  const projections = createProjectionSet({ onKeyListenerError: (error) => logger.error({ err: error }, 'key change listener failed') });
  const { keys, quotaUsage, consumers, plans, keyRequests, creditLedger } = projections;
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
  const runner = new ProjectionRunner(store, appliedProjections(projections), {
    parked: projections.parked,
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
  const snapshots = new ProjectionSnapshots(snapshotStore, snapshotParts(projections), { logger, instanceId: config.instanceId, compare });
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
  let consumerClosure: ConsumerClosure | undefined;
  let metricsApp: MetricsApp | null = null;
  let deliveries: DeliveryStore | undefined;
  let deliveryWorker: WebhookDeliveryWorker | undefined;
  let alerts: AlertDeriver | undefined;
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
    // Effective policies (consumer status and networks, plan terms), shared by verify and the quota route.
    const policies = new KeyPolicies({ consumer: (id) => consumers.get(id), plan: (id) => plans.get(id) });
    // The terms of a key's plan now (its current version), for the credits, alerts and leak action.
    const planTermsOf = (key: { planId: string | null }) => {
      const plan = key.planId === null ? undefined : plans.get(key.planId);
      return plan ? currentVersion(plan).terms : undefined;
    };
    const creditPolicyFor = (keyId: string) => {
      const key = keys.getById(keyId);
      const terms = key ? planTermsOf(key) : undefined;
      return key && terms ? creditPolicyOf(key, terms.credits) : undefined;
    };
    // Top-ups reach the limiter as they are applied, and those of the past once now (idempotent by
    // event id); a memory limiter also gets back the credits spent before this start.
    const creditLimiter = limiter;
    creditLedger.follow((keyId, topUp) => {
      const credits = creditPolicyFor(keyId);
      if (!credits) return;
      void creditLimiter
        .addCredits({ subject: keyId, credits, amount: topUp.amount, topUpId: topUp.id, at: new Date(topUp.atMs) })
        .catch((error: unknown) => logger.error({ err: error, keyId }, 'a credit top-up did not reach the limiter; it is handed over again at the next start'));
    });
    const creditKeys = await creditLedger.restoreInto(limiter, creditPolicyFor, Date.now(), { spent: limiter.kind === 'memory' });
    if (creditKeys > 0) logger.info({ keys: creditKeys }, 'restored prepaid credits from the ledger');
    usage = new UsageRecorder(store, { intervalMs: config.usageFlushMs, instanceId: config.instanceId, logger });
    usage.start();
    const serverSecret = resolveServerSecret({
      configured: config.serverSecret,
      file: config.database.kind === 'sqlite' ? join(config.dataDir, 'server-secret') : undefined,
      logger,
    });
    const commandRunner = new CommandRunner({
      store,
      runner,
      applyTimeoutMs: config.commandApplyTimeoutMs,
      ...(options.now ? { now: options.now } : {}),
    });
    const commands = new KeyCommands({
      store,
      runner,
      commandRunner,
      planIdOf: (keyId) => keys.getById(keyId)?.planId,
      unregisteredConsumers: config.consumers.unregistered,
      keyPrefixes: config.keyPrefixes,
      maxGracePeriodSeconds: config.maxGracePeriodSeconds,
      serverSecret,
      otherActiveAdminKeys: (keyId, nowMs) => keys.otherActiveAdminKeys(keyId, nowMs),
      applyTimeoutMs: config.commandApplyTimeoutMs,
      secretReplayWindowSeconds: config.idempotentSecretWindowSeconds,
      ...(options.now ? { now: options.now } : {}),
    });
    const consumerCommands = new ConsumerCommands(commandRunner, { requiredChecks: config.consumers.requiredChecks });
    const planCommands = new PlanCommands(commandRunner);
    const keyRequestCommands = new KeyRequestCommands(commandRunner, {
      serverSecret,
      keyPrefix: config.keyPrefixes.live,
      unregisteredConsumers: config.consumers.unregistered,
    });
    const usageReports = new UsageReports({
      store,
      keys,
      consumers,
      plans,
      flush: () => (usage as UsageRecorder).flush(),
      // Every instance flushes within its interval; a period is final once all of them had three.
      finalAfterMs: 3 * config.usageFlushMs + 60_000,
    });
    consumerClosure = new ConsumerClosure({
      consumers,
      keys,
      commands,
      logger,
      closedEventIdOf: async (consumerId) => (await store.readStream(`consumer-${consumerId}`)).findLast((event) => event.type === 'ConsumerClosed')?.id ?? null,
    });
    // Webhooks, alerts and leak reports: each follows the ledger itself (see their modules).
    deliveries = await openDeliveryStore(config.database);
    const webhookEndpoints = new WebhookEndpoints(store);
    const webhookCommands = new WebhookCommands({
      store,
      runner,
      serverSecret,
      applyTimeoutMs: config.commandApplyTimeoutMs,
      ...(options.now ? { now: options.now } : {}),
    });
    deliveryWorker = new WebhookDeliveryWorker({
      store,
      deliveries,
      endpoints: webhookEndpoints,
      commands: webhookCommands,
      ownerOfKey: (keyId) => {
        const key = keys.getById(keyId);
        return key ? { consumerId: key.consumerId, planId: key.planId } : undefined;
      },
      serverSecret,
      instanceId: config.instanceId,
      settings: {
        leaseTtlMs: config.webhooks.leaseTtlMs,
        pollMs: config.webhooks.pollMs,
        timeoutMs: config.webhooks.timeoutMs,
        backoffBaseMs: config.webhooks.retryBaseMs,
        backoffMaxMs: config.webhooks.retryMaxMs,
        disableAfterMs: config.webhooks.disableAfterMs,
        allowPrivate: config.webhooks.allowPrivate,
        pageSize: 100,
      },
      logger,
    });
    alerts = new AlertDeriver({
      store,
      keys: { getById: (id) => keys.getById(id), all: () => keys.list({ limit: Number.MAX_SAFE_INTEGER }, new Date()).items },
      limiter,
      thresholds: planAwareThresholds(config.alerts.thresholds, planTermsOf),
      settings: config.alerts,
      logger,
    });
    const leakResponder = new LeakResponder({
      store,
      keys,
      commands,
      // The plan's own leak action when its current version names one, else the installation's.
      actionFor: (key) => planTermsOf(key)?.leakAction ?? config.leaks.action,
      logger,
    });
    const githubKeys = config.leaks.githubKeysFile ? loadGithubKeys(config.leaks.githubKeysFile) : undefined;
    // One verification for every route that answers verify questions: same checks, usage, metrics.
    const verification = createVerification({
      verify: createKeyVerifier({ keys, limiter, policies }),
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
      // Closures a crash left half done are finished now that the projections hold the whole log.
      consumerClosure?.start();
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
          await v1.register(verifyRoutes, { verification, keys, policies, limiter: limiter as Limiter, usage: usage as UsageRecorder, store });
          await v1.register(forwardAuthRoutes, { verification, keys, config: config.forwardAuth });
          await v1.register(consumerRoutes, { commands: consumerCommands, keyRequests: keyRequestCommands, consumers, keys, usageReports, now: () => new Date() });
          await v1.register(planRoutes, { commands: planCommands, plans, usageReports });
          await v1.register(keyRequestRoutes, { commands: keyRequestCommands, keyRequests });
          await v1.register(webhookRoutes, {
            commands: webhookCommands,
            endpoints: webhookEndpoints,
            deliveries: deliveries as DeliveryStore,
            store,
            allowPrivate: config.webhooks.allowPrivate,
          });
          await v1.register(leakRoutes, { responder: leakResponder, githubKeys });
          await v1.register(auditRoutes, { audit: runningAudit.audit });
        },
      ],
    });
    metricsApp = config.metrics.listen ? await buildMetricsApp(metrics, logger, config.http) : null;
    if (options.background !== false) {
      void alerts.start().catch((error: unknown) => logger.error({ err: error }, 'alert deriver could not start'));
      deliveryWorker.start();
      const worker = deliveryWorker;
      runner.onBatch(() => worker.wake());
    }
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
      consumerCommands,
      planCommands,
      keyRequestCommands,
      consumers,
      plans,
      keyRequests,
      consumerClosure,
      webhooks: webhookCommands,
      alerts,
      audit: runningAudit,
      createdRootKey,
      metricsApp,
      bootstrapRootKey,
      async close() {
        closing = true;
        clearInterval(snapshotTimer);
        try {
          await app.close();
          await consumerClosure?.stop();
          await metricsApp?.close();
          await deliveryWorker?.stop();
          await alerts?.stop();
          await deliveries?.close().catch(() => undefined);
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
    await consumerClosure?.stop().catch(() => undefined);
    await deliveryWorker?.stop().catch(() => undefined);
    await alerts?.stop().catch(() => undefined);
    await deliveries?.close().catch(() => undefined);
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
