/**
 * createClient: one method per endpoint, grouped by resource. Each method is one logical call:
 * the retry loop here repeats attempts made by the transport according to retry.ts, reusing one
 * Idempotency-Key for every attempt of a write so the server applies it once.
 */
import { KeyledgerApiError } from './errors.js';
import { type EventFeed, type EventStreamOptions, LiveEventFeed } from './event-feed.js';
import { idempotencyKeyFor, ifMatchHeader } from './idempotency.js';
import { backoffDelay, type BackoffPolicy, DEFAULT_BACKOFF, type RetryClass, shouldRetry, sleep } from './retry.js';
import { type HttpMethod, type HttpResponse, type Query, Transport } from './transport.js';
import type {
  AuditCheckpoint,
  AuditPublicKey,
  CallOptions,
  ConsistencyProof,
  CosignatureSubmission,
  InclusionProof,
  EventPage,
  EventsQuery,
  IssuedKey,
  IssueKeyRequest,
  Key,
  KeyHistory,
  KeyList,
  KeyWithEtag,
  ListKeysQuery,
  PatchScopesRequest,
  QuotaResponse,
  RateLimitInfo,
  ReasonRequest,
  ReplaceScopesRequest,
  RotatedKey,
  RotateKeyRequest,
  SetLimitsRequest,
  UsageQuery,
  UsageResponse,
  VerifyRequest,
  VerifyResult,
} from './types.js';
import type { Dispatcher } from 'undici';

export interface ClientOptions {
  /** e.g. http://127.0.0.1:8080 (a path prefix is kept: https://gw.example/keyledger). */
  baseUrl: string;
  /** A keyledger API key with the permissions the calls need. */
  token: string;
  /** Per attempt; default 5000. */
  timeoutMs?: number;
  /** Retries after the first attempt; default 3. */
  retries?: number;
  /** Keep-alive connections in the pool; default 16. */
  connections?: number;
  /** Use this undici dispatcher instead of a private pool (the client then leaves it open on close). */
  dispatcher?: Dispatcher;
  /** Backoff between retries; default 100 ms doubling, capped at 5 s, with jitter. */
  backoff?: BackoffPolicy;
}

export interface KeyledgerClient {
  keys: {
    /** POST /v1/keys. The result carries the plaintext `secret`, shown once. */
    issue(body: IssueKeyRequest, opts?: CallOptions): Promise<IssuedKey>;
    /** GET /v1/keys/{id}: the key plus `etag` (to pass back as `ifMatch`) and the answering instance's `checkpoint`. */
    get(id: string, opts?: CallOptions): Promise<KeyWithEtag>;
    /** GET /v1/keys/{id}?at=: the key as it was at an instant, rebuilt from the ledger. */
    at(id: string, at: Date | string, opts?: CallOptions): Promise<Key>;
    /** GET /v1/keys: one page. */
    list(query?: ListKeysQuery, opts?: CallOptions): Promise<KeyList>;
    /** Every key matching the query, following `nextCursor` page by page. */
    listAll(query?: Omit<ListKeysQuery, 'cursor'>, opts?: CallOptions): AsyncIterable<Key>;
    replaceScopes(id: string, body: ReplaceScopesRequest, opts?: CallOptions): Promise<Key>;
    patchScopes(id: string, body: PatchScopesRequest, opts?: CallOptions): Promise<Key>;
    setLimits(id: string, body: SetLimitsRequest, opts?: CallOptions): Promise<Key>;
    suspend(id: string, body?: ReasonRequest, opts?: CallOptions): Promise<Key>;
    reinstate(id: string, body?: ReasonRequest, opts?: CallOptions): Promise<Key>;
    revoke(id: string, body?: ReasonRequest, opts?: CallOptions): Promise<Key>;
    /** POST /v1/keys/{id}/rotate: the previous key (valid for the grace period) and its successor with its secret. */
    rotate(id: string, body: RotateKeyRequest, opts?: CallOptions): Promise<RotatedKey>;
    history(id: string, opts?: CallOptions): Promise<KeyHistory>;
  };
  /** POST /v1/verify. Always resolves with a decision for a well-formed request; narrow on `valid` / `code`. */
  verify(body: VerifyRequest, opts?: CallOptions): Promise<VerifyResult>;
  quotas: { get(id: string, opts?: CallOptions): Promise<QuotaResponse> };
  usage: { get(id: string, query?: UsageQuery, opts?: CallOptions): Promise<UsageResponse> };
  events: {
    /** GET /v1/events: one page of the ledger after a checkpoint. */
    list(query?: EventsQuery, opts?: CallOptions): Promise<EventPage>;
    /** GET /v1/events/stream, reconnecting and resuming on its own. */
    stream(options?: EventStreamOptions): EventFeed;
  };
  /**
   * The transparency log. Verify what these answer offline with verifyCheckpoint, verifyInclusion,
   * verifyConsistency and leafHashOfPublicView (exported by this package), against a pinned key.
   */
  audit: {
    /** GET /v1/audit/public-key (public): the log's verifier key; pin it out of band. */
    publicKey(opts?: CallOptions): Promise<AuditPublicKey>;
    /** GET /v1/audit/checkpoint: the latest signed checkpoint, or the one of `size`. */
    checkpoint(query?: { size?: number }, opts?: CallOptions): Promise<AuditCheckpoint>;
    /** POST /v1/audit/checkpoint (admin): integrate and sign now. */
    signCheckpoint(opts?: CallOptions): Promise<AuditCheckpoint>;
    /** GET /v1/audit/proofs/inclusion: `event` is an event id or its ledger checkpoint. */
    inclusionProof(query: { event: string; size?: number }, opts?: CallOptions): Promise<InclusionProof>;
    /** GET /v1/audit/proofs/consistency */
    consistencyProof(query: { from: number; to: number }, opts?: CallOptions): Promise<ConsistencyProof>;
    /** POST /v1/audit/cosignatures: a witness hands in its cosignature. */
    submitCosignature(body: CosignatureSubmission, opts?: CallOptions): Promise<AuditCheckpoint>;
  };
  /** Closes the connection pool (and every feed opened by this client). */
  close(): Promise<void>;
}

interface Call {
  method: HttpMethod;
  path: string;
  query?: Query;
  body?: unknown;
  retryClass: RetryClass;
  /** Sends Idempotency-Key (and If-Match when given): the write is safe to repeat. */
  write?: boolean;
  opts?: CallOptions;
}

export function createClient(options: ClientOptions): KeyledgerClient {
  const retries = options.retries ?? 3;
  if (!Number.isInteger(retries) || retries < 0) throw new TypeError('retries must be a non-negative integer');
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const transport = new Transport({
    baseUrl: options.baseUrl,
    token: options.token,
    timeoutMs: options.timeoutMs ?? 5_000,
    connections: options.connections,
    dispatcher: options.dispatcher,
  });
  const feeds = new Set<EventFeed>();

  async function call<T>(spec: Call): Promise<HttpResponse<T>> {
    const opts = spec.opts ?? {};
    const headers: Record<string, string> = {};
    if (spec.write) {
      headers['idempotency-key'] = idempotencyKeyFor(opts.idempotencyKey);
      if (opts.ifMatch !== undefined) headers['if-match'] = ifMatchHeader(opts.ifMatch);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        return await transport.send<T>({
          method: spec.method,
          path: spec.path,
          query: spec.query,
          body: spec.body,
          headers,
          signal: opts.signal,
          timeoutMs: opts.timeoutMs,
        });
      } catch (error) {
        if (opts.signal?.aborted || !shouldRetry(error, spec.retryClass, attempt, retries)) throw error;
        const retryAfterSeconds = error instanceof KeyledgerApiError ? error.retryAfter : undefined;
        await sleep(backoffDelay(attempt, backoff, { retryAfterSeconds }), opts.signal);
      }
    }
  }

  const read = async <T>(path: string, query?: Query, opts?: CallOptions) =>
    (await call<T>({ method: 'GET', path, query, retryClass: 'idempotent', opts })).body;
  const write = async <T>(method: HttpMethod, path: string, body: unknown, opts?: CallOptions) =>
    (await call<T>({ method, path, body, retryClass: 'idempotent', write: true, opts })).body;
  const keyPath = (id: string, suffix = '') => {
    if (typeof id !== 'string' || id === '') throw new TypeError('key id must be a non-empty string');
    return `/v1/keys/${encodeURIComponent(id)}${suffix}`;
  };

  const keys: KeyledgerClient['keys'] = {
    issue: (body, opts) => write<IssuedKey>('POST', '/v1/keys', body, opts),
    async get(id, opts) {
      const response = await call<Key>({ method: 'GET', path: keyPath(id), retryClass: 'idempotent', opts });
      const checkpoint = response.headers['keyledger-checkpoint'];
      return { ...response.body, etag: response.headers.etag ?? `"${response.body.revision}"`, ...(checkpoint ? { checkpoint } : {}) };
    },
    at: (id, at, opts) => read<Key>(keyPath(id), { at: instant(at) }, opts),
    list: (query, opts) => read<KeyList>('/v1/keys', query, opts),
    async *listAll(query, opts) {
      let cursor: string | undefined;
      do {
        const page: KeyList = await read<KeyList>('/v1/keys', { ...query, cursor }, opts);
        yield* page.items;
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
    },
    replaceScopes: (id, body, opts) => write<Key>('PUT', keyPath(id, '/scopes'), body, opts),
    patchScopes: (id, body, opts) => write<Key>('PATCH', keyPath(id, '/scopes'), body, opts),
    setLimits: (id, body, opts) => write<Key>('PUT', keyPath(id, '/limits'), body, opts),
    suspend: (id, body, opts) => write<Key>('POST', keyPath(id, '/suspend'), body ?? {}, opts),
    reinstate: (id, body, opts) => write<Key>('POST', keyPath(id, '/reinstate'), body ?? {}, opts),
    revoke: (id, body, opts) => write<Key>('POST', keyPath(id, '/revoke'), body ?? {}, opts),
    rotate: (id, body, opts) => write<RotatedKey>('POST', keyPath(id, '/rotate'), body, opts),
    history: (id, opts) => read<KeyHistory>(keyPath(id, '/history'), undefined, opts),
  };

  return {
    keys,
    async verify(body, opts) {
      // Each verify may consume rate limit and quota: it carries no Idempotency-Key, so it is
      // repeated only when the request provably never left this process.
      const response = await call<VerifyResult>({ method: 'POST', path: '/v1/verify', body, retryClass: 'charging', opts });
      const rateLimit = rateLimitFrom(response.headers);
      return rateLimit ? { ...response.body, rateLimit } : response.body;
    },
    quotas: { get: (id, opts) => read<QuotaResponse>(keyPath(id, '/quota'), undefined, opts) },
    usage: { get: (id, query, opts) => read<UsageResponse>(keyPath(id, '/usage'), query, opts) },
    events: {
      list: (query, opts) => read<EventPage>('/v1/events', query, opts),
      stream(streamOptions) {
        const feed = new LiveEventFeed(transport, streamOptions);
        feeds.add(feed);
        return feed;
      },
    },
    audit: {
      publicKey: (opts) => read<AuditPublicKey>('/v1/audit/public-key', undefined, opts),
      checkpoint: (query, opts) => read<AuditCheckpoint>('/v1/audit/checkpoint', query, opts),
      // Signing twice is harmless (the second finds nothing new), so it is retried like a read.
      signCheckpoint: async (opts) => (await call<AuditCheckpoint>({ method: 'POST', path: '/v1/audit/checkpoint', retryClass: 'idempotent', opts })).body,
      inclusionProof: (query, opts) => read<InclusionProof>('/v1/audit/proofs/inclusion', query, opts),
      consistencyProof: (query, opts) => read<ConsistencyProof>('/v1/audit/proofs/consistency', query, opts),
      // Storing a cosignature twice stores it once.
      submitCosignature: async (body, opts) =>
        (await call<AuditCheckpoint>({ method: 'POST', path: '/v1/audit/cosignatures', body, retryClass: 'idempotent', opts })).body,
    },
    async close() {
      for (const feed of feeds) feed.close();
      feeds.clear();
      await transport.close();
    },
  };
}

function instant(at: Date | string): string {
  if (at instanceof Date) {
    if (Number.isNaN(at.getTime())) throw new TypeError('at is an invalid Date');
    return at.toISOString();
  }
  return at;
}

/** The RateLimit fields of a verify answer, when the key has limits. */
function rateLimitFrom(headers: Record<string, string | undefined>): RateLimitInfo | undefined {
  const policy = headers['ratelimit-policy'];
  const value = headers.ratelimit;
  if (policy === undefined || value === undefined) return undefined;
  const retryAfter = headers['retry-after'];
  return { policy, value, ...(retryAfter !== undefined && /^\d+$/.test(retryAfter) ? { retryAfter: Number(retryAfter) } : {}) };
}
