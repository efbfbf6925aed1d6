/**
 * Limiter backed by Redis, for several service instances sharing limits. Every check is one Lua
 * script (EVALSHA via ioredis defineCommand), so rates, quotas, credits and the chargeId are decided
 * and charged atomically: instances racing with the same chargeId charge once.
 *
 * Failure behaviour is bounded on purpose: no offline queue, no per-request retries, a command
 * timeout and a connect timeout, so a down or hung Redis surfaces as LimiterUnavailableError within
 * about `commandTimeoutMs` instead of stalling verification.
 */
import { Redis, type RedisOptions } from 'ioredis';
import {
  CREDITS_NAME,
  OUTCOME_CREDITS_EXHAUSTED,
  OUTCOME_QUOTA_EXCEEDED,
  OUTCOME_RATE_LIMITED,
  creditState,
  decision,
  namedRateState,
  quotaName,
  quotaState,
  rateState,
} from './limit-state.js';
import {
  assertDate,
  assertPeriod,
  assertSubject,
  assertUnits,
  hasLimitExtras,
  positiveOption,
  validateCreditRestore,
  validateLimitExtras,
  validateLimitRequest,
  validateTopUp,
} from './limit-request.js';
import {
  InvalidLimitRequestError,
  LimiterUnavailableError,
  type CreditPolicy,
  type CreditRestore,
  type CreditTopUp,
  type CreditTopUpResult,
  type LimitDecision,
  type LimitRequest,
  type Limiter,
  type NamedRateState,
  type QuotaPeriod,
  type QuotaState,
} from './limiter.js';
import { quotaWindow } from './quota-window.js';
import { CHECK_SCRIPT, RESTORE_CREDITS_SCRIPT, RESTORE_SCRIPT, TOP_UP_SCRIPT } from './redis-scripts.js';

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
  /** How long a charged check's decision is kept for its chargeId (a Redis TTL); default 24 h. */
  chargeRetentionMs?: number;
}

export interface RedisLimiter extends Limiter {
  readonly kind: 'redis';
}

/** See CHECK_SCRIPT: numbers, or [-1, the first reply joined by ','] for a replayed chargeId. */
type ScriptReply = number[] | [-1, string];

interface LimiterCommands {
  keyledgerLimitCheck(subjectBase: string, argv: string[]): Promise<ScriptReply>;
  keyledgerLimitRestore(quotaKey: string, nowMs: string, startMs: string, endMs: string, units: string): Promise<number>;
  keyledgerCreditTopUp(subjectBase: string, argv: string[]): Promise<[number, number]>;
  keyledgerCreditRestore(subjectBase: string, argv: string[]): Promise<number>;
}

function creditArgs(argv: string[], credits: CreditPolicy): void {
  const refill = credits.refill;
  argv.push(
    String(credits.initial),
    refill === null ? '' : String(refill.amount),
    refill === null ? '' : refill.period,
    refill === null ? '' : refill.mode,
    credits.sinceMs === undefined ? '' : String(credits.sinceMs),
  );
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
  client.defineCommand('keyledgerLimitCheck', { numberOfKeys: 1, lua: CHECK_SCRIPT });
  client.defineCommand('keyledgerLimitRestore', { numberOfKeys: 1, lua: RESTORE_SCRIPT });
  client.defineCommand('keyledgerCreditTopUp', { numberOfKeys: 1, lua: TOP_UP_SCRIPT });
  client.defineCommand('keyledgerCreditRestore', { numberOfKeys: 1, lua: RESTORE_CREDITS_SCRIPT });
  const chargeRetention = String(positiveOption(options.chargeRetentionMs, 86_400_000, 'chargeRetentionMs'));
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
  const subjectBase = (subject: string) => `${keyPrefix}{${subject}}:`;
  const quotaKeyBase = (subject: string, period: QuotaPeriod) => `${keyPrefix}{${subject}}:quota:${period}:`;

  async function run(request: Omit<LimitRequest, 'cost'>, cost: number, charge: boolean): Promise<LimitDecision> {
    const params = validateLimitRequest(request, false);
    const namedParams = hasLimitExtras(request) ? validateLimitExtras(request) : undefined;
    const { rate, quota, rates, quotas, credits } = request;
    // Nothing to charge: allowed, unless a chargeId asks to remember the outcome (billed units are charges too).
    if (rate === undefined && quota === undefined && rates === undefined && quotas === undefined && credits === undefined && (!charge || request.chargeId === undefined)) {
      return { allowed: true };
    }
    const chargeId = charge ? request.chargeId : undefined;
    const argv = [charge ? '1' : '0', nowArg(), String(cost), chargeId ?? '', chargeRetention];
    const nRates = (params === undefined ? 0 : 1) + (rates?.length ?? 0);
    argv.push(String(nRates));
    if (params !== undefined) argv.push('rate', String(params.emissionIntervalUs), String(params.burst));
    if (rates !== undefined && namedParams !== undefined) {
      for (let i = 0; i < rates.length; i++) {
        const named = rates[i]!;
        const p = namedParams[i]!;
        // Name and window in the key: revising one limit of a plan leaves the others' state alone.
        argv.push(`rate:${named.name}:${named.windowSeconds}`, String(p.emissionIntervalUs), String(p.burst));
      }
    }
    argv.push(String((quota === undefined ? 0 : 1) + (quotas?.length ?? 0)));
    if (quota !== undefined) argv.push(quota.period, String(quota.limit));
    if (quotas !== undefined) for (const extra of quotas) argv.push(extra.period, String(extra.limit));
    if (credits === undefined) argv.push('');
    else {
      argv.push('1');
      creditArgs(argv, credits);
    }
    await ensureReady();
    let reply: ScriptReply;
    try {
      reply = await commands.keyledgerLimitCheck(subjectBase(request.subject), argv);
    } catch (error) {
      throw toLimiterError(error);
    }
    let numbers: number[];
    let replayed = false;
    if (reply[0] === -1) {
      numbers = String(reply[1]).split(',').map(Number);
      replayed = true;
      const expected = 2 + 3 * nRates + 3 * ((quota === undefined ? 0 : 1) + (quotas?.length ?? 0)) + (credits === undefined ? 0 : 2);
      // The retry names other limits than the first call did: the first decision's numbers no longer fit them.
      if (numbers.length !== expected) return { allowed: true, replayed: true };
    } else numbers = reply as number[];
    const result = decisionFromReply(request, numbers);
    if (replayed) result.replayed = true;
    return result;
  }

  /** Maps the script's flat reply back onto the request's policies (the same order it was sent in). */
  function decisionFromReply(request: Omit<LimitRequest, 'cost'>, reply: number[]): LimitDecision {
    const { rate, quota, rates, quotas, credits } = request;
    const outcome = reply[0]!;
    const refused = reply[1]!;
    let at = 2;
    let rateView;
    if (rate !== undefined) {
      rateView = rateState(rate, reply[at]!, reply[at + 1]!, reply[at + 2]!);
      at += 3;
    }
    let rateViews: NamedRateState[] | undefined;
    if (rates !== undefined) {
      rateViews = new Array<NamedRateState>(rates.length);
      for (let i = 0; i < rates.length; i++, at += 3) rateViews[i] = namedRateState(rates[i]!, reply[at]!, reply[at + 1]!, reply[at + 2]!);
    }
    let quotaView;
    if (quota !== undefined) {
      quotaView = quotaState(quota, reply[at]!, reply[at + 1]!, reply[at + 2]!);
      at += 3;
    }
    let quotaViews: QuotaState[] | undefined;
    if (quotas !== undefined) {
      quotaViews = new Array<QuotaState>(quotas.length);
      for (let i = 0; i < quotas.length; i++, at += 3) quotaViews[i] = quotaState(quotas[i]!, reply[at]!, reply[at + 1]!, reply[at + 2]!);
    }
    const result = decision(outcome, rateView, quotaView);
    if (outcome === OUTCOME_RATE_LIMITED && rates !== undefined) {
      const index = refused - 1 - (rate === undefined ? 0 : 1);
      if (index >= 0) result.refusedBy = rates[index]!.name;
    } else if (outcome === OUTCOME_QUOTA_EXCEEDED && quotas !== undefined) {
      const index = refused - 1 - (quota === undefined ? 0 : 1);
      if (index >= 0) result.refusedBy = quotaName(quotas[index]!);
    } else if (outcome === OUTCOME_CREDITS_EXHAUSTED) result.refusedBy = CREDITS_NAME;
    if (rateViews !== undefined) result.rates = rateViews;
    if (quotaViews !== undefined) result.quotas = quotaViews;
    if (credits !== undefined) result.credits = creditState(credits, reply[at]!, reply[at + 1] === -1 ? null : reply[at + 1]!);
    return result;
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
      assertDate(windowStart, 'windowStart');
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
    async addCredits(topUp: CreditTopUp): Promise<CreditTopUpResult> {
      validateTopUp(topUp);
      const argv = [nowArg(), String(topUp.amount), topUp.topUpId, topUp.at === undefined ? '' : String(topUp.at.getTime())];
      creditArgs(argv, topUp.credits);
      await ensureReady();
      try {
        const [applied, balance] = await commands.keyledgerCreditTopUp(subjectBase(topUp.subject), argv);
        return { applied: applied === 1, balance };
      } catch (error) {
        throw toLimiterError(error);
      }
    },
    async restoreCredits(restore: CreditRestore): Promise<void> {
      validateCreditRestore(restore);
      const argv = [nowArg(), String(restore.spent), String(restore.windowStart.getTime())];
      creditArgs(argv, restore.credits);
      await ensureReady();
      try {
        await commands.keyledgerCreditRestore(subjectBase(restore.subject), argv);
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
