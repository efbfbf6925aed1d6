/**
 * Service configuration, read once from the environment and validated, so a bad setting stops
 * the start with a message that names it instead of failing later on a request.
 */
import { hostname } from 'node:os';
import { z } from 'zod';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** `NAME=` (set but empty, as compose files and shell scripts often leave it) means unset. */
const optional = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

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
  KEYLEDGER_READY_MAX_LAG_SECONDS: z.coerce.number().positive().default(30),
  KEYLEDGER_SNAPSHOT_INTERVAL_SECONDS: z.coerce.number().min(0).default(300),
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
  /** /readyz fails while the projections are further behind the log than this. */
  readyMaxLagSeconds: number;
  /** How often projections are snapshotted (when the log moved); 0 only at shutdown. */
  snapshotIntervalMs: number;
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
    readyMaxLagSeconds: e.KEYLEDGER_READY_MAX_LAG_SECONDS,
    snapshotIntervalMs: Math.round(e.KEYLEDGER_SNAPSHOT_INTERVAL_SECONDS * 1000),
  };
}
