/**
 * Usage reports for a closed period are final: the same figures on every instance, after a
 * restart (projections restored from a snapshot) and after a rebuild (snapshots deleted, a fresh
 * instance folding the whole ledger).
 *
 * A closed period needs usage in the past, so the ledger is written straight through the store
 * before any instance starts: two consumers, a plan revised in the middle of last month (its
 * versions' effectiveFrom are their events' occurredAt), keys issued before and during the month
 * (one revoked in it), and usage batches before, in and after the month. The expected figures are
 * worked out by hand below from the plan's prices, not by the service's code.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { CURRENT_SCHEMA_VERSION, type EventData, type EventType } from '@keyledger/schemas';
import type { Config } from '../packages/service/src/config/config.js';
import { openEventStore } from '../packages/service/src/store/open-store.js';
import type { NewEvent } from '../packages/service/src/store/port.js';
import { keyIdOf, keyIssued } from '../packages/service/test/projections/ledger.js';
import { call } from './support/http.js';
import { makeTestKey, type ServiceProcess, startService } from './support/service-process.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from './support/services.js';

/** Last month (UTC): closed, so its report is final. */
const now = new Date();
const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1);
const PERIOD = new Date(monthStart).toISOString().slice(0, 7);
/** An instant `days` (fractional) after the start of last month. */
const at = (days: number) => new Date(monthStart + days * 86_400_000).toISOString();
const nextMonthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);

const PLAN = 'plan_closed_period';
const ACME = 'con_acme_closed';
const DELTA = 'con_delta_closed';
const KEY_A = keyIdOf(901); // Acme, issued before the month
const KEY_B = keyIdOf(902); // Acme, issued after the revision
const KEY_C = keyIdOf(903); // Acme, issued and revoked early in the month
const KEY_E = keyIdOf(904); // Delta, issued on the first day

const PRICE_V1 = { currency: 'EUR', flatFee: 1000, includedUnits: 100, unitPricePer1000: 215 };
const PRICE_V2 = { currency: 'EUR', flatFee: 5000, includedUnits: 150, unitPricePer1000: 1000 };

function event<T extends EventType>(type: T, data: EventData<T>, occurredAt: string): NewEvent {
  return {
    type,
    data,
    metadata: { schemaVersion: CURRENT_SCHEMA_VERSION[type], actor: { kind: 'system', id: 'test-past' }, requestId: null, sourceAddress: null, occurredAt, correlationId: null, causationId: null },
  };
}

function terms(price: typeof PRICE_V1) {
  return { name: 'Metered', rateLimits: [], quota: null, credits: null, scopes: ['orders:read'], endpoints: [], networks: [], approvalRequired: false, price, leakAction: null };
}

function batch(from: string, seconds: number, entries: { keyId: string; counts: Record<string, number>; units: number }[]): NewEvent {
  const to = new Date(Date.parse(from) + seconds * 1000).toISOString();
  return event('UsageBatchRecorded', { from, to, instanceId: 'old-instance', windows: [], entries: entries.map((entry) => ({ ...entry, window: null })) } as EventData<'UsageBatchRecorded'>, to);
}

async function writePastLedger(database: Config['database']): Promise<void> {
  const store = await openEventStore(database);
  try {
    const consumer = (id: string, name: string, occurredAt: string) => store.appendToStream(`consumer-${id}`, [
      event('ConsumerRegistered', { consumerId: id, name, email: `billing@${name.toLowerCase()}.test`, organisation: null, intendedUse: null, externalId: null, allowedNetworks: [] }, occurredAt),
      event('ConsumerApproved', { consumerId: id, reviewer: 'ops', reason: null }, occurredAt),
    ]);
    await consumer(ACME, 'Acme', at(-12));
    await consumer(DELTA, 'Delta', at(-12));
    await store.appendToStream(`plan-${PLAN}`, [event('PlanDefined', { planId: PLAN, version: 1, ...terms(PRICE_V1) }, at(-6))]);
    const issue = (keyId: string, i: number, consumerId: string, occurredAt: string) =>
      store.appendToStream(`key-${keyId}`, [{ ...keyIssued(i, { keyId, consumerId, planId: PLAN, scopes: [], rateLimit: null, quota: null, expiresAt: null, environment: 'live', meta: {} }), metadata: event('KeyIssued', {} as never, occurredAt).metadata }]);
    await issue(KEY_A, 901, ACME, at(-3));
    await issue(KEY_E, 904, DELTA, at(0.25));
    await issue(KEY_C, 903, ACME, at(1));
    await store.appendToStream(`key-${KEY_C}`, [event('KeyRevoked', { keyId: KEY_C, reason: 'replaced' }, at(7))]);
    // The revision comes into force half-way through the month.
    await store.appendToStream(`plan-${PLAN}`, [event('PlanRevised', { planId: PLAN, version: 2, ...terms(PRICE_V2) }, at(14))]);
    await issue(KEY_B, 902, ACME, at(19));
    const usage = 'usage-batch-old-instance';
    await store.appendToStream(usage, [
      batch(at(-2), 10, [{ keyId: KEY_A, counts: { VALID: 500 }, units: 500 }]), // the month before: not in the report
      batch(at(2.5), 10, [{ keyId: KEY_A, counts: { VALID: 60, RATE_LIMITED: 4 }, units: 60 }]),
      batch(at(3.5), 10, [{ keyId: KEY_E, counts: { VALID: 20 }, units: 20 }]),
      batch(at(4.5), 10, [{ keyId: KEY_C, counts: { VALID: 10 }, units: 10 }]),
      batch(at(9.5), 10, [{ keyId: KEY_A, counts: { VALID: 70 }, units: 70 }]),
      batch(at(15.5), 10, [{ keyId: KEY_A, counts: { VALID: 40, QUOTA_EXCEEDED: 2 }, units: 40 }]),
      batch(at(19.5), 10, [{ keyId: KEY_E, counts: { VALID: 120 }, units: 120 }]),
      batch(at(24.5), 10, [{ keyId: KEY_B, counts: { VALID: 33, NOT_FOUND: 0 }, units: 33 }]),
      // Starts in the last seconds of the month: counted in it.
      batch(new Date(nextMonthStart - 10_000).toISOString(), 10, [{ keyId: KEY_A, counts: { VALID: 7 }, units: 7 }]),
      batch(new Date(nextMonthStart).toISOString(), 10, [{ keyId: KEY_A, counts: { VALID: 1000 }, units: 1000 }]), // this month: not in it
    ]);
  } finally {
    await store.close();
  }
}

/*
 * Acme, in order of use: A 60 (v1), C 10 (v1), A 70 (v1), A 40 (v2), B 33 (v2), A 7 (v2) = 220 units.
 *   v1: 140 units, 100 included -> 40 beyond at 215 per 1000 = 8,600 thousandths.
 *   v2: includes 150 in all, 100 used by v1 -> 50 more: A 40, then 10 of B's 33; 23 + 7 = 30 beyond
 *       at 1000 per 1000 = 30,000 thousandths.
 *   usage 38,600 thousandths = 38.6 -> 39 (rounded half up once); flat fee of v1, in force when
 *   the month began: 1,000. Charge 1,039.
 * Delta: E 20 (v1), E 120 (v2) = 140 units, all within the included ones (100, then 150 in all).
 *   Flat fee of v1 (its key was issued on the first day): 1,000. Charge 1,000.
 * The plan: the sum of its consumers: 360 units, 2,000 flat, charge 2,039.
 */
const EXPECTED = {
  acme: { units: 220, flatFee: 1000, includedUnits: 150, billableUnits: 70, charge: 1039, byPlanVersion: [{ planId: PLAN, version: 1, units: 140 }, { planId: PLAN, version: 2, units: 80 }] },
  delta: { units: 140, flatFee: 1000, includedUnits: 140, billableUnits: 0, charge: 1000, byPlanVersion: [{ planId: PLAN, version: 1, units: 20 }, { planId: PLAN, version: 2, units: 120 }] },
  plan: { units: 360, flatFee: 2000, includedUnits: 290, billableUnits: 70, charge: 2039 },
};

interface Reports {
  acme: any;
  delta: any;
  plan: any;
  acmeCsv: string;
}

async function reportsOf(service: ServiceProcess): Promise<Reports> {
  const get = async (path: string) => {
    const answer = await call(service.url, service.rootKey, 'GET', path);
    if (answer.status !== 200) throw new Error(`GET ${path} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  return {
    acme: await get(`/v1/consumers/${ACME}/usage?period=${PERIOD}`),
    delta: await get(`/v1/consumers/${DELTA}/usage?period=${PERIOD}`),
    plan: await get(`/v1/plans/${PLAN}/usage?period=${PERIOD}`),
    acmeCsv: await get(`/v1/consumers/${ACME}/usage?period=${PERIOD}&format=csv`),
  };
}

function checkFigures(reports: Reports): void {
  expect(reports.acme).toMatchObject({ period: PERIOD, final: true, consumerId: ACME, currency: 'EUR', ...EXPECTED.acme });
  expect(reports.acme.byKey).toEqual([
    { keyId: KEY_A, planId: PLAN, units: 177, verifications: { VALID: 177, RATE_LIMITED: 4, QUOTA_EXCEEDED: 2 } },
    { keyId: KEY_B, planId: PLAN, units: 33, verifications: { VALID: 33, NOT_FOUND: 0 } },
    { keyId: KEY_C, planId: PLAN, units: 10, verifications: { VALID: 10 } },
  ]);
  expect(reports.acme.byOutcome).toEqual({ VALID: 220, RATE_LIMITED: 4, QUOTA_EXCEEDED: 2, NOT_FOUND: 0 });
  expect(reports.acme.byDay.map((day: { day: string; units: number }) => [day.day, day.units])).toEqual([
    [at(2).slice(0, 10), 60], [at(4).slice(0, 10), 10], [at(9).slice(0, 10), 70], [at(15).slice(0, 10), 40], [at(24).slice(0, 10), 33],
    [new Date(nextMonthStart - 1).toISOString().slice(0, 10), 7],
  ]);
  expect(reports.delta).toMatchObject({ period: PERIOD, final: true, consumerId: DELTA, currency: 'EUR', ...EXPECTED.delta });
  expect(reports.plan).toMatchObject({ period: PERIOD, final: true, planId: PLAN, consumerId: null, currency: 'EUR', ...EXPECTED.plan });
  expect(reports.plan.byKey.map((row: { keyId: string }) => row.keyId)).toEqual([KEY_A, KEY_B, KEY_C, KEY_E]);
  expect(reports.plan.byPlanVersion).toEqual([{ planId: PLAN, version: 1, units: 160 }, { planId: PLAN, version: 2, units: 200 }]);
  expect(reports.acmeCsv).toContain(`${PERIOD},${ACME},,TOTAL,220,220,6,EUR,1039`);
}

async function finalReportsTrial(backend: string, env: Record<string, string>, database: (dataDir: string) => Config['database'], dropSnapshots: (dataDir: string) => Promise<void>, instances: number) {
  const dirs: string[] = [];
  const freshDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyledger-usage-final-'));
    dirs.push(dir);
    return dir;
  };
  const dataDir = freshDir();
  const rootKey = makeTestKey();
  await writePastLedger(database(dataDir));
  // Instances of one ledger; on SQLite they take turns on one data directory.
  const start = (dir = dataDir) => startService({ dataDir: dir, rootKey, env });
  const running: ServiceProcess[] = [];
  try {
    for (let i = 0; i < instances; i++) running.push(await start(i === 0 ? dataDir : freshDir()));
    const first = await reportsOf(running[0]!);
    checkFigures(first);
    for (const service of running.slice(1)) expect(await reportsOf(service)).toEqual(first);

    // Restart: projections come back from the snapshot saved at shutdown.
    await running[0]!.stop();
    running[0] = await start();
    expect(running[0].output()).toContain('projections restored from a snapshot');
    expect(await reportsOf(running[0])).toEqual(first);

    // Rebuild: every instance stopped, the snapshots deleted, a fresh instance folds the whole log.
    for (const service of running.splice(0)) await service.stop();
    await dropSnapshots(dataDir);
    running.push(await start(backend === 'SQLite' ? dataDir : freshDir()));
    expect(running[0]!.output()).toContain('projections rebuilt from the whole log');
    const rebuilt = await reportsOf(running[0]!);
    expect(rebuilt).toEqual(first);
    console.log(`[e2e] final usage report ${PERIOD} (${backend}): acme ${first.acme.units} units ${first.acme.charge} ${first.acme.currency}, delta ${first.delta.units} units ${first.delta.charge}, plan ${first.plan.units} units ${first.plan.charge}; same on ${instances} instance(s), after a restart and after a rebuild`);
  } finally {
    for (const service of running) await service.stop('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  }
}

describe('usage reports of a closed period are final', () => {
  it('SQLite: the same figures after a restart and after a rebuild', async () => {
    await finalReportsTrial(
      'SQLite',
      {},
      (dataDir) => ({ kind: 'sqlite', file: join(dataDir, 'keyledger.db'), synchronous: 'FULL' }),
      async (dataDir) => {
        const db = new Database(join(dataDir, 'keyledger.db'));
        const tables = db.prepare("select name from sqlite_master where type = 'table' and name like 'kl_snapshot%'").all() as { name: string }[];
        expect(tables.length).toBeGreaterThan(0);
        for (const { name } of tables) db.prepare(`delete from "${name}"`).run();
        db.close();
      },
      1,
    );
  }, 90_000);

  describe.skipIf(skipWithoutPostgres)('PostgreSQL', () => {
    let schema: Awaited<ReturnType<typeof createSchema>> | undefined;
    afterAll(async () => schema?.drop());
    it('PostgreSQL: the same figures on two instances, after a restart and on a fresh instance after the snapshots are deleted', async () => {
      schema = await createSchema('kl_e2e_usage_final');
      const name = schema.schema;
      await finalReportsTrial(
        'PostgreSQL',
        { KEYLEDGER_DATABASE_URL: DATABASE_URL!, KEYLEDGER_DATABASE_SCHEMA: name, KEYLEDGER_SECRET: randomBytes(32).toString('hex') },
        () => ({ kind: 'postgres', url: DATABASE_URL!, schema: name }),
        async () => {
          const client = new pg.Client({ connectionString: DATABASE_URL });
          await client.connect();
          try {
            const tables = await client.query(`select table_name from information_schema.tables where table_schema = $1 and table_name like 'kl_snapshot%'`, [name]);
            expect(tables.rows.length).toBeGreaterThan(0);
            for (const row of tables.rows) await client.query(`delete from "${name}"."${row.table_name}"`);
          } finally {
            await client.end();
          }
        },
        2,
      );
    }, 90_000);
  });
});
