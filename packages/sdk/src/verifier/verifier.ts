/**
 * The gateway verifier: answers `verify(key)` from a bounded in-process cache when it safely can,
 * from the service otherwise.
 *
 * - A malformed key (bad shape or checksum) is refused offline, without a network call.
 * - Cache entries are keyed by the key's SHA-256 digest and hold the key's facts (status, expiry,
 *   scopes, endpoint rules, limits), so scope and endpoint checks run locally exactly as the
 *   service runs them. NOT_FOUND answers are remembered briefly (`negativeTtlMs`).
 * - The ledger's key events update or drop entries the moment they arrive (revoke, suspend,
 *   reinstate, re-scope, re-limit, rotate); KeyIssued forgets every NOT_FOUND.
 * - The cache is used only while the feed is connected and caught up. When it drops, the cache is
 *   emptied and every call goes to the service until the feed has caught up again: a possibly
 *   stale decision is never served.
 * - A fill is stored only when the instance that answered it had applied the ledger at least up
 *   to the feed's position when the fill started (the `checkpoint` of the verify answer and the
 *   `keyledger-checkpoint` of the key read): its projection and the feed are separate readers of
 *   the ledger, and a lagging instance would otherwise hand back an answer from before an event
 *   (a revoke) that the feed has already delivered, and that nothing would ever evict. A fill is
 *   also discarded if any event for that key arrived while it was in flight. No clock is
 *   involved: a lag of any length is caught.
 * - Limits: in `remote` mode a key with a rate limit or quota is always verified by the service
 *   (exact counting; only its refusals before the limiter are answered locally). In `local` mode
 *   it is counted locally, see local-limits.ts for the reporting and the overshoot bound.
 *
 * The client's token needs `keys:verify`, `events:read` and `keys:read` (to learn a key's facts
 * for the cache). Without `keys:read` only NOT_FOUND and REVOKED answers are cached.
 */
import { checkpointReached, MAX_KEY_LENGTH, parseKey } from '@keyledger/schemas';
import { createClient, type KeyledgerClient } from '../client.js';
import { KeyledgerApiError, KeyledgerNetworkError } from '../errors.js';
import type { LedgerEvent, VerifyResult } from '../types.js';
import { digestOf } from './digest.js';
import { answer, decide, evaluateFacts, forbiddenReason, type VerifyContext } from './evaluate.js';
import { FeedFollower } from './feed-follower.js';
import { AuditTrail, AuditViolationError, type AuditTrailOptions } from './audit-trail.js';
import { applyKeyEvent, consumerIdOf, factsFromKey, type KeyFacts, keyIdOf, revokedFacts } from './key-facts.js';
import { afterReport, checkLocalLimits, type LocalLimitState, seedLocalLimits } from './local-limits.js';
import { LruMap, RecencyCache } from './lru.js';
import { checkToken, logOncePerKind, readinessFailure, unreachable } from './readiness.js';

/** Waits `ms`, or less if `signal` aborts first (then the caller notices the abort). */
const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

export type { VerifyContext } from './evaluate.js';

export interface VerifierOptions {
  /** An SDK client; or `baseUrl` + `token` to make one (closed with the verifier). */
  client?: KeyledgerClient;
  baseUrl?: string;
  token?: string;
  /** Keys whose facts are kept; least recently used go first. Default 10 000. */
  cacheSize?: number;
  /** How long a NOT_FOUND is remembered (a KeyIssued event forgets it sooner). Default 5 000. */
  negativeTtlMs?: number;
  /** Who counts rate limits and quotas: the service (exact, default) or this process. */
  limits?: 'remote' | 'local';
  /** `local` limits: how often usage is reported to the service. Default 1 000. */
  reportIntervalMs?: number;
  /** Follow the live feed (default). Without it nothing can invalidate a cache, so nothing is cached. */
  follow?: boolean;
  /**
   * Background failures (feed, cache fills). Verification goes remote meanwhile. Default: one
   * line on stderr per kind of failure (readiness.ts), never silence.
   */
  onError?: (error: unknown) => void;
  /** How long `ready()` waits for keyledger before rejecting as UNREACHABLE. Default 10 000. */
  readyTimeoutMs?: number;
  now?: () => number;
  /**
   * Pin the transparency log's key: every applied event is then proven, in the background, to be
   * in a checkpoint signed by it, each checkpoint consistent with the last seen (audit-trail.ts).
   * Needs `audit:read` besides the verifier's permissions. A failure goes to `onViolation`
   * (default onError); verification itself never waits on this.
   */
  audit?: AuditTrailOptions & { intervalMs?: number; onViolation?: (error: AuditViolationError) => void };
}

export interface VerifierStats {
  live: boolean;
  cachedKeys: number;
  cachedNotFound: number;
  hits: number;
  remote: number;
  offline: number;
  eventsApplied: number;
  /** Fills refused because the answering instance had not applied what the feed had seen. */
  staleFills: number;
  /** The feed's position: every key event up to it has been applied to the cache. */
  feedCheckpoint: string | undefined;
  /** Cache fills (a remote answer, maybe a key read) still running. */
  fillsInFlight: number;
}

export interface Verifier {
  verify(key: string, context?: VerifyContext): Promise<VerifyResult>;
  /**
   * Resolves once the token is known to work and the feed is connected and caught up (with
   * `follow: false`, once the token is checked). Rejects with a KeyledgerVerifierError naming
   * the cause: UNAUTHORIZED, MISSING_PERMISSION (`permission`), or UNREACHABLE after
   * `readyTimeoutMs` (or `options.timeoutMs`). Call it at start-up and refuse to serve on failure.
   */
  ready(options?: { timeoutMs?: number }): Promise<void>;
  /** True while cached decisions may be served. */
  readonly live: boolean;
  /** The cached answer for this key and context, without any network call or charge; undefined if not cached. */
  peek(key: string, context?: VerifyContext): VerifyResult | undefined;
  stats(): VerifierStats;
  /** The transparency log check, when `audit` was given: status() and check() on demand. */
  readonly audit: AuditTrail | undefined;
  close(): Promise<void>;
}

export interface KeyEntry {
  facts: KeyFacts;
  /**
   * The last answer that depended only on the facts, made once (the hot path allocates nothing).
   * One slot, not one per code: a key answers the same code call after call.
   */
  answer: VerifyResult | undefined;
  local: LocalLimitState | undefined;
  /** RecencyCache's bookkeeping. */
  tick: number;
}

/** A cache entry for facts just learnt. */
export function keyEntry(facts: KeyFacts, local: LocalLimitState | undefined): KeyEntry {
  return { facts, answer: undefined, local, tick: 0 };
}

interface FillStart {
  seq: number;
  epoch: number;
  /** The feed's position when the fill started: the answers must reflect at least this. */
  feedCheckpoint: string | undefined;
}

const UNKNOWN_LIMITS = { rate: null, quota: null, rates: [], credits: null };

function unknownKey(code: 'MALFORMED' | 'NOT_FOUND'): VerifyResult {
  return Object.freeze({
    valid: false, code, keyId: null, consumerId: null, scopes: [], meta: null, expiresAt: null, limits: UNKNOWN_LIMITS,
    plan: null, reason: null, replayed: false, consumerRegistered: false,
  }) as VerifyResult;
}
const MALFORMED = unknownKey('MALFORMED');
const NOT_FOUND = unknownKey('NOT_FOUND');

export function createVerifier(options: VerifierOptions): Verifier {
  const ownsClient = options.client === undefined;
  if (!options.client && (!options.baseUrl || !options.token)) {
    throw new TypeError('createVerifier needs `client`, or `baseUrl` and `token`');
  }
  const client = options.client ?? createClient({ baseUrl: options.baseUrl!, token: options.token! });
  const now = options.now ?? Date.now;
  const mode = options.limits ?? 'remote';
  if (mode !== 'remote' && mode !== 'local') throw new TypeError(`limits must be 'remote' or 'local', got ${String(mode)}`);
  const negativeTtlMs = options.negativeTtlMs ?? 5_000;
  const reportIntervalMs = options.reportIntervalMs ?? 1_000;
  const onError = options.onError ?? logOncePerKind();
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;

  const keys = new RecencyCache<string, KeyEntry>(options.cacheSize ?? 10_000);
  const notFound = new LruMap<string, number>(options.cacheSize ?? 10_000);
  /** keyId -> digest, to find the entry an event is about. May hold digests the LRU dropped. */
  const digestByKeyId = new Map<string, string>();
  /** keyId -> sequence number of the last event that touched it, for the fill guard. */
  const recentEvents = new Map<string, number>();
  /** consumerId -> sequence number of the last event of that consumer (its status and networks apply to its keys). */
  const recentConsumerEvents = new Map<string, number>();
  let lastIssuedSeq = 0;
  let seq = 0;
  /** Fills in flight: events older than the oldest of them can no longer matter. */
  const inFlight = new Set<FillStart>();
  let canReadKeys = true;
  const fills = new Map<string, Promise<void>>();
  const stats = { hits: 0, remote: 0, offline: 0, eventsApplied: 0, staleFills: 0 };

  const dropAll = () => {
    keys.clear();
    notFound.clear();
    digestByKeyId.clear();
  };

  const trail = options.audit ? new AuditTrail(client, options.audit) : undefined;
  const onViolation = options.audit?.onViolation ?? onError;
  const auditTimer = trail
    ? setInterval(() => {
        trail.check().catch((error: unknown) => (error instanceof AuditViolationError ? onViolation(error) : onError(error)));
      }, options.audit?.intervalMs ?? 5_000)
    : undefined;
  auditTimer?.unref();

  const onEvent = (event: LedgerEvent) => {
    seq++;
    trail?.noteApplied(event);
    if (event.type === 'KeyIssued') {
      notFound.clear();
      lastIssuedSeq = seq;
    }
    const consumerId = consumerIdOf(event);
    if (consumerId !== undefined) {
      // A consumer registered, suspended, reinstated or closed: its keys are asked about again (and,
      // once registered, every time: the service answers for keys under a consumer's policy).
      recentConsumerEvents.set(consumerId, seq);
      if (recentConsumerEvents.size > 1_000) sweepRecent();
      for (const [digest, entry] of keys.entries()) {
        if (entry.facts.consumerId !== consumerId) continue;
        keys.delete(digest);
        digestByKeyId.delete(entry.facts.keyId);
      }
      return;
    }
    const keyId = keyIdOf(event);
    if (keyId === undefined) return;
    recentEvents.set(keyId, seq);
    if (recentEvents.size > 1_000) sweepRecent();
    const digest = digestByKeyId.get(keyId);
    if (digest === undefined) return;
    const entry = keys.peek(digest);
    if (!entry || entry.facts.keyId !== keyId) {
      digestByKeyId.delete(keyId);
      return;
    }
    stats.eventsApplied++;
    const facts = applyKeyEvent(entry.facts, event);
    if (facts === undefined) {
      keys.delete(digest);
      digestByKeyId.delete(keyId);
      return;
    }
    // New limits invalidate local counting; the next limited call re-seeds from the service.
    const local = event.type === 'KeyThrottled' ? undefined : entry.local;
    keys.set(digest, keyEntry(facts, local));
  };

  const sweepRecent = () => {
    // A record matters only to fills that started before it: drop those older than every fill in flight.
    let oldest = seq;
    for (const start of inFlight) oldest = Math.min(oldest, start.seq);
    for (const [keyId, touched] of recentEvents) if (touched <= oldest) recentEvents.delete(keyId);
    for (const [consumerId, touched] of recentConsumerEvents) if (touched <= oldest) recentConsumerEvents.delete(consumerId);
  };

  const follower = options.follow === false
    ? undefined
    : new FeedFollower({
        client,
        onEvent,
        onUntrusted: dropAll,
        onError,
        // While ready() is pending it reports this failure itself (it rejects with it): once is enough.
        onFailed: (error) => {
          if (readyCalls === 0) onError(error);
        },
      });

  const startFill = (): FillStart => {
    const start = { seq, epoch: follower?.epoch ?? -1, feedCheckpoint: follower?.checkpoint };
    inFlight.add(start);
    return start;
  };
  const endFill = (start: FillStart) => inFlight.delete(start);

  /** May a fill that started at `start`, answered by an instance at `answeredAt`, be stored now? */
  const fillAllowed = (start: FillStart, keyId: string | null, answeredAt: string | null | undefined): boolean => {
    if (!follower?.live || follower.epoch !== start.epoch) return false;
    if (!checkpointReached(answeredAt, start.feedCheckpoint)) {
      stats.staleFills++;
      return false;
    }
    if (keyId === null) return lastIssuedSeq <= start.seq;
    const touched = recentEvents.get(keyId);
    return touched === undefined || touched <= start.seq;
  };

  const store = (digest: string, facts: KeyFacts, local: LocalLimitState | undefined) => {
    const previous = digestByKeyId.get(facts.keyId);
    if (previous !== undefined && previous !== digest) keys.delete(previous);
    keys.set(digest, keyEntry(facts, local));
    digestByKeyId.set(facts.keyId, digest);
    if (digestByKeyId.size > 2 * keys.capacity) {
      digestByKeyId.clear();
      for (const [d, entry] of keys.entries()) digestByKeyId.set(entry.facts.keyId, d);
    }
  };

  /** Learns the key's facts after a remote answer, in the background (the caller has its answer). */
  const fill = (digest: string, result: VerifyResult, start: FillStart): void => {
    const job = fillFrom(digest, result, start);
    if (job) void job.finally(() => endFill(start));
    else endFill(start);
  };

  const fillFrom = (digest: string, result: VerifyResult, start: FillStart): Promise<void> | undefined => {
    if (result.code === 'MALFORMED') return;
    if (result.keyId === null) {
      if (result.code === 'NOT_FOUND' && fillAllowed(start, null, result.checkpoint)) notFound.set(digest, now() + negativeTtlMs);
      return;
    }
    if (!fillAllowed(start, result.keyId, result.checkpoint)) return;
    const consumerTouched = recentConsumerEvents.get(result.consumerId);
    if (consumerTouched !== undefined && consumerTouched > start.seq) return;
    // A key on a plan or of a registered consumer answers to policies this cache does not hold
    // (plan terms, consumer status and networks): the service answers it every time.
    if (result.plan != null || result.consumerRegistered === true) return;
    if (result.code === 'REVOKED') {
      store(digest, revokedFacts(result), undefined);
      return;
    }
    if (!canReadKeys || fills.has(digest)) return;
    const keyId = result.keyId;
    const job = client.keys
      .get(keyId)
      .then((key) => {
        // The key read may be answered by another instance: it must have caught up as well.
        if (!fillAllowed(start, keyId, key.checkpoint)) return;
        // A key restricted to client networks is checked against the caller's address by the service.
        if (key.networks.length > 0) return;
        const facts = factsFromKey(key);
        const local = mode === 'local' && result.code === 'VALID' && (facts.rateLimit || facts.quota) ? seedLocalLimits(result, facts, now()) : undefined;
        store(digest, facts, local);
      })
      .catch((error: unknown) => {
        if (error instanceof KeyledgerApiError && error.status === 403) canReadKeys = false;
        onError(error);
      })
      .finally(() => fills.delete(digest));
    fills.set(digest, job);
    return job;
  };

  const remote = async (key: string, digest: string, context: VerifyContext, cost: number, fillAfter: boolean): Promise<VerifyResult> => {
    stats.remote++;
    const start = fillAfter ? startFill() : undefined;
    let result: VerifyResult;
    try {
      result = await client.verify({
        key,
        ...(context.scopes && context.scopes.length > 0 ? { scopes: [...context.scopes] } : {}),
        ...(context.endpoint ? { endpoint: { method: context.endpoint.method, path: context.endpoint.path } } : {}),
        cost,
      });
    } catch (error) {
      if (start) endFill(start);
      throw error;
    }
    if (start) fill(digest, result, start);
    return result;
  };

  /** `local` mode: count this call here, or send it (with the pending batch) to the service. */
  const verifyLocally = async (key: string, digest: string, entry: KeyEntry, context: VerifyContext, cost: number): Promise<VerifyResult> => {
    const local = entry.local;
    if (!local) {
      const result = await remote(key, digest, context, cost, false);
      const current = keys.peek(digest);
      if (current === entry && (result.code === 'VALID' || result.code === 'RATE_LIMITED' || result.code === 'QUOTA_EXCEEDED')) {
        current.local = seedLocalLimits(result, current.facts, now());
      }
      return result;
    }
    const t = now();
    const outcome = checkLocalLimits(entry.facts, local, cost, t, reportIntervalMs);
    if (outcome.kind === 'report') {
      const result = await remote(key, digest, context, outcome.units, false);
      afterReport(local, result, entry.facts, now());
      return result;
    }
    stats.hits++;
    const code = outcome.kind === 'admit' ? 'VALID' : outcome.code;
    const result = answer(code, entry.facts, outcome.limits);
    return outcome.rateLimit ? { ...result, rateLimit: outcome.rateLimit } : result;
  };

  /** The cached answer, 'limits' when only limits remain, or undefined when nothing is cached. */
  const cached = (digest: string, context: VerifyContext): { entry: KeyEntry; result: 'limits' } | VerifyResult | undefined => {
    const entry = keys.get(digest);
    if (entry) {
      // The clock matters only to a key that expires: most do not, and reading it costs more
      // than the rest of the checks together.
      const code = decide(entry.facts, context, entry.facts.expiryMs === Number.POSITIVE_INFINITY ? 0 : now());
      if (code === 'limits') return { entry, result: code };
      // One prepared answer per key; a FORBIDDEN one names its rule, which depends on the call.
      const reason = code === 'FORBIDDEN' ? forbiddenReason(entry.facts, context) : null;
      let shared = entry.answer;
      if (shared === undefined || shared.code !== code || shared.reason !== reason) {
        shared = Object.freeze(answer(code, entry.facts, undefined, context));
        entry.answer = shared;
      }
      return shared;
    }
    const until = notFound.get(digest);
    if (until !== undefined) {
      if (until > now()) return NOT_FOUND;
      notFound.delete(digest);
    }
    return undefined;
  };

  const verify = (key: string, context: VerifyContext = {}): Promise<VerifyResult> => {
    const cost = context.cost ?? 1;
    const live = follower?.live === true && typeof key === 'string' && key.length <= MAX_KEY_LENGTH;
    // Only well-formed keys ever enter the cache (a fill follows a remote answer other than
    // MALFORMED), so a cache hit proves the format and the checksum check can wait for a miss.
    const digest = live ? digestOf(key) : '';
    const hit = live ? cached(digest, context) : undefined;
    if (hit === undefined) {
      if (parseKey(key) === null) {
        stats.offline++;
        return Promise.resolve(MALFORMED);
      }
      return remote(key, digest || digestOf(key), context, cost, live);
    }
    if ('code' in hit) {
      stats.hits++;
      return Promise.resolve(hit);
    }
    if (mode === 'local') return verifyLocally(key, digest, hit.entry, context, cost);
    return remote(key, digest, context, cost, false);
  };

  let tokenChecked = false;
  let readyCalls = 0;
  /** See `Verifier.ready`: token first (retried on network errors until the deadline), then the feed. */
  const ready = async (timeoutMs: number): Promise<void> => {
    const deadline = AbortSignal.timeout(timeoutMs);
    let lastError: unknown;
    while (!tokenChecked) {
      try {
        const token = await checkToken(client, deadline, onError);
        if (!token.canReadKeys) canReadKeys = false;
        tokenChecked = true;
      } catch (error) {
        const failure = readinessFailure(error, 'keys:verify');
        if (failure) throw failure;
        if (deadline.aborted) throw unreachable(timeoutMs, lastError);
        // Not running yet, restarting, or a network in the way: keep asking until the deadline.
        const retryable = error instanceof KeyledgerNetworkError || (error instanceof KeyledgerApiError && error.status >= 500);
        if (!retryable) throw error;
        lastError = error;
        await pause(250, deadline);
      }
    }
    if (!follower) return;
    if (deadline.aborted) throw unreachable(timeoutMs, lastError);
    let onDeadline: (() => void) | undefined;
    try {
      await Promise.race([
        follower.whenLive().catch((error: unknown) => {
          throw readinessFailure(error, 'events:read') ?? error;
        }),
        new Promise<never>((_, reject) => {
          onDeadline = () => reject(unreachable(timeoutMs, new Error('the live event feed did not connect and catch up')));
          deadline.addEventListener('abort', onDeadline, { once: true });
        }),
      ]);
    } finally {
      if (onDeadline) deadline.removeEventListener('abort', onDeadline);
    }
  };

  return {
    verify,
    ready: async (readyOptions = {}) => {
      readyCalls++;
      try {
        await ready(readyOptions.timeoutMs ?? readyTimeoutMs);
      } finally {
        readyCalls--;
      }
    },
    get live() {
      return follower?.live ?? false;
    },
    peek(key, context = {}) {
      if (parseKey(key) === null) return MALFORMED;
      if (!follower?.live) return undefined;
      const digest = digestOf(key);
      const entry = keys.peek(digest);
      if (entry) {
        const outcome = evaluateFacts(entry.facts, context, now());
        return outcome === 'limits' ? undefined : outcome;
      }
      const until = notFound.peek(digest);
      return until !== undefined && until > now() ? NOT_FOUND : undefined;
    },
    stats: () => ({
      live: follower?.live ?? false,
      cachedKeys: keys.size,
      cachedNotFound: notFound.size,
      ...stats,
      feedCheckpoint: follower?.checkpoint,
      fillsInFlight: inFlight.size,
    }),
    audit: trail,
    async close() {
      clearInterval(auditTimer);
      follower?.close();
      await Promise.allSettled([...fills.values()]);
      if (follower) await follower.done;
      dropAll();
      if (ownsClient) await client.close();
    },
  };
}
