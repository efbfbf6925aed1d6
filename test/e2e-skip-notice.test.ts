/**
 * A run without PostgreSQL / Redis says so, in one line at its start, naming the variables to
 * set; CI (KEYLEDGER_REQUIRE_SERVICES=1) fails instead of skipping.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { servicesNotice } from './support/services.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VITEST = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));

describe('servicesNotice', () => {
  it('names every missing variable with an example value', () => {
    const both = servicesNotice({});
    expect(both).toMatch(/PostgreSQL and Redis tests will be SKIPPED/);
    expect(both).toContain('KEYLEDGER_TEST_DATABASE_URL=postgres://');
    expect(both).toContain('KEYLEDGER_TEST_REDIS_URL=redis://');
    const redisOnly = servicesNotice({ KEYLEDGER_TEST_DATABASE_URL: 'postgres://x' });
    expect(redisOnly).toContain('KEYLEDGER_TEST_REDIS_URL');
    expect(redisOnly).not.toContain('KEYLEDGER_TEST_DATABASE_URL');
    expect(both!.includes('\n')).toBe(false);
  });

  it('says nothing when both are set, and throws when CI requires them and one is missing', () => {
    expect(servicesNotice({ KEYLEDGER_TEST_DATABASE_URL: 'postgres://x', KEYLEDGER_TEST_REDIS_URL: 'redis://x' })).toBeUndefined();
    expect(() => servicesNotice({ KEYLEDGER_REQUIRE_SERVICES: '1', KEYLEDGER_TEST_REDIS_URL: 'redis://x' })).toThrow(/KEYLEDGER_TEST_DATABASE_URL is unset/);
  });

  it('a real vitest run without the variables prints the line before any result', async () => {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '', NO_COLOR: '1', HOME: process.env.HOME ?? '/root' };
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
      execFile(process.execPath, [VITEST, 'run', 'packages/service/test/store/postgres-fence.test.ts'], { cwd: ROOT, env, timeout: 60_000 }, (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${out}\n${err}`)) : resolve({ stdout: out }),
      ),
    );
    const lines = stdout.split('\n').filter((line) => line.trim() !== '');
    const notice = lines.findIndex((line) => line.startsWith('keyledger tests: the PostgreSQL and Redis tests will be SKIPPED'));
    const firstResult = lines.findIndex((line) => line.includes('postgres-fence.test.ts'));
    console.log(`notice at line ${notice}, first result at line ${firstResult}: ${lines[notice]}`);
    expect(notice).toBeGreaterThanOrEqual(0);
    expect(notice).toBeLessThan(firstResult);
    expect(stdout).toMatch(/skipped/);
  });
});
