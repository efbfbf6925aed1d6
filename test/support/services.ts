/**
 * Connection settings for tests that need PostgreSQL or Redis. When a variable is unset (a
 * newcomer's laptop) those tests skip, and the run says so in one line at its start
 * (servicesNotice, printed by global-setup.ts); CI sets KEYLEDGER_REQUIRE_SERVICES=1, and then a
 * missing variable fails loudly instead of skipping.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { holdFenceLock } from '../../packages/service/test/store/pg-test-schema.js';

export const DATABASE_URL = process.env.KEYLEDGER_TEST_DATABASE_URL;
export const REDIS_URL = process.env.KEYLEDGER_TEST_REDIS_URL;

/** What each variable enables, with an example value that works on a default local install. */
const SERVICES = [
  { variable: 'KEYLEDGER_TEST_DATABASE_URL', service: 'PostgreSQL', example: 'postgres://postgres@127.0.0.1:5432/postgres' },
  { variable: 'KEYLEDGER_TEST_REDIS_URL', service: 'Redis', example: 'redis://127.0.0.1:6379/0' },
] as const;

/**
 * The one line that says which tests will skip and what to set, or undefined when nothing skips.
 * Throws when KEYLEDGER_REQUIRE_SERVICES=1 and a variable is missing (CI never skips).
 */
export function servicesNotice(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const missing = SERVICES.filter((s) => !env[s.variable]);
  if (missing.length === 0) return undefined;
  const names = missing.map((s) => s.variable).join(' and ');
  if (env.KEYLEDGER_REQUIRE_SERVICES === '1') throw new Error(`KEYLEDGER_REQUIRE_SERVICES=1 but ${names} ${missing.length > 1 ? 'are' : 'is'} unset`);
  return (
    `keyledger tests: the ${missing.map((s) => s.service).join(' and ')} tests will be SKIPPED: set ` +
    `${missing.map((s) => `${s.variable}=${s.example}`).join(' ')} to run them`
  );
}

servicesNotice();

export const skipWithoutPostgres = !DATABASE_URL;
export const skipWithoutRedis = !REDIS_URL;

export const uniqueName = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;

/**
 * A fresh schema for one test file; drop it after with the returned function. It also holds the
 * fence lock shared until then: a test that deliberately holds a write transaction open in this
 * database (the fence tests, the held-transaction trial) takes it exclusively, so it never runs
 * while another file expects its revocations to reach verify at once. Such a test passes
 * `{ shareFence: false }`, as it holds the lock itself.
 */
export async function createSchema(
  prefix = 'kl_e2e',
  options: { shareFence?: boolean } = {},
): Promise<{ schema: string; drop(): Promise<void> }> {
  const release = options.shareFence === false ? async () => undefined : await holdFenceLock('shared');
  const schema = uniqueName(prefix).toLowerCase();
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  await client.query(`create schema "${schema}"`);
  await client.end();
  return {
    schema,
    async drop() {
      try {
        const c = new pg.Client({ connectionString: DATABASE_URL });
        await c.connect();
        await c.query(`drop schema if exists "${schema}" cascade`);
        await c.end();
      } finally {
        await release();
      }
    },
  };
}
