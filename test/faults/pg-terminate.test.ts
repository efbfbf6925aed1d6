/**
 * PostgreSQL connections terminated mid-load: the service's own backends (found by the
 * application_name it sets, keyledger:<schema> for the pool and keyledger-listener:<channel> for
 * LISTEN, in this database only) are ended with pg_terminate_backend again and again while a
 * mixed write and verify load runs. The cluster itself and every other database are left alone.
 *
 * Writes must answer 2xx or 503 problem+json with Retry-After, never 500; the service must recover
 * by itself (no restart); after the client's idempotent retries nothing acknowledged is lost or
 * doubled, the projection equals the ledger fold and no key is half-rotated.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { holdFenceLock } from '../../packages/service/test/store/pg-test-schema.js';
import { eventually } from '../support/eventually.js';
import { auditLedger } from '../support/fault-audit.js';
import { printFigures, summarise } from '../support/figures.js';
import { call, sleep } from '../support/http.js';
import { MixedLoad } from '../support/mixed-load.js';
import { type ServiceProcess, startService } from '../support/service-process.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from '../support/services.js';

/** At least this many rounds, and more (up to MAX_ROUNDS) until writes have met the fault a few times. */
const ROUNDS = 10;
const MAX_ROUNDS = 40;
const MIN_UNAVAILABLE = 3;

const name = skipWithoutPostgres
  ? 'PostgreSQL connections terminated mid-load (SKIPPED: set KEYLEDGER_TEST_DATABASE_URL)'
  : 'PostgreSQL connections terminated mid-load';

describe.skipIf(skipWithoutPostgres)(name, () => {
  let schema: Awaited<ReturnType<typeof createSchema>>;
  let service: ServiceProcess;
  let admin: pg.Client;
  let releaseFence: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    // A global reader: kept apart from the test that holds the cluster-wide snapshot fence open.
    releaseFence = await holdFenceLock('shared');
    schema = await createSchema('kl_fault_pgterm');
    service = await startService({ env: { KEYLEDGER_DATABASE_URL: DATABASE_URL!, KEYLEDGER_DATABASE_SCHEMA: schema.schema } });
    admin = new pg.Client({ connectionString: DATABASE_URL, application_name: 'keyledger-fault-test' });
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
    await service?.stop();
    await schema?.drop();
    await releaseFence?.();
  });

  /** Ends every backend of this test's service (same names as the service derives), nothing else. */
  async function terminateServiceBackends(): Promise<number> {
    const names = [`keyledger:${schema.schema}`.slice(0, 63), `keyledger-listener:kl_events_${schema.schema}`.slice(0, 63)];
    const result = await admin.query<{ pid: number }>(
      `select pid from pg_stat_activity
        where datname = current_database() and application_name = any($1::text[]) and pid <> pg_backend_pid()`,
      [names],
    );
    for (const { pid } of result.rows) await admin.query('select pg_terminate_backend($1)', [pid]);
    return result.rowCount ?? 0;
  }

  it('answers 503 (never 500) while its connections are cut, recovers by itself and loses nothing acknowledged', async () => {
    const token = service.rootKey;
    const load = new MixedLoad({ token, writers: 4, verifiers: 1, idempotentShare: 0.5, tolerated: [503] });
    const running = load.run(service.url);
    await sleep(200);
    let terminated = 0;
    const recoveries: number[] = [];
    let round = 0;
    for (; round < MAX_ROUNDS && (round < ROUNDS || (load.statuses.get(503) ?? 0) < MIN_UNAVAILABLE); round++) {
      terminated += await terminateServiceBackends();
      const cutAt = performance.now();
      // Recovered = a write through the service succeeds again.
      await eventually('a write to succeed again', async () => {
        const probe = await call(service.url, token, 'PATCH', `/v1/keys/${await rootKeyId()}/scopes`, { add: { scopes: [`probe:r${round}`] } }).catch(() => undefined);
        return probe?.status === 200;
      }, 15_000);
      recoveries.push(performance.now() - cutAt);
      await sleep(50 + Math.random() * 150);
    }
    await sleep(200);
    load.stop();
    await running;
    expect(service.child.exitCode, 'the service kept running').toBeNull();

    const retried = await load.retryUnacknowledged(service.url);
    const replays = await load.replayAcknowledged(service.url, 5);
    const audit = await auditLedger(service.url, token, load);
    const unavailable = load.statuses.get(503) ?? 0;
    printFigures('pg_terminate_backend', {
      trials: round,
      'backends terminated': terminated,
      commands: load.commands.length,
      acknowledged: audit.acknowledged,
      found: audit.found,
      lost: audit.lost.length,
      duplicated: audit.duplicated.length,
      '503 answers': unavailable,
      '500 answers': load.statuses.get(500) ?? 0,
      'retried to success': retried,
      'half-rotated keys': audit.rotations.length,
      verifies: load.verifies.answered,
      'time to recover (terminate to next successful write)': summarise(recoveries),
    });
    expect(terminated).toBeGreaterThanOrEqual(round);
    expect(unavailable, 'writes that met a terminated connection (503)').toBeGreaterThanOrEqual(MIN_UNAVAILABLE);
    expect(audit.acknowledged).toBeGreaterThan(0);
    expect(load.unexpected, 'answers other than 2xx or 503 problem+json with Retry-After').toEqual([]);
    expect(replays).toEqual([]);
    expect(audit.lost).toEqual([]);
    expect(audit.duplicated).toEqual([]);
    expect(audit.projection).toEqual([]);
    expect(audit.rotations).toEqual([]);
  }, 60_000);

  let rootId: string | undefined;
  async function rootKeyId(): Promise<string> {
    if (rootId) return rootId;
    const keys = await call(service.url, service.rootKey, 'GET', '/v1/keys?limit=1');
    rootId = keys.body.items[0].id as string;
    return rootId;
  }
});
