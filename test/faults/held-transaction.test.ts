/**
 * Lag from an old transaction: on PostgreSQL the global log is read behind a snapshot fence, so a
 * transaction left open anywhere in the cluster (a stuck writer, a long report, another tenant)
 * holds every global reader back. Under that lag the service must still keep its promises:
 * - a revoke it acknowledged (2xx) is honoured by its very next verify (read-your-writes: the
 *   command waits for its projection, or does not acknowledge);
 * - a restarted instance that says it is ready (/readyz 200) refuses the revoked key.
 * Then the old transaction ends and everything catches up.
 *
 * Holding a transaction stalls global readers cluster-wide, so this suite takes the fence lock
 * exclusively, like the store's own fence test; suites that read the global log wait meanwhile.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdFenceLock } from '../../packages/service/test/store/pg-test-schema.js';
import { eventually } from '../support/eventually.js';
import { printFigures } from '../support/figures.js';
import { call, sleep } from '../support/http.js';
import { makeTestKey, type ServiceProcess, startService } from '../support/service-process.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from '../support/services.js';

/** How long the old transaction stays open after the restart. */
const HOLD_AFTER_RESTART_MS = 2_000;

const name = skipWithoutPostgres
  ? 'an old transaction held open in the cluster (SKIPPED: set KEYLEDGER_TEST_DATABASE_URL)'
  : 'an old transaction held open in the cluster (PostgreSQL)';

describe.skipIf(skipWithoutPostgres)(name, () => {
  let schema: Awaited<ReturnType<typeof createSchema>>;
  let releaseFence: (() => Promise<void>) | undefined;
  let service: ServiceProcess | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-held-'));
  const rootKey = makeTestKey();

  beforeAll(async () => {
    releaseFence = await holdFenceLock('exclusive');
    schema = await createSchema('kl_fault_held', { shareFence: false });
  }, 180_000);

  afterAll(async () => {
    await service?.stop('SIGKILL');
    await schema?.drop();
    await releaseFence?.();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('never verifies an acknowledged revoke as VALID, before or after a restart, while the fence is held', async () => {
    const env = { KEYLEDGER_DATABASE_URL: DATABASE_URL!, KEYLEDGER_DATABASE_SCHEMA: schema.schema };
    service = await startService({ dataDir, rootKey, env });
    const issued = await call(service.url, rootKey, 'POST', '/v1/keys', { consumerId: 'fault_held' });
    expect(issued.status).toBe(201);
    const secret = issued.body.secret as string;
    expect((await call(service.url, rootKey, 'POST', '/v1/verify', { key: secret })).body.code).toBe('VALID');

    const holder = new pg.Client({ connectionString: DATABASE_URL, application_name: 'keyledger-fault-held' });
    await holder.connect();
    const violations: string[] = [];
    let revokeStatus = 0;
    let readyAnswers = 0;
    let heldForMs = 0;
    try {
      await holder.query('begin');
      await holder.query('select pg_current_xact_id()');
      const heldAt = performance.now();

      const revoked = await call(service.url, rootKey, 'POST', `/v1/keys/${issued.body.id}/revoke`, { reason: 'held' });
      revokeStatus = revoked.status;
      if (revoked.status >= 200 && revoked.status < 300) {
        const next = await call(service.url, rootKey, 'POST', '/v1/verify', { key: secret });
        if (next.body.code !== 'REVOKED') violations.push(`the instance that acknowledged the revoke then verified the key ${next.body.code}`);
      } else if (revoked.status !== 503) {
        violations.push(`revoke answered ${revoked.status} (expected 2xx, or 503 when it cannot confirm)`);
      }

      await service.stop('SIGKILL');
      service = await startService({ dataDir, rootKey, env });
      const restartedAt = performance.now();
      while (performance.now() - restartedAt < HOLD_AFTER_RESTART_MS) {
        const ready = await call(service.url, rootKey, 'GET', '/readyz');
        if (ready.status === 200) {
          readyAnswers++;
          const answer = await call(service.url, rootKey, 'POST', '/v1/verify', { key: secret });
          if (revokeStatus < 300 && answer.body.code !== 'REVOKED') {
            violations.push(`the restarted instance said ready and verified the revoked key ${answer.body.code}`);
          }
        }
        await sleep(100);
      }
      heldForMs = performance.now() - heldAt;
    } finally {
      await holder.query('rollback').catch(() => undefined);
      await holder.end();
    }
    // The hold is over: the instance catches up by itself.
    await eventually('the restarted instance to be ready', async () => (await call(service!.url, rootKey, 'GET', '/readyz')).status === 200, 15_000);
    const settled = await eventually('the revoke (or its absence) to be settled', async () => {
      const key = await call(service!.url, rootKey, 'GET', `/v1/keys/${issued.body.id}`);
      return key.status === 200 && (revokeStatus >= 300 || key.body.status === 'revoked') ? key.body.status : undefined;
    }, 15_000);

    printFigures('old transaction held', {
      trials: 1,
      'revoke answer': revokeStatus,
      'held for (ms)': heldForMs.toFixed(0),
      'ready answers while held': readyAnswers,
      'key status after the hold': settled,
      violations: [...new Set(violations)].length,
    });
    expect([...new Set(violations)]).toEqual([]);
  }, 180_000);
});
