/**
 * Break-glass: `keyledger root-key reset` on the host appends a new admin key (actor
 * host-operator) to the ledger a service is running on, prints it once, and the running service
 * accepts it at once; `--revoke-previous` retires the lost one. On SQLite and on PostgreSQL.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdFenceLock } from '../packages/service/test/store/pg-test-schema.js';
import { eventually } from './support/eventually.js';
import { SERVICE_ENTRY, type ServiceProcess, startService } from './support/service-process.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from './support/services.js';

const run = promisify(execFile);

async function status(service: ServiceProcess, key: string, path = '/v1/keys?limit=1'): Promise<number> {
  return (await fetch(`${service.url}${path}`, { headers: { authorization: `Bearer ${key}` } })).status;
}

function resetScenario(start: () => Promise<{ service: ServiceProcess; args: string[]; cleanup(): Promise<void> }>) {
  let service: ServiceProcess;
  let args: string[];
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ service, args, cleanup } = await start());
  });
  afterAll(async () => {
    await service?.stop();
    await cleanup?.();
  });

  it('prints a new admin key once; the running service accepts it; the history names host-operator', async () => {
    const { stdout, stderr } = await run(process.execPath, [SERVICE_ENTRY, 'root-key', 'reset', ...args], { env: { PATH: process.env.PATH ?? '' } });
    const secret = /^\s+(kl_live_[A-Za-z0-9]+)$/m.exec(stdout)?.[1];
    expect(secret, stdout + stderr).toBeDefined();
    expect(stdout.split(secret as string)).toHaveLength(2);
    expect(stderr).not.toContain(secret);
    await eventually('the running service to accept the new admin key', async () => (await status(service, secret as string)) === 200);
    const keyId = /key id (key_\w+)/.exec(stdout)?.[1] as string;
    const history = await fetch(`${service.url}/v1/keys/${keyId}/history`, { headers: { authorization: `Bearer ${secret}` } });
    const entries = ((await history.json()) as { entries: { actor: { kind: string; id: string }; changes: { permissions: string[] } }[] }).entries;
    expect(entries[0]?.actor).toEqual({ kind: 'host-operator', id: 'host-operator' });
    expect(entries[0]?.changes.permissions).toEqual(['admin']);
    // The old root key still works: a reset alone adds, it does not take away.
    expect(await status(service, service.rootKey)).toBe(200);
  });

  it('--revoke-previous --json revokes every other admin key, the lost root key included', async () => {
    const { stdout } = await run(process.execPath, [SERVICE_ENTRY, 'root-key', 'reset', '--revoke-previous', '--json', ...args], {
      env: { PATH: process.env.PATH ?? '' },
    });
    const reset = JSON.parse(stdout) as { keyId: string; secret: string; revoked: string[] };
    expect(reset.revoked.length).toBeGreaterThanOrEqual(2);
    await eventually('the old root key to be refused', async () => (await status(service, service.rootKey)) === 401);
    expect(await status(service, reset.secret)).toBe(200);
  });

  it('a bad store setting is one line on stderr, exit 2, no stack', async () => {
    const failed = await run(process.execPath, [SERVICE_ENTRY, 'root-key', 'reset', '--database-url', 'mysql://nope'], {
      env: { PATH: process.env.PATH ?? '' },
    }).catch((error: { code: number; stderr: string }) => error);
    expect((failed as { code: number }).code).toBe(2);
    expect((failed as { stderr: string }).stderr).toMatch(/KEYLEDGER_DATABASE_URL: must be a postgres/);
    expect((failed as { stderr: string }).stderr).not.toMatch(/\n\s+at /);
  });
}

describe('root-key reset on SQLite', () => {
  resetScenario(async () => {
    // The test polls with a key the service has not seen yet: those 401s must not slow it down.
    const service = await startService({ env: { KEYLEDGER_AUTH_FAILURE_BURST: '1000' } });
    return { service, args: ['--data-dir', service.dataDir], cleanup: async () => undefined };
  });
});

describe.skipIf(skipWithoutPostgres)(
  `root-key reset on PostgreSQL${skipWithoutPostgres ? ' (SKIPPED: set KEYLEDGER_TEST_DATABASE_URL)' : ''}`,
  () => {
    resetScenario(async () => {
      const release = await holdFenceLock('shared');
      const { schema, drop } = await createSchema();
      const service = await startService({
        env: { KEYLEDGER_DATABASE_URL: DATABASE_URL as string, KEYLEDGER_DATABASE_SCHEMA: schema, KEYLEDGER_AUTH_FAILURE_BURST: '1000' },
      });
      return {
        service,
        args: ['--database-url', DATABASE_URL as string, '--database-schema', schema],
        cleanup: async () => {
          await drop();
          await release();
        },
      };
    });
  },
);
