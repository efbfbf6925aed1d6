/**
 * Snapshots on both real stores: a start from snapshot + tail gives exactly the state of a
 * rebuild from the whole log; a corrupt snapshot means a rebuild; concurrent writers never move
 * the snapshot backwards.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging.js';
import { KeyProjection } from '../../src/projections/key-projection.js';
import { ParkedEvents } from '../../src/projections/parked-events.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { ProjectionSnapshots } from '../../src/projections/snapshots.js';
import type { EventStore } from '../../src/store/port.js';
import { openPostgresEventStore } from '../../src/store/postgres/index.js';
import { openPostgresSnapshotStore } from '../../src/store/snapshots/postgres.js';
import type { SnapshotStore } from '../../src/store/snapshots/port.js';
import { openSqliteSnapshotStore } from '../../src/store/snapshots/sqlite.js';
import { openSqliteEventStore } from '../../src/store/sqlite/index.js';
import { QuotaUsageProjection } from '../../src/verify/usage-projection.js';
import { dropSchema, holdFenceLock, PG_SKIP_REASON, TEST_DATABASE_URL, uniqueSchemaName } from '../store/pg-test-schema.js';
import { issueKeys, keyIdOf, keyRevoked, keySuspended, meta, usageBatch } from './ledger.js';

const logger = createLogger('silent');
const dir = mkdtempSync(join(tmpdir(), 'keyledger-snapshots-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Backend {
  store: EventStore;
  openSnapshots(): Promise<SnapshotStore>;
  /** Overwrites one byte in the middle of the stored payload, behind keyledger's back. */
  corrupt(): Promise<void>;
  close(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
  const file = join(dir, `${randomUUID()}.db`);
  const store = await openSqliteEventStore({ file, synchronous: 'NORMAL' });
  return {
    store,
    openSnapshots: async () => openSqliteSnapshotStore({ file, compare: store.compareCheckpoints.bind(store) }),
    async corrupt() {
      const db = new Database(file);
      const row = db.prepare('SELECT payload FROM kl_snapshots').get() as { payload: Buffer };
      const middle = row.payload.length >> 1;
      row.payload[middle] = (row.payload[middle] as number) ^ 0xff;
      db.prepare('UPDATE kl_snapshots SET payload = ?').run(row.payload);
      db.close();
    },
    close: () => store.close(),
  };
}

async function postgresBackend(): Promise<Backend> {
  const schema = uniqueSchemaName('klsnap');
  const release = await holdFenceLock('shared');
  const store = await openPostgresEventStore({ connectionString: TEST_DATABASE_URL as string, schema });
  return {
    store,
    openSnapshots: () => openPostgresSnapshotStore({ connectionString: TEST_DATABASE_URL as string, schema, compare: store.compareCheckpoints.bind(store) }),
    async corrupt() {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      await client.query(`update "${schema}".kl_snapshot_chunks set bytes = overlay(bytes placing '\\xff'::bytea from (length(bytes) / 2) for 1)`);
      await client.end();
    },
    async close() {
      await store.close();
      await dropSchema(schema);
      await release();
    },
  };
}

/** The service's set of projections, and a runner over them. */
function projections(store: EventStore) {
  const keys = new KeyProjection();
  const quota = new QuotaUsageProjection();
  const parked = new ParkedEvents();
  const runner = new ProjectionRunner(store, [keys, quota], { batchSize: 50, parked });
  return { keys, quota, parked, runner, parts: [keys, quota, parked] as const };
}

/** Everything the projections hold; when an event was parked is wall-clock time, so it is left out. */
/**
 * Catches a runner up to `head`. On PostgreSQL the fence is cluster-wide: another client's open
 * transaction can hide the newest events for a moment, so "caught up" means reaching `head`.
 */
async function catchUp(p: ReturnType<typeof projections>, head: string, from?: string): Promise<void> {
  await p.runner.start(from);
  expect(await p.runner.waitFor(head, 20_000)).toBe(true);
  await p.runner.stop();
}

const state = (p: ReturnType<typeof projections>) => ({
  keys: p.keys.snapshot(),
  quota: p.quota.snapshot(),
  parked: p.parked.list().items.map(({ parkedAt: _at, ...rest }) => rest),
});

const backends: [string, () => Promise<Backend>, boolean][] = [
  ['sqlite', sqliteBackend, true],
  [`postgres${PG_SKIP_REASON}`, postgresBackend, Boolean(TEST_DATABASE_URL)],
];

for (const [name, open, enabled] of backends) {
  describe.runIf(enabled)(`projection snapshots on ${name}`, () => {
    it('a start from the snapshot and the tail equals a rebuild from the whole log; a corrupt snapshot means a rebuild', async () => {
      const backend = await open();
      const snapshotStore = await backend.openSnapshots();
      try {
        const { store } = backend;
        await issueKeys(store, 0, 60);
        await store.appendToStream(`key-${keyIdOf(2)}`, [keyRevoked(2)]);
        await store.appendToStream('key-broken', [{ type: 'KeyIssued', data: { keyId: keyIdOf(1) }, metadata: meta() }]);
        await store.appendToStream('usage-batch-i1', [usageBatch([0, 1, 2, 3, 4], '2030-06-01T10:00:10.000Z')]);
        // A per-key event of the versions before batches.
        let head = (await store.appendToStream(`usage-${keyIdOf(6)}`, [{
          type: 'UsageRecorded',
          data: { keyId: keyIdOf(6), from: '2030-06-01T10:00:00.000Z', to: '2030-06-01T10:00:10.000Z', counts: { VALID: 5 }, units: 5, quotaWindowStart: '2030-06-01T00:00:00.000Z', quotaPeriod: 'day', instanceId: 'old' },
          metadata: meta(),
        }])).checkpoint;

        const first = projections(store);
        await catchUp(first, head);
        const saver = new ProjectionSnapshots(snapshotStore, first.parts, { logger, instanceId: 'a', compare: store.compareCheckpoints.bind(store) });
        expect(await saver.save(() => first.runner.checkpoint)).toBe('saved');
        // Nothing new: a second save does not encode or write again.
        expect(await saver.save(() => first.runner.checkpoint)).toBe('skipped');

        // The tail: more keys, a change to a key from before the snapshot, usage on the next day (closes day one's windows).
        await issueKeys(store, 60, 75);
        await store.appendToStream(`key-${keyIdOf(10)}`, [keySuspended(10)]);
        await store.appendToStream(`key-${keyIdOf(61)}`, [keyRevoked(61)]);
        head = (await store.appendToStream('usage-batch-i1', [usageBatch([4, 8, 62], '2030-06-02T10:00:10.000Z', '2030-06-02T00:00:00.000Z')])).checkpoint;

        const restored = projections(store);
        const outcome = await new ProjectionSnapshots(snapshotStore, restored.parts, { logger, instanceId: 'b', compare: store.compareCheckpoints.bind(store) }).restore();
        expect(outcome).toEqual({ kind: 'restored', checkpoint: first.runner.checkpoint, bytes: expect.any(Number) });
        await catchUp(restored, head, outcome.kind === 'restored' ? outcome.checkpoint : undefined);

        const rebuilt = projections(store);
        await catchUp(rebuilt, head);

        console.log(`${name}: snapshot restore applied ${restored.runner.appliedCount} tail events, the rebuild ${rebuilt.runner.appliedCount}`);
        expect(restored.runner.appliedCount).toBe(18);
        expect(state(restored)).toEqual(state(rebuilt));
        expect(restored.keys.size).toBe(75);
        expect(restored.keys.getByDigest(rebuilt.keys.getById(keyIdOf(10))!.digest)?.suspended).toBe(true);
        expect(restored.quota.openWindows).toBe(3); // day two's windows only (keys 4, 8, 62); day one's were compacted
        expect(restored.parked.total).toBe(1);

        await backend.corrupt();
        const afterCorruption = projections(store);
        const corrupt = await new ProjectionSnapshots(snapshotStore, afterCorruption.parts, { logger, instanceId: 'c', compare: store.compareCheckpoints.bind(store) }).restore();
        expect(corrupt).toMatchObject({ kind: 'rebuild', reason: expect.stringMatching(/corrupt|checksum/) });
        expect(afterCorruption.keys.size).toBe(0);
        await catchUp(afterCorruption, head);
        expect(state(afterCorruption)).toEqual(state(rebuilt));
      } finally {
        await snapshotStore.close();
        await backend.close();
      }
    });

    it('a payload of several chunks (20 MB) comes back byte for byte', async () => {
      const backend = await open();
      const snapshots = await backend.openSnapshots();
      try {
        const checkpoint = (await backend.store.appendToStream('noise-1', [{ type: 'Noise', data: {} }])).checkpoint;
        const payload = randomBytes(20 * 1024 * 1024 + 17);
        expect(await snapshots.save({ name: 'big', checkpoint, payload, writtenBy: 'test' })).toBe(true);
        const loaded = await snapshots.load('big');
        expect(loaded?.checkpoint).toBe(checkpoint);
        expect(loaded?.payload.equals(payload)).toBe(true);
      } finally {
        await snapshots.close();
        await backend.close();
      }
    });

    it('several writers: a snapshot is only ever replaced by one at a later checkpoint', async () => {
      const backend = await open();
      const writers = [await backend.openSnapshots(), await backend.openSnapshots(), await backend.openSnapshots()];
      try {
        const checkpoints: string[] = [];
        for (let i = 0; i < 6; i++) checkpoints.push((await backend.store.appendToStream(`noise-${i}`, [{ type: 'Noise', data: { i } }])).checkpoint);
        // Every writer tries every checkpoint, newest and oldest interleaved, all at once.
        const attempts = writers.flatMap((writer, w) =>
          [...checkpoints].sort(() => (w % 2 === 0 ? 1 : -1)).map((checkpoint) =>
            writer.save({ name: 'projections', checkpoint, payload: Buffer.from(`payload at ${checkpoint}`), writtenBy: `writer-${w}` }),
          ),
        );
        const results = await Promise.all(attempts);
        const newest = checkpoints.at(-1) as string;
        const stored = await writers[0]!.load('projections');
        console.log(`${name}: ${results.filter(Boolean).length} of ${results.length} concurrent snapshot writes applied`);
        expect(stored?.checkpoint).toBe(newest);
        expect(stored?.payload.toString()).toBe(`payload at ${newest}`);
        expect(await writers[1]!.save({ name: 'projections', checkpoint: checkpoints[0] as string, payload: Buffer.from('old'), writtenBy: 'late' })).toBe(false);
        expect((await writers[2]!.load('projections'))?.payload.toString()).toBe(`payload at ${newest}`);
      } finally {
        for (const writer of writers) await writer.close();
        await backend.close();
      }
    });
  });
}
