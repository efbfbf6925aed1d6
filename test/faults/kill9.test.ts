/**
 * kill -9 of the service under a mixed write and verify load, 20 trials on SQLite and 20 on
 * PostgreSQL. Each trial runs a fraction of a second of load, SIGKILLs the process at a random
 * moment, restarts it on the same ledger, lets the client retry its unanswered idempotent
 * commands (as the SDK does), and then checks through the public API:
 * - every acknowledged command (2xx received) is in the ledger exactly once (GET /v1/events);
 * - the restarted service's projection (every GET /v1/keys page, and GET /v1/keys/:id with its
 *   ETag for a sample) equals a fold of the ledger computed by the test itself;
 * - no key is half-rotated (every KeyRotated's successor exists and names it in rotatedFrom).
 * Problems are collected over all trials and asserted at the end, so the figures always print.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, type ExpectStatic, it } from 'vitest';
import { holdFenceLock } from '../../packages/service/test/store/pg-test-schema.js';
import { eventually } from '../support/eventually.js';
import { auditLedger } from '../support/fault-audit.js';
import { printFigures, Problems, summarise } from '../support/figures.js';
import { call, sleep } from '../support/http.js';
import { MixedLoad } from '../support/mixed-load.js';
import { makeTestKey, type ServiceProcess, startService } from '../support/service-process.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from '../support/services.js';

const TRIALS = 20;

/**
 * `guard` is held around each trial (PostgreSQL: the shared fence lock, taken per trial rather than
 * for the whole run, so a suite that needs it exclusively waits seconds, not the whole file).
 */
async function killTrials(
  expect: ExpectStatic,
  backend: string,
  env: Record<string, string>,
  guard?: () => Promise<() => Promise<void>>,
): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-kill9-'));
  const rootKey = makeTestKey();
  const start = () => startService({ dataDir, rootKey, env });
  const releaseFirst = await guard?.();
  let service: ServiceProcess = await start().finally(() => releaseFirst?.());
  const load = new MixedLoad({ token: rootKey, writers: 4, verifiers: 1, idempotentShare: 0.5 });
  const problems = new Problems();
  const recoveries: number[] = [];
  let inFlightAtKill = 0;
  let retried = 0;
  let last = { acknowledged: 0, found: 0, lost: 0, duplicated: 0, events: 0, keys: 0, unacknowledgedWritten: 0 };
  try {
    for (let trial = 1; trial <= TRIALS; trial++) {
      const release = await guard?.();
      try {
        const before = load.commands.length;
        const running = load.run(service.url);
        await sleep(80 + Math.random() * 320);
        const killedAt = performance.now();
        await service.stop('SIGKILL');
        load.stop();
        await running;
        inFlightAtKill += load.commands.slice(before).filter((c) => !c.acknowledged && c.error !== undefined).length;

        service = await start();
        await eventually('the restarted service to be ready', async () => (await call(service.url, rootKey, 'GET', '/readyz')).status === 200);
        recoveries.push(performance.now() - killedAt);

        load.forgetOutcomes();
        retried += await load.retryUnacknowledged(service.url);
        problems.add(trial, 'replay', await load.replayAcknowledged(service.url, 3));
        const audit = await auditLedger(service.url, rootKey, load).catch((error: Error) => {
          throw new Error(`trial ${trial}: ${error.message}\nrestarted service output:\n${service.output().split('\n').slice(-15).join('\n')}`);
        });
        problems.add(trial, 'lost', audit.lost);
        problems.add(trial, 'duplicated', audit.duplicated);
        problems.add(trial, 'projection', audit.projection);
        problems.add(trial, 'half-rotated', audit.rotations);
        problems.add(trial, 'unexpected answer', load.unexpected.splice(0));
        last = { ...audit, lost: audit.lost.length, duplicated: audit.duplicated.length };
      } finally {
        await release?.();
      }
    }
  } finally {
    await service.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
  printFigures(`kill -9 (${backend})`, {
    trials: TRIALS,
    commands: load.commands.length,
    acknowledged: last.acknowledged,
    found: last.found,
    lost: last.lost,
    duplicated: last.duplicated,
    'unanswered at kill (in flight or refused)': inFlightAtKill,
    'retried to success': retried,
    'unacknowledged but written': last.unacknowledgedWritten,
    verifies: load.verifies.answered,
    'ledger events': last.events,
    keys: last.keys,
    'half-rotated keys': problems.of('half-rotated').length,
    'time to recover (SIGKILL to ready)': summarise(recoveries),
  });
  for (const kind of ['half-rotated', 'lost', 'duplicated', 'projection', 'replay', 'unexpected answer']) {
    if (problems.of(kind).length > 0) console.log(`[fault] kill -9 (${backend}) ${kind}:\n  ${problems.of(kind).join('\n  ')}`);
  }
  // The load really ran and really was cut mid-flight, so the checks below can fail.
  expect(last.acknowledged).toBeGreaterThanOrEqual(TRIALS);
  expect(inFlightAtKill).toBeGreaterThan(0);
  expect(problems.of('lost'), 'acknowledged commands missing from the ledger').toEqual([]);
  expect(problems.of('duplicated'), 'commands written more than once').toEqual([]);
  expect(problems.of('replay'), 'idempotent replays').toEqual([]);
  expect(problems.of('unexpected answer'), 'answers other than 2xx from a running service').toEqual([]);
  expect(problems.of('projection'), 'projection of the restarted service differs from the ledger fold').toEqual([]);
  expect(problems.of('half-rotated'), 'half-rotated keys').toEqual([]);
}

// The two backends' trials are independent (own data directory, own schema) and mostly wait on
// child processes, so they run side by side to keep the file short.
const pgName = skipWithoutPostgres
  ? `PostgreSQL: ${TRIALS} trials (SKIPPED: set KEYLEDGER_TEST_DATABASE_URL)`
  : `PostgreSQL: ${TRIALS} trials: nothing acknowledged lost or doubled, projections equal the ledger, no half-rotated key`;

// The two backends' trials are independent (own data directory, own schema) and mostly wait on
// child processes, so they run side by side to keep the file short.
describe('kill -9 under mixed load', () => {
  let schema: Awaited<ReturnType<typeof createSchema>> | undefined;
  afterAll(async () => {
    await schema?.drop();
  });

  it.concurrent(`SQLite: ${TRIALS} trials: nothing acknowledged lost or doubled, projections equal the ledger, no half-rotated key`, async ({ expect }) => {
    await killTrials(expect, 'SQLite', {});
  }, 150_000);

  (skipWithoutPostgres ? it.concurrent.skip : it.concurrent)(pgName, async ({ expect }) => {
    schema = await createSchema('kl_fault_kill');
    // A shared secret, as instances on one database have: an idempotent issue replayed by a
    // restarted process re-derives the same plaintext.
    await killTrials(expect, 'PostgreSQL', { KEYLEDGER_DATABASE_URL: DATABASE_URL!, KEYLEDGER_DATABASE_SCHEMA: schema.schema, KEYLEDGER_SECRET: randomBytes(32).toString('hex') },
      // Every trial reads the global log: keep it apart from the tests that hold the (cluster-wide)
      // snapshot fence open on purpose, as every global reader does.
      () => holdFenceLock('shared'));
  }, 150_000);
});
