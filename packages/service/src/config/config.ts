/**
 * Service configuration, read once from the environment and validated, so a bad setting stops
 * the start with a message that names it instead of failing later on a request.
 */
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { EndpointRule, Scope } from '@keyledger/schemas';
import { z } from 'zod';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** `NAME=` (set but empty, as compose files and shell scripts often leave it) means unset. */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

/** Where /v1/forward-auth finds the consumer's key in the original request, tried in order. */
export type KeySource = { from: 'bearer' } | { from: 'header'; name: string } | { from: 'query'; name: string };

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const QUERY_NAME = /^[A-Za-z0-9._~-]+$/;

const KeySources = z
  .string()
  .transform((text, ctx): KeySource[] => {
    const sources: KeySource[] = [];
    for (const item of text.split(',').map((part) => part.trim()).filter(Boolean)) {
      const colon = item.indexOf(':');
      const kind = colon === -1 ? item : item.slice(0, colon);
      const name = colon === -1 ? '' : item.slice(colon + 1);
      if (kind === 'bearer' && colon === -1) sources.push({ from: 'bearer' });
      else if (kind === 'header' && HEADER_NAME.test(name)) sources.push({ from: 'header', name: name.toLowerCase() });
      else if (kind === 'query' && QUERY_NAME.test(name)) sources.push({ from: 'query', name });
      else ctx.addIssue({ code: 'custom', message: `'${item}' is not bearer, header:<name> or query:<name>` });
    }
    if (sources.length === 0) ctx.addIssue({ code: 'custom', message: 'name at least one of bearer, header:<name>, query:<name>' });
    return sources;
  });

/** Comma-separated addresses or CIDR ranges, e.g. `127.0.0.1,10.0.0.0/8,::1`. */
const AddressRanges = z.string().transform((text, ctx) => {
  const ranges = text.split(',').map((part) => part.trim()).filter(Boolean);
  for (const range of ranges) {
    const [address = '', bits, ...rest] = range.split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    const validBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max);
    if (family === 0 || !validBits || rest.length > 0) ctx.addIssue({ code: 'custom', message: `'${range}' is not an IP address or CIDR range` });
  }
  return ranges;
});

/** JSON object from endpoint rule to the scopes a request matching it needs. */
const ScopeMap = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object, e.g. {"GET /orders/*":["orders:read"]}' });
      return z.NEVER;
    }
  })
  .pipe(z.record(EndpointRule, z.array(Scope).min(1).max(50)))
  .transform((map) => Object.entries(map).map(([rule, scopes]) => ({ rule, scopes })));

const Env = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  KEYLEDGER_DATA_DIR: z.string().min(1).default('./data'),
  KEYLEDGER_DATABASE_URL: optional(z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')),
  KEYLEDGER_DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase SQL identifier')
    .default('public'),
  KEYLEDGER_REDIS_URL: optional(z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')),
  KEYLEDGER_REDIS_PREFIX: z.string().min(1).max(64).default('kl:'),
  KEYLEDGER_ROOT_KEY: optional(z.string()),
  KEYLEDGER_SECRET: optional(z.string().min(32, 'must be at least 32 characters')),
  KEYLEDGER_MAX_GRACE_PERIOD_SECONDS: z.coerce.number().int().min(0).default(30 * 24 * 3600),
  KEYLEDGER_KEY_PREFIX_LIVE: z.string().regex(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/, 'must be lowercase letters/digits joined by _').default('kl_live'),
  KEYLEDGER_KEY_PREFIX_TEST: z.string().regex(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/, 'must be lowercase letters/digits joined by _').default('kl_test'),
  KEYLEDGER_BODY_LIMIT_BYTES: positiveInt(64 * 1024),
  KEYLEDGER_LIMITER_FAILURE_MODE: z.enum(['closed', 'open']).default('closed'),
  KEYLEDGER_REDIS_TIMEOUT_MS: positiveInt(50),
  KEYLEDGER_USAGE_FLUSH_SECONDS: z.coerce.number().positive().default(10),
  KEYLEDGER_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  KEYLEDGER_SQLITE_SYNCHRONOUS: z.enum(['FULL', 'NORMAL']).default('FULL'),
  KEYLEDGER_INSTANCE_ID: z.string().min(1).max(100).optional(),
  KEYLEDGER_SHUTDOWN_TIMEOUT_MS: positiveInt(10_000),
  KEYLEDGER_AUTH_FAILURE_BURST: positiveInt(20),
  KEYLEDGER_AUTH_FAILURES_PER_MINUTE: positiveInt(10),
  KEYLEDGER_FORWARD_AUTH_KEY_FROM: KeySources.prefault('bearer,header:x-api-key'),
  KEYLEDGER_FORWARD_AUTH_SCOPES: ScopeMap.prefault('{}'),
  KEYLEDGER_TRUSTED_PROXIES: AddressRanges.prefault('127.0.0.0/8,::1'),
  KEYLEDGER_COMMAND_APPLY_TIMEOUT_MS: positiveInt(5_000),
  KEYLEDGER_IDEMPOTENT_SECRET_WINDOW_SECONDS: z.coerce.number().int().min(0).default(24 * 3600),
  KEYLEDGER_HEADERS_TIMEOUT_MS: positiveInt(10_000),
  KEYLEDGER_REQUEST_TIMEOUT_MS: positiveInt(30_000),
  // Longer than the 60 s idle timeout of common load balancers: the proxy, not we, closes a pooled connection.
  KEYLEDGER_KEEP_ALIVE_TIMEOUT_MS: positiveInt(72_000),
  // Above the keep-alive timeout, which governs idle connections between requests.
  KEYLEDGER_CONNECTION_TIMEOUT_MS: positiveInt(120_000),
  KEYLEDGER_MAX_CONNECTIONS: positiveInt(2048),
  KEYLEDGER_SSE_MAX_STREAMS: positiveInt(256),
  KEYLEDGER_SSE_MAX_STREAMS_PER_CREDENTIAL: positiveInt(8),
  KEYLEDGER_SSE_STALL_TIMEOUT_MS: positiveInt(30_000),
  KEYLEDGER_METRICS_TOKEN: optional(z.string().min(32, 'must be at least 32 characters')),
  KEYLEDGER_METRICS_LISTEN: optional(
    z
      .string()
      .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port, e.g. 127.0.0.1:9464')
      .refine((value) => Number(value.slice(value.lastIndexOf(':') + 1)) <= 65535, 'port must be 0-65535'),
  ),
  KEYLEDGER_READY_MAX_LAG_SECONDS: z.coerce.number().positive().default(30),
  KEYLEDGER_SNAPSHOT_INTERVAL_SECONDS: z.coerce.number().min(0).default(300),
  KEYLEDGER_UNREGISTERED_CONSUMERS: z.enum(['allow', 'refuse']).default('allow'),
  KEYLEDGER_CONSUMER_REQUIRED_CHECKS: z
    .string()
    .default('')
    .transform((text) => text.split(',').map((part) => part.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'check names are lower_snake_case, e.g. email_verified'))),
  KEYLEDGER_WEBHOOK_ALLOW_PRIVATE: z.enum(['true', 'false']).default('false'),
  KEYLEDGER_WEBHOOK_TIMEOUT_MS: positiveInt(10_000),
  KEYLEDGER_WEBHOOK_LEASE_MS: positiveInt(30_000),
  KEYLEDGER_WEBHOOK_POLL_MS: positiveInt(1000),
  KEYLEDGER_WEBHOOK_RETRY_BASE_MS: positiveInt(1000),
  KEYLEDGER_WEBHOOK_RETRY_MAX_MS: positiveInt(10 * 60_000),
  KEYLEDGER_WEBHOOK_DISABLE_AFTER_SECONDS: z.coerce.number().positive().default(3 * 86_400),
  KEYLEDGER_ALERT_THRESHOLDS: z
    .string()
    .default('75,90,100')
    .transform((text, ctx) => {
      const values = text.split(',').map((part) => part.trim()).filter(Boolean).map(Number);
      if (values.length === 0 || values.some((value) => !Number.isInteger(value) || value < 1 || value > 1000)) {
        ctx.addIssue({ code: 'custom', message: 'must be comma-separated whole percentages between 1 and 1000, e.g. 75,90,100' });
        return z.NEVER;
      }
      return [...new Set(values)].sort((a, b) => a - b);
    }),
  KEYLEDGER_ALERT_INTERVAL_SECONDS: z.coerce.number().positive().default(30),
  KEYLEDGER_ALERT_KEY_EXPIRING_DAYS: z.coerce.number().positive().default(7),
  KEYLEDGER_ALERT_GRACE_ENDING_HOURS: z.coerce.number().positive().default(24),
  KEYLEDGER_ALERT_APPROVAL_OVERDUE_HOURS: z.coerce.number().positive().default(24),
  KEYLEDGER_USAGE_EXPORT_WINDOW_SECONDS: z.coerce.number().int().min(0).max(86_400).default(0),
  KEYLEDGER_USAGE_EXPORT_DELAY_SECONDS: optional(z.coerce.number().min(0)),
  KEYLEDGER_LEAK_ACTION: z.enum(['notify', 'suspend', 'revoke']).default('suspend'),
  KEYLEDGER_GITHUB_SCANNING_KEYS_FILE: optional(z.string().min(1)),
  KEYLEDGER_AUDIT_SIGNING_KEY: optional(z.string().regex(/^PRIVATE\+KEY\+[^+\s]+\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+\s*$/, 'must be a PRIVATE+KEY+<origin>+<id>+<base64> note signer key')),
  KEYLEDGER_AUDIT_ORIGIN: optional(z.string().max(200).regex(/^[^\s+]+$/, 'must hold no spaces and no +')),
  KEYLEDGER_AUDIT_CHECKPOINT_INTERVAL_MS: positiveInt(500),
  KEYLEDGER_AUDIT_WITNESSES: optional(z.string().transform((text) => text.split(',').map((part) => part.trim()).filter(Boolean))),
});

export interface Config {
  port: number;
  host: string;
  dataDir: string;
  database: { kind: 'sqlite'; file: string; synchronous: 'FULL' | 'NORMAL' } | { kind: 'postgres'; url: string; schema: string };
  redisUrl: string | undefined;
  redisPrefix: string;
  rootKey: string | undefined;
  serverSecret: string | undefined;
  maxGracePeriodSeconds: number;
  keyPrefixes: { live: string; test: string };
  bodyLimitBytes: number;
  limiterFailureMode: 'closed' | 'open';
  redisTimeoutMs: number;
  usageFlushMs: number;
  logLevel: string;
  instanceId: string;
  shutdownTimeoutMs: number;
  /** Failed management authentications per source address: a burst, then this many a minute. */
  authFailures: { burst: number; perMinute: number };
  /** /v1/forward-auth, the endpoint nginx auth_request, Caddy forward_auth and their kin call. */
  forwardAuth: ForwardAuthConfig;
  /** A command waits this long for this instance to apply its events, then answers 503 (written, not yet applied). */
  commandApplyTimeoutMs: number;
  /** An idempotent replay of issue / rotate shows the plaintext only this long after the original. */
  idempotentSecretWindowSeconds: number;
  /** HTTP server bounds: how long a client may take to send headers / the whole request, idle keep-alive, socket inactivity. */
  http: { headersTimeoutMs: number; requestTimeoutMs: number; keepAliveTimeoutMs: number; connectionTimeoutMs: number; maxConnections: number };
  /** Live feed bounds: open streams in all and per credential; how long a reader may leave written frames unread. */
  eventStream: { maxStreams: number; maxStreamsPerCredential: number; stallTimeoutMs: number };
  /** /metrics: a static bearer token accepted besides `metrics:read` keys; or a separate unauthenticated listener. */
  metrics: { token: string | undefined; listen: { host: string; port: number } | undefined };
  /** /readyz fails while the projections are further behind the log than this. */
  readyMaxLagSeconds: number;
  /**
   * Consumers: whether a consumer key may name a consumer id nobody registered (keys from before
   * consumers existed; `refuse` makes registration and approval mandatory), and the vetting checks
   * that must have passed before a consumer can be approved.
   */
  consumers: { unregistered: 'allow' | 'refuse'; requiredChecks: string[] };
  /** How often projections are snapshotted (when the log moved); 0 only at shutdown. */
  snapshotIntervalMs: number;
  /** Webhook delivery: private targets, timeouts, lease, retries, when a failing endpoint is disabled. */
  webhooks: {
    allowPrivate: boolean;
    timeoutMs: number;
    leaseTtlMs: number;
    pollMs: number;
    retryBaseMs: number;
    retryMaxMs: number;
    disableAfterMs: number;
  };
  /** Derived alerts: threshold percentages and time limits; closed usage windows (0 = off). */
  alerts: {
    thresholds: number[];
    intervalMs: number;
    expiringWithinDays: number;
    graceEndingWithinHours: number;
    approvalOverdueHours: number;
    usageWindowSeconds: number;
    usageCloseDelayMs: number;
  };
  /** Leaked-key reports: the action on a live key, and GitHub's public keys. */
  leaks: { action: 'notify' | 'suspend' | 'revoke'; githubKeysFile: string | undefined };
  /** The transparency log (audit/): its signing key (else a file in the data directory), origin, signing cadence, accepted witnesses. */
  audit: { signingKey: string | undefined; keyFile: string; origin: string | undefined; checkpointIntervalMs: number; witnesses: string[] };
}

export interface ForwardAuthConfig {
  keyFrom: KeySource[];
  /** Every rule the original request matches adds its scopes to those the key must hold. */
  scopes: { rule: string; scopes: string[] }[];
  /** Peers whose forwarding headers (X-Original-*, X-Forwarded-*) are believed. */
  trustedProxies: string[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment; throws ConfigError listing every bad setting by name. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (e.KEYLEDGER_KEY_PREFIX_LIVE === e.KEYLEDGER_KEY_PREFIX_TEST) {
    throw new ConfigError('invalid configuration:\n  KEYLEDGER_KEY_PREFIX_TEST: must differ from KEYLEDGER_KEY_PREFIX_LIVE');
  }
  if (e.KEYLEDGER_HEADERS_TIMEOUT_MS > e.KEYLEDGER_REQUEST_TIMEOUT_MS) {
    // Node refuses the server otherwise: the headers are part of the request.
    throw new ConfigError('invalid configuration:\n  KEYLEDGER_HEADERS_TIMEOUT_MS: must not exceed KEYLEDGER_REQUEST_TIMEOUT_MS');
  }
  return {
    port: e.PORT,
    host: e.HOST,
    dataDir: e.KEYLEDGER_DATA_DIR,
    database: e.KEYLEDGER_DATABASE_URL
      ? { kind: 'postgres', url: e.KEYLEDGER_DATABASE_URL, schema: e.KEYLEDGER_DATABASE_SCHEMA }
      : { kind: 'sqlite', file: `${e.KEYLEDGER_DATA_DIR}/keyledger.db`, synchronous: e.KEYLEDGER_SQLITE_SYNCHRONOUS },
    redisUrl: e.KEYLEDGER_REDIS_URL,
    redisPrefix: e.KEYLEDGER_REDIS_PREFIX,
    rootKey: e.KEYLEDGER_ROOT_KEY,
    serverSecret: e.KEYLEDGER_SECRET,
    maxGracePeriodSeconds: e.KEYLEDGER_MAX_GRACE_PERIOD_SECONDS,
    keyPrefixes: { live: e.KEYLEDGER_KEY_PREFIX_LIVE, test: e.KEYLEDGER_KEY_PREFIX_TEST },
    bodyLimitBytes: e.KEYLEDGER_BODY_LIMIT_BYTES,
    limiterFailureMode: e.KEYLEDGER_LIMITER_FAILURE_MODE,
    redisTimeoutMs: e.KEYLEDGER_REDIS_TIMEOUT_MS,
    usageFlushMs: Math.round(e.KEYLEDGER_USAGE_FLUSH_SECONDS * 1000),
    logLevel: e.KEYLEDGER_LOG_LEVEL,
    instanceId: e.KEYLEDGER_INSTANCE_ID ?? `${hostname()}-${process.pid}`,
    shutdownTimeoutMs: e.KEYLEDGER_SHUTDOWN_TIMEOUT_MS,
    authFailures: { burst: e.KEYLEDGER_AUTH_FAILURE_BURST, perMinute: e.KEYLEDGER_AUTH_FAILURES_PER_MINUTE },
    forwardAuth: {
      keyFrom: e.KEYLEDGER_FORWARD_AUTH_KEY_FROM,
      scopes: e.KEYLEDGER_FORWARD_AUTH_SCOPES,
      trustedProxies: e.KEYLEDGER_TRUSTED_PROXIES,
    },
    commandApplyTimeoutMs: e.KEYLEDGER_COMMAND_APPLY_TIMEOUT_MS,
    idempotentSecretWindowSeconds: e.KEYLEDGER_IDEMPOTENT_SECRET_WINDOW_SECONDS,
    consumers: { unregistered: e.KEYLEDGER_UNREGISTERED_CONSUMERS, requiredChecks: e.KEYLEDGER_CONSUMER_REQUIRED_CHECKS },
    http: {
      headersTimeoutMs: e.KEYLEDGER_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: e.KEYLEDGER_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: e.KEYLEDGER_KEEP_ALIVE_TIMEOUT_MS,
      connectionTimeoutMs: e.KEYLEDGER_CONNECTION_TIMEOUT_MS,
      maxConnections: e.KEYLEDGER_MAX_CONNECTIONS,
    },
    eventStream: {
      maxStreams: e.KEYLEDGER_SSE_MAX_STREAMS,
      maxStreamsPerCredential: e.KEYLEDGER_SSE_MAX_STREAMS_PER_CREDENTIAL,
      stallTimeoutMs: e.KEYLEDGER_SSE_STALL_TIMEOUT_MS,
    },
    metrics: { token: e.KEYLEDGER_METRICS_TOKEN, listen: e.KEYLEDGER_METRICS_LISTEN ? parseHostPort(e.KEYLEDGER_METRICS_LISTEN) : undefined },
    readyMaxLagSeconds: e.KEYLEDGER_READY_MAX_LAG_SECONDS,
    snapshotIntervalMs: Math.round(e.KEYLEDGER_SNAPSHOT_INTERVAL_SECONDS * 1000),
    webhooks: {
      allowPrivate: e.KEYLEDGER_WEBHOOK_ALLOW_PRIVATE === 'true',
      timeoutMs: e.KEYLEDGER_WEBHOOK_TIMEOUT_MS,
      // The lease outlives one attempt, so a slow receiver never makes two instances deliver at once.
      leaseTtlMs: Math.max(e.KEYLEDGER_WEBHOOK_LEASE_MS, e.KEYLEDGER_WEBHOOK_TIMEOUT_MS + 1000),
      pollMs: e.KEYLEDGER_WEBHOOK_POLL_MS,
      retryBaseMs: e.KEYLEDGER_WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: Math.max(e.KEYLEDGER_WEBHOOK_RETRY_MAX_MS, e.KEYLEDGER_WEBHOOK_RETRY_BASE_MS),
      disableAfterMs: Math.round(e.KEYLEDGER_WEBHOOK_DISABLE_AFTER_SECONDS * 1000),
    },
    alerts: {
      thresholds: e.KEYLEDGER_ALERT_THRESHOLDS,
      intervalMs: Math.round(e.KEYLEDGER_ALERT_INTERVAL_SECONDS * 1000),
      expiringWithinDays: e.KEYLEDGER_ALERT_KEY_EXPIRING_DAYS,
      graceEndingWithinHours: e.KEYLEDGER_ALERT_GRACE_ENDING_HOURS,
      approvalOverdueHours: e.KEYLEDGER_ALERT_APPROVAL_OVERDUE_HOURS,
      usageWindowSeconds: e.KEYLEDGER_USAGE_EXPORT_WINDOW_SECONDS,
      // Default: two usage flushes and a margin, so every instance's counts for the window are in.
      usageCloseDelayMs: Math.round((e.KEYLEDGER_USAGE_EXPORT_DELAY_SECONDS ?? e.KEYLEDGER_USAGE_FLUSH_SECONDS * 2 + 5) * 1000),
    },
    leaks: { action: e.KEYLEDGER_LEAK_ACTION, githubKeysFile: e.KEYLEDGER_GITHUB_SCANNING_KEYS_FILE },
    audit: {
      signingKey: e.KEYLEDGER_AUDIT_SIGNING_KEY,
      keyFile: `${e.KEYLEDGER_DATA_DIR}/audit-signing-key`,
      origin: e.KEYLEDGER_AUDIT_ORIGIN,
      checkpointIntervalMs: e.KEYLEDGER_AUDIT_CHECKPOINT_INTERVAL_MS,
      witnesses: e.KEYLEDGER_AUDIT_WITNESSES ?? [],
    },
  };
}

function parseHostPort(value: string): { host: string; port: number } {
  const colon = value.lastIndexOf(':');
  const host = value.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(value.slice(colon + 1)) };
}
