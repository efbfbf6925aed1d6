/**
 * PostgreSQL test helpers: each suite works in its own uniquely named schema and drops it after.
 *
 * The snapshot fence spans the database: a test that holds a writer's transaction open hides every
 * later commit from global readers in every schema of it. The fence test therefore takes an exclusive
 * advisory lock for its whole run, and suites reading the global log take it shared, so the two
 * never overlap when vitest runs the files in parallel.
 */

import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const TEST_DATABASE_URL = process.env['KEYLEDGER_TEST_DATABASE_URL'];

/** Why a suite is skipped, for its name: CI sets the variable and fails on skips. */
export const PG_SKIP_REASON = TEST_DATABASE_URL ? '' : ' (SKIPPED: set KEYLEDGER_TEST_DATABASE_URL to run against PostgreSQL)';

export function uniqueSchemaName(prefix = 'kltest'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export async function withAdminClient<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await withAdminClient((client) => client.query(`drop schema if exists "${schema}" cascade`));
}

/**
 * Runs `work` with a client connected to a database of its own on the same server (created for
 * the call, dropped after, even if connections are left open).
 */
export async function withOtherDatabase<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const name = uniqueSchemaName('kl_other_db');
  await withAdminClient((client) => client.query(`create database "${name}"`));
  const url = new URL(TEST_DATABASE_URL as string);
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
    await withAdminClient((admin) => admin.query(`drop database if exists "${name}" with (force)`));
  }
}

/** Key of the advisory lock that keeps fence-holding tests apart from global readers. */
const FENCE_LOCK_KEY = 74_657_358_001;

/** Holds the fence lock (shared or exclusive) on a dedicated connection until released. */
export async function holdFenceLock(mode: 'shared' | 'exclusive'): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  client.on('error', () => undefined);
  await client.connect();
  await client.query(mode === 'shared' ? 'select pg_advisory_lock_shared($1)' : 'select pg_advisory_lock($1)', [
    FENCE_LOCK_KEY,
  ]);
  return async () => {
    await client.end();
  };
}
