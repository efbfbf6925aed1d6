/**
 * Connection settings for tests that need PostgreSQL or Redis. When a variable is unset (a
 * newcomer's laptop) those tests skip and say why; CI sets KEYLEDGER_REQUIRE_SERVICES=1, and
 * then a missing variable fails loudly instead of skipping.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DATABASE_URL = process.env.KEYLEDGER_TEST_DATABASE_URL;
export const REDIS_URL = process.env.KEYLEDGER_TEST_REDIS_URL;

if (process.env.KEYLEDGER_REQUIRE_SERVICES === '1' && (!DATABASE_URL || !REDIS_URL)) {
  throw new Error('KEYLEDGER_REQUIRE_SERVICES=1 but KEYLEDGER_TEST_DATABASE_URL or KEYLEDGER_TEST_REDIS_URL is unset');
}

export const skipWithoutPostgres = !DATABASE_URL;
export const skipWithoutRedis = !REDIS_URL;

export const uniqueName = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;

/** A fresh schema for one test file; drop it after with the returned function. */
export async function createSchema(prefix = 'kl_e2e'): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = uniqueName(prefix).toLowerCase();
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`create schema "${schema}"`);
  await client.end();
  return {
    schema,
    async drop() {
      const c = new pg.Client({ connectionString: DATABASE_URL });
      await c.connect();
      await c.query(`drop schema if exists "${schema}" cascade`);
      await c.end();
    },
  };
}
