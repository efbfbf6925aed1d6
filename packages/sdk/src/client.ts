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
  AddCreditsRequest,
  AggregateHistory,
  CallOptions,
  ClaimedKeyRequest,
  Consumer,
  ConsumerKeysQuery,
  ConsumerList,
  CreatedKeyRequest,
  CreateKeyRequestBody,
  DecisionRequest,
  DefinePlanRequest,
  KeyRequest,
  KeyRequestList,
  ListConsumersQuery,
  ListKeyRequestsQuery,
  ListPlansQuery,
  Plan,
  PlanList,
  RecordCheckRequest,
  RegisterConsumerRequest,
  RevisePlanRequest,
  UsageReport,
  AuditCheckpoint,
  AuditPublicKey,
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
  CreatedWebhookEndpoint,
  CreateWebhookRequest,
  LeakReportRequest,
  LeakReportResult,
  WebhookDeliveryList,
  WebhookEndpoint,
  WebhookEndpointList,
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
    /** POST /v1/keys/{id}/credits: a top-up of prepaid credits for a key on a plan with credits. */
    addCredits(id: string, body: AddCreditsRequest, opts?: CallOptions): Promise<Key>;
  };
  consumers: {
    /** POST /v1/consumers: registered as `pending`. */
    register(body: RegisterConsumerRequest, opts?: CallOptions): Promise<Consumer>;
    get(id: string, opts?: CallOptions): Promise<Consumer>;
    /** GET /v1/consumers/{id}?at=: the consumer as it was at an instant. */
    at(id: string, at: Date | string, opts?: CallOptions): Promise<Consumer>;
    list(query?: ListConsumersQuery, opts?: CallOptions): Promise<ConsumerList>;
    /** POST /v1/consumers/{id}/checks: records a vetting check and its evidence. */
    recordCheck(id: string, body: RecordCheckRequest, opts?: CallOptions): Promise<Consumer>;
    approve(id: string, body?: DecisionRequest, opts?: CallOptions): Promise<Consumer>;
    reject(id: string, body?: DecisionRequest, opts?: CallOptions): Promise<Consumer>;
    /** Every key of the consumer verifies SUSPENDED until it is reinstated. */
    suspend(id: string, body?: DecisionRequest, opts?: CallOptions): Promise<Consumer>;
    reinstate(id: string, body?: DecisionRequest, opts?: CallOptions): Promise<Consumer>;
    /** Final: every key of the consumer is revoked. */
    close(id: string, body?: DecisionRequest, opts?: CallOptions): Promise<Consumer>;
    history(id: string, opts?: CallOptions): Promise<AggregateHistory>;
    keys(id: string, query?: ConsumerKeysQuery, opts?: CallOptions): Promise<KeyList>;
    /** POST /v1/consumers/{id}/key-requests: the answer carries the one-time `claimToken`. */
    requestKey(id: string, body: CreateKeyRequestBody, opts?: CallOptions): Promise<CreatedKeyRequest>;
    /** GET /v1/consumers/{id}/usage?period=YYYY-MM. */
    usage(id: string, period: string, opts?: CallOptions): Promise<UsageReport>;
    /** The same report as CSV (format=csv). */
    usageCsv(id: string, period: string, opts?: CallOptions): Promise<string>;
  };
  plans: {
    define(body: DefinePlanRequest, opts?: CallOptions): Promise<Plan>;
    get(id: string, opts?: CallOptions): Promise<Plan>;
    /** The version in force at an instant. */
    at(id: string, at: Date | string, opts?: CallOptions): Promise<Plan>;
    list(query?: ListPlansQuery, opts?: CallOptions): Promise<PlanList>;
    /** A new numbered version, in force at once for every key on the plan. */
    revise(id: string, body: RevisePlanRequest, opts?: CallOptions): Promise<Plan>;
    retire(id: string, body?: DecisionRequest, opts?: CallOptions): Promise<Plan>;
    history(id: string, opts?: CallOptions): Promise<AggregateHistory>;
    usage(id: string, period: string, opts?: CallOptions): Promise<UsageReport>;
    usageCsv(id: string, period: string, opts?: CallOptions): Promise<string>;
  };
  keyRequests: {
    get(id: string, opts?: CallOptions): Promise<KeyRequest>;
    list(query?: ListKeyRequestsQuery, opts?: CallOptions): Promise<KeyRequestList>;
    approve(id: string, body?: DecisionRequest, opts?: CallOptions): Promise<KeyRequest>;
    reject(id: string, body?: DecisionRequest, opts?: CallOptions): Promise<KeyRequest>;
    /** Collects the key's secret, once (a second claim is a 410 KeyledgerApiError). */
    claim(id: string, claimToken: string, opts?: CallOptions): Promise<ClaimedKeyRequest>;
    history(id: string, opts?: CallOptions): Promise<AggregateHistory>;
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
  webhooks: {
    /** POST /v1/webhooks. The result carries the signing `secret` (whsec_…), shown once. */
    create(body: CreateWebhookRequest, opts?: CallOptions): Promise<CreatedWebhookEndpoint>;
    list(opts?: CallOptions): Promise<WebhookEndpointList>;
    get(id: string, opts?: CallOptions): Promise<WebhookEndpoint>;
    delete(id: string, opts?: CallOptions): Promise<WebhookEndpoint>;
    enable(id: string, opts?: CallOptions): Promise<WebhookEndpoint>;
    disable(id: string, opts?: CallOptions): Promise<WebhookEndpoint>;
    /** Deliver again every matching event after `from` (a checkpoint; '' = from the start). */
    replay(id: string, from: string, opts?: CallOptions): Promise<WebhookEndpoint>;
    deliveries(id: string, query?: { limit?: number }, opts?: CallOptions): Promise<WebhookDeliveryList>;
  };
  leaks: {
    /** POST /v1/leaks: report a key found somewhere public (needs leaks:write). */
    report(body: LeakReportRequest, opts?: CallOptions): Promise<LeakReportResult>;
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
  accept?: string;
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
          ...(spec.accept ? { accept: spec.accept } : {}),
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

  const pathOf = (kind: string, id: string, suffix = '') => {
    if (typeof id !== 'string' || id === '') throw new TypeError(`${kind} id must be a non-empty string`);
    return `/v1/${kind}s/${encodeURIComponent(id)}${suffix}`;
  };
  const consumerPath = (id: string, suffix?: string) => pathOf('consumer', id, suffix);
  const planPath = (id: string, suffix?: string) => pathOf('plan', id, suffix);
  const requestPath = (id: string, suffix?: string) => pathOf('key-request', id, suffix);
  const csv = async (path: string, period: string, opts?: CallOptions) =>
    (await call<string>({ method: 'GET', path, query: { period, format: 'csv' }, retryClass: 'idempotent', accept: 'text/csv, application/problem+json', opts })).body;

  const consumers: KeyledgerClient['consumers'] = {
    register: (body, opts) => write<Consumer>('POST', '/v1/consumers', body, opts),
    get: (id, opts) => read<Consumer>(consumerPath(id), undefined, opts),
    at: (id, at, opts) => read<Consumer>(consumerPath(id), { at: instant(at) }, opts),
    list: (query, opts) => read<ConsumerList>('/v1/consumers', query, opts),
    recordCheck: (id, body, opts) => write<Consumer>('POST', consumerPath(id, '/checks'), body, opts),
    approve: (id, body, opts) => write<Consumer>('POST', consumerPath(id, '/approve'), body ?? {}, opts),
    reject: (id, body, opts) => write<Consumer>('POST', consumerPath(id, '/reject'), body ?? {}, opts),
    suspend: (id, body, opts) => write<Consumer>('POST', consumerPath(id, '/suspend'), body ?? {}, opts),
    reinstate: (id, body, opts) => write<Consumer>('POST', consumerPath(id, '/reinstate'), body ?? {}, opts),
    close: (id, body, opts) => write<Consumer>('POST', consumerPath(id, '/close'), body ?? {}, opts),
    history: (id, opts) => read<AggregateHistory>(consumerPath(id, '/history'), undefined, opts),
    keys: (id, query, opts) => read<KeyList>(consumerPath(id, '/keys'), query, opts),
    requestKey: (id, body, opts) => write<CreatedKeyRequest>('POST', consumerPath(id, '/key-requests'), body, opts),
    usage: (id, period, opts) => read<UsageReport>(consumerPath(id, '/usage'), { period }, opts),
    usageCsv: (id, period, opts) => csv(consumerPath(id, '/usage'), period, opts),
  };

  const plans: KeyledgerClient['plans'] = {
    define: (body, opts) => write<Plan>('POST', '/v1/plans', body, opts),
    get: (id, opts) => read<Plan>(planPath(id), undefined, opts),
    at: (id, at, opts) => read<Plan>(planPath(id), { at: instant(at) }, opts),
    list: (query, opts) => read<PlanList>('/v1/plans', query, opts),
    revise: (id, body, opts) => write<Plan>('POST', planPath(id, '/revise'), body, opts),
    retire: (id, body, opts) => write<Plan>('POST', planPath(id, '/retire'), body ?? {}, opts),
    history: (id, opts) => read<AggregateHistory>(planPath(id, '/history'), undefined, opts),
    usage: (id, period, opts) => read<UsageReport>(planPath(id, '/usage'), { period }, opts),
    usageCsv: (id, period, opts) => csv(planPath(id, '/usage'), period, opts),
  };

  const keyRequests: KeyledgerClient['keyRequests'] = {
    get: (id, opts) => read<KeyRequest>(requestPath(id), undefined, opts),
    list: (query, opts) => read<KeyRequestList>('/v1/key-requests', query, opts),
    approve: (id, body, opts) => write<KeyRequest>('POST', requestPath(id, '/approve'), body ?? {}, opts),
    reject: (id, body, opts) => write<KeyRequest>('POST', requestPath(id, '/reject'), body ?? {}, opts),
    claim: (id, claimToken, opts) => write<ClaimedKeyRequest>('POST', requestPath(id, '/claim'), { claimToken }, opts),
    history: (id, opts) => read<AggregateHistory>(requestPath(id, '/history'), undefined, opts),
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
    addCredits: (id, body, opts) => write<Key>('POST', keyPath(id, '/credits'), body, opts),
  };

  const webhookPath = (id: string, suffix = '') => {
    if (typeof id !== 'string' || id === '') throw new TypeError('webhook id must be a non-empty string');
    return `/v1/webhooks/${encodeURIComponent(id)}${suffix}`;
  };
  const webhooks: KeyledgerClient['webhooks'] = {
    create: (body, opts) => write<CreatedWebhookEndpoint>('POST', '/v1/webhooks', body, opts),
    list: (opts) => read<WebhookEndpointList>('/v1/webhooks', undefined, opts),
    get: (id, opts) => read<WebhookEndpoint>(webhookPath(id), undefined, opts),
    delete: (id, opts) => write<WebhookEndpoint>('DELETE', webhookPath(id), undefined, opts),
    enable: (id, opts) => write<WebhookEndpoint>('POST', webhookPath(id, '/enable'), undefined, opts),
    disable: (id, opts) => write<WebhookEndpoint>('POST', webhookPath(id, '/disable'), undefined, opts),
    replay: (id, from, opts) => write<WebhookEndpoint>('POST', webhookPath(id, '/replay'), { from }, opts),
    deliveries: (id, query, opts) => read<WebhookDeliveryList>(webhookPath(id, '/deliveries'), query, opts),
  };

  return {
    keys,
    consumers,
    plans,
    keyRequests,
    webhooks,
    // A report acts once by itself (the report id derives from key and location): safe to repeat.
    leaks: { report: (body, opts) => write<LeakReportResult>('POST', '/v1/leaks', body, opts) },
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
