/** Configuration is validated at start; a bad setting is named, and the CLI exits 2 on it. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVICE_ENTRY } from '../../../../test/support/service-process.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('defaults: SQLite in ./data on port 8080', () => {
    const config = loadConfig({});
    expect(config.port).toBe(8080);
    expect(config.database).toEqual({ kind: 'sqlite', file: './data/keyledger.db', synchronous: 'FULL' });
    expect(config.keyPrefixes).toEqual({ live: 'kl_live', test: 'kl_test' });
    expect(config.maxGracePeriodSeconds).toBe(30 * 24 * 3600);
  });

  it('a PostgreSQL URL switches the backend', () => {
    const config = loadConfig({ KEYLEDGER_DATABASE_URL: 'postgres://u@h:5432/db', KEYLEDGER_DATABASE_SCHEMA: 'kl_one' });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://u@h:5432/db', schema: 'kl_one' });
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['KEYLEDGER_DATABASE_URL', 'mysql://u@h/db'],
    ['KEYLEDGER_DATABASE_URL', 'not a url'],
    ['KEYLEDGER_REDIS_URL', 'http://localhost:6379'],
    ['KEYLEDGER_DATABASE_SCHEMA', 'Robert"; drop table'],
    ['KEYLEDGER_KEY_PREFIX_LIVE', 'KL-LIVE'],
    ['KEYLEDGER_KEY_PREFIX_LIVE', 'kl__live'],
    ['KEYLEDGER_KEY_PREFIX_TEST', '9kl'],
    ['KEYLEDGER_KEY_PREFIX_TEST', 'kl_live'],
    ['KEYLEDGER_BODY_LIMIT_BYTES', '0'],
    ['KEYLEDGER_MAX_GRACE_PERIOD_SECONDS', 'a month'],
    ['KEYLEDGER_LOG_LEVEL', 'loud'],
    ['KEYLEDGER_SECRET', 'short'],
    ['KEYLEDGER_REQUEST_TIMEOUT_MS', '0'],
    ['KEYLEDGER_HEADERS_TIMEOUT_MS', '40000'],
    ['KEYLEDGER_MAX_CONNECTIONS', 'many'],
    ['KEYLEDGER_SSE_MAX_STREAMS', '-1'],
    ['KEYLEDGER_SSE_MAX_STREAMS_PER_CREDENTIAL', '0'],
    ['KEYLEDGER_SSE_STALL_TIMEOUT_MS', '1.5'],
    ['KEYLEDGER_METRICS_TOKEN', 'too-short'],
    ['KEYLEDGER_METRICS_LISTEN', '9464'],
  ])('%s=%j is a ConfigError naming the setting', (name, value) => {
    const error = configError({ [name]: value });
    expect(error.message).toContain(name);
  });

  it('HTTP and event stream bounds have finite defaults', () => {
    const config = loadConfig({});
    expect(config.http).toEqual({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 72_000, connectionTimeoutMs: 120_000, maxConnections: 2048 });
    expect(config.eventStream).toEqual({ maxStreams: 256, maxStreamsPerCredential: 8, stallTimeoutMs: 30_000 });
    expect(config.metrics).toEqual({ token: undefined, listen: undefined });
    expect(loadConfig({ KEYLEDGER_METRICS_LISTEN: '127.0.0.1:9464' }).metrics.listen).toEqual({ host: '127.0.0.1', port: 9464 });
  });

  it('a setting left empty (NAME=) counts as unset', () => {
    const config = loadConfig({ KEYLEDGER_ROOT_KEY: '', KEYLEDGER_DATABASE_URL: '', KEYLEDGER_REDIS_URL: '', KEYLEDGER_SECRET: '' });
    expect(config.rootKey).toBeUndefined();
    expect(config.serverSecret).toBeUndefined();
    expect(config.redisUrl).toBeUndefined();
    expect(config.database.kind).toBe('sqlite');
  });

  it('lists every bad setting at once', () => {
    const error = configError({ PORT: 'x', KEYLEDGER_LOG_LEVEL: 'loud' });
    expect(error.message).toContain('PORT');
    expect(error.message).toContain('KEYLEDGER_LOG_LEVEL');
  });

  it('never echoes a secret setting in its message', () => {
    const error = configError({ KEYLEDGER_SECRET: 'hunter2-not-long-enough' });
    expect(error.message).not.toContain('hunter2');
  });
});

describe.skipIf(!existsSync(SERVICE_ENTRY))(`keyledger serve with a bad environment${existsSync(SERVICE_ENTRY) ? '' : ' (SKIPPED: run pnpm build first)'}`, () => {
  it.each([
    ['PORT', 'eighty'],
    ['KEYLEDGER_DATABASE_URL', 'mysql://u@h/db'],
    ['KEYLEDGER_KEY_PREFIX_LIVE', 'KL-LIVE'],
  ])('%s=%s exits 2 with a message naming it', (name, value) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-config-'));
    try {
      const result = spawnSync(process.execPath, [SERVICE_ENTRY, 'serve'], {
        env: { PATH: process.env.PATH ?? '', KEYLEDGER_DATA_DIR: dataDir, PORT: '0', [name]: value },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(result.status, result.stderr).toBe(2);
      expect(result.stderr).toContain(name);
      expect(result.stdout).not.toMatch(/root key/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a malformed KEYLEDGER_ROOT_KEY stops the start with a message naming it, without echoing it', () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-config-'));
    try {
      const bad = 'kl_live_notARealKeyAtAll000000';
      const result = spawnSync(process.execPath, [SERVICE_ENTRY, 'serve'], {
        env: { PATH: process.env.PATH ?? '', KEYLEDGER_DATA_DIR: dataDir, PORT: '0', KEYLEDGER_ROOT_KEY: bad },
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('KEYLEDGER_ROOT_KEY');
      expect(result.stdout + result.stderr).not.toContain(bad);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
