/**
 * Limiter backed by Redis, for several service instances sharing limits. Every check is one Lua
 * script (EVALSHA via ioredis defineCommand), so rate + quota are decided and charged atomically.
 *
 * Failure behaviour is bounded on purpose: no offline queue, no per-request retries, a command
 * timeout and a connect timeout, so a down or hung Redis surfaces as LimiterUnavailableError within
 * about `commandTimeoutMs` instead of stalling verification.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { OUTCOME_RATE_LIMITED, decision, quotaState, rateState } from './limit-state.js';
import { assertPeriod, assertSubject, assertUnits, validateLimitRequest } from './limit-request.js';
import {
  InvalidLimitRequestError,
  LimiterUnavailableError,
  type LimitDecision,
  type LimitRequest,
  type Limiter,
  type QuotaPeriod,
} from './limiter.js';
import { quotaWindow } from './quota-window.js';
import { CHECK_SCRIPT, RESTORE_SCRIPT } from './redis-scripts.js';

export interface RedisLimiterOptions {
  url: string;
  /** Prepended to every key; default `kl:` giving `kl:{<subject>}:rate`. */
  keyPrefix?: string;
  /** Upper bound for one command; default 50 ms. */
  commandTimeoutMs?: number;
  /** Upper bound for establishing a connection; default 1000 ms. */
  connectTimeoutMs?: number;
  /** `'redis'` (default) uses Redis TIME; a function (epoch ms) is for tests. */
  clock?: 'redis' | (() => number);
}

export interface RedisLimiter extends Limiter {
  readonly kind: 'redis';
}

type ScriptReply = [number, number, number, number, number, number, number];

interface LimiterCommands {
  keyledgerLimitCheck(
    rateKey: string,
    quotaKeyBase: string,
    charge: string,
    nowMs: string,
    intervalUs: string,
    burst: string,
    quotaLimit: string,
    period: string,
    cost: string,
  ): Promise<ScriptReply>;
  keyledgerLimitRestore(quotaKey: string, nowMs: string, startMs: string, endMs: string, units: string): Promise<number>;
}

/** Reply errors that mean "Redis cannot serve right now" rather than "our script is wrong". */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|OOM)\b/;

function toLimiterError(error: unknown): Error {
  if (error instanceof InvalidLimitRequestError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const isReplyError = error instanceof Error && error.name === 'ReplyError';
  if (isReplyError && !TRANSIENT_REPLY.test(message)) return error as Error;
  return new LimiterUnavailableError(`limiter store unavailable: ${message}`, { cause: error });
}

export function createRedisLimiter(options: RedisLimiterOptions): RedisLimiter {
  const keyPrefix = options.keyPrefix ?? 'kl:';
  const commandTimeoutMs = options.commandTimeoutMs ?? 50;
  const clock = options.clock ?? 'redis';
  const redisOptions: RedisOptions = {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    // With the offline queue off, commands sent before "ready" fail; skipping the INFO ready check
    // makes the connection usable as soon as the socket is up.
    enableReadyCheck: false,
    connectTimeout: options.connectTimeoutMs ?? 1000,
    commandTimeout: commandTimeoutMs,
    // Concurrent checks issued in the same tick share one socket write.
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  };
  const client = new Redis(options.url, redisOptions);
  // Without a listener ioredis prints every connection error; failures surface through calls instead.
  client.on('error', () => undefined);
  client.defineCommand('keyledgerLimitCheck', { numberOfKeys: 2, lua: CHECK_SCRIPT });
  client.defineCommand('keyledgerLimitRestore', { numberOfKeys: 1, lua: RESTORE_SCRIPT });
  const commands = client as unknown as LimiterCommands;

  let readyWait: Promise<boolean> | undefined;
  /** Waits (at most commandTimeoutMs) for a connection in progress; shared by concurrent callers. */
  function waitForReady(): Promise<boolean> {
    readyWait ??= new Promise<boolean>((resolve) => {
      const finish = (ready: boolean) => {
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('close', onClose);
        readyWait = undefined;
        resolve(ready);
      };
      const onReady = () => finish(true);
      const onClose = () => finish(false);
      const timer = setTimeout(onClose, commandTimeoutMs);
      client.on('ready', onReady);
      client.on('close', onClose);
    });
    return readyWait;
  }

  async function ensureReady(): Promise<void> {
    const status = client.status;
    if (status === 'ready') return;
    // A first connection (or a reconnect attempt) in progress gets a short grace; a connection known
    // to be down fails at once.
    if ((status === 'connecting' || status === 'connect' || status === 'wait') && (await waitForReady())) return;
    throw new LimiterUnavailableError(`limiter store unavailable: connection is ${client.status}`);
  }

  const nowArg = typeof clock === 'function' ? () => String(clock()) : () => '';
  const rateKey = (subject: string) => `${keyPrefix}{${subject}}:rate`;
  const quotaKeyBase = (subject: string, period: QuotaPeriod) => `${keyPrefix}{${subject}}:quota:${period}:`;

  async function run(request: Omit<LimitRequest, 'cost'>, cost: number, charge: boolean): Promise<LimitDecision> {
    const params = validateLimitRequest(request, false);
    const { rate, quota } = request;
    if (rate === undefined && quota === undefined) return { allowed: true };
    await ensureReady();
    let reply: ScriptReply;
    try {
      reply = await commands.keyledgerLimitCheck(
        rateKey(request.subject),
        quotaKeyBase(request.subject, quota?.period ?? 'minute'),
        charge ? '1' : '0',
        nowArg(),
        params === undefined ? '' : String(params.emissionIntervalUs),
        params === undefined ? '' : String(params.burst),
        quota === undefined ? '' : String(quota.limit),
        quota === undefined ? '' : quota.period,
        String(cost),
      );
    } catch (error) {
      throw toLimiterError(error);
    }
    const [outcome, remaining, resetUs, retryAfterUs, used, startMs, endMs] = reply;
    return decision(
      outcome,
      rate === undefined ? undefined : rateState(rate, remaining, resetUs, outcome === OUTCOME_RATE_LIMITED ? retryAfterUs : 0),
      quota === undefined ? undefined : quotaState(quota, used, startMs, endMs),
    );
  }

  return {
    kind: 'redis',
    async check(request: LimitRequest): Promise<LimitDecision> {
      assertUnits(request?.cost, 'cost');
      return run(request, request.cost, true);
    },
    peek(request: Omit<LimitRequest, 'cost'>): Promise<LimitDecision> {
      // A peek answers "would a call costing one unit be allowed now?".
      return run(request, 1, false);
    },
    async restoreQuotaUsage(subject: string, period: QuotaPeriod, windowStart: Date, units: number): Promise<void> {
      assertSubject(subject);
      assertPeriod(period);
      assertUnits(units, 'units');
      if (!(windowStart instanceof Date) || Number.isNaN(windowStart.getTime())) {
        throw new InvalidLimitRequestError('windowStart', 'must be a valid Date');
      }
      if (units === 0) return;
      const window = quotaWindow(period, windowStart.getTime());
      await ensureReady();
      try {
        await commands.keyledgerLimitRestore(
          quotaKeyBase(subject, period) + String(window.startMs),
          nowArg(),
          String(window.startMs),
          String(window.endMs),
          String(units),
        );
      } catch (error) {
        throw toLimiterError(error);
      }
    },
    async close(): Promise<void> {
      if (client.status === 'ready') await client.quit().catch(() => undefined);
      client.disconnect();
    },
  };
}
