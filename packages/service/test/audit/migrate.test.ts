/**
 * A 100 000-event SQLite installation moved to PostgreSQL with `migrateLedger` (what `keyledger
 * migrate` runs): every check holds (count, tree size, root hash, whole-record digest, projections
 * digest, verify answers), and, checked independently here, both stores hold the same events and
 * the same key states. The events are written through the store directly, in big batches.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateEventData } from '@keyledger/schemas';
import { migrateLedger, verifyAnswerOf } from '../../src/audit/migrate.js';
import { NO_AUDIT_LOG } from '../../src/audit/log-access.js';
import { StoreNotEmptyError } from '../../src/audit/import.js';
import { KeyProjection } from '../../src/projections/key-projection.js';
import { ProjectionRunner } from '../../src/projections/runner.js';
import { openSqliteEventStore } from '../../src/store/sqlite/index.js';
import { openPostgresEventStore } from '../../src/store/postgres/index.js';
import type { EventStore, NewEvent, StreamAppend } from '../../src/store/port.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from '../../../../test/support/services.js';
import { digestOf, keyIdOf, keyIssued, keyRevoked, keySuspended, usageBatch } from '../projections/ledger.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-migrate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KEYS = 60_000;
const SUSPENDED = 20_000;
const REVOKED = 10_000;
const USAGE = 10_000;
const TOTAL = KEYS + SUSPENDED + REVOKED + USAGE;

/** 100 000 events: keys issued, suspended and revoked, and usage batches, in transactions of 500 streams. */
async function seed(store: EventStore): Promise<void> {
  const streams = (from: number, to: number, event: (i: number) => NewEvent): StreamAppend[] =>
    Array.from({ length: to - from }, (_, k) => ({ stream: `key-${keyIdOf(from + k)}`, events: [event(from + k)] }));
  for (let i = 0; i < KEYS; i += 500) await store.appendToStreams(streams(i, Math.min(KEYS, i + 500), keyIssued));
  for (let i = 0; i < SUSPENDED; i += 500) await store.appendToStreams(streams(i, i + 500, keySuspended));
  for (let i = SUSPENDED; i < SUSPENDED + REVOKED; i += 500) await store.appendToStreams(streams(i, i + 500, (k) => keyRevoked(k)));
  for (let i = 0; i < USAGE; i += 500) {
    await store.appendToStream('usage-i1', Array.from({ length: 500 }, (_, k) => usageBatch([(i + k) % KEYS, (i + k + 1) % KEYS], new Date(Date.parse('2030-06-01T12:00:10.000Z') + (i + k) * 1000).toISOString())));
  }
}

async function keysOf(store: EventStore): Promise<KeyProjection> {
  const keys = new KeyProjection();
  const runner = new ProjectionRunner(store, [keys]);
  await runner.start();
  await runner.stop();
  return keys;
}

describe.skipIf(skipWithoutPostgres)('migrate a SQLite installation to PostgreSQL', () => {
  it('moves 100 000 events with identical state and verify answers, and every check holds', { timeout: 300_000 }, async () => {
    const source = await openSqliteEventStore({ file: join(dir, 'keyledger.db'), validate: validateEventData, synchronous: 'NORMAL' });
    const seeded = performance.now();
    await seed(source);
    expect(await source.countEvents()).toBe(TOTAL);
    const { schema, drop } = await createSchema('kl_migrate');
    const target = await openPostgresEventStore({ connectionString: DATABASE_URL as string, schema, validate: validateEventData });
    try {
      const started = performance.now();
      let copied = 0;
      const summary = await migrateLedger({ source, target, sourceLog: NO_AUDIT_LOG, targetLog: NO_AUDIT_LOG, onProgress: (phase, done) => { if (phase === 'copy') copied = done; } });
      const ms = performance.now() - started;
      console.log(`migrate: seeded ${TOTAL} SQLite events in ${((started - seeded) / 1000).toFixed(1)} s; copied and verified them into PostgreSQL in ${(ms / 1000).toFixed(1)} s (${Math.round(TOTAL / (ms / 1000))} events/s end to end)`);
      for (const check of summary.checks) console.log(`  ${check.ok ? 'ok     ' : 'DIFFERS'} ${check.name}: ${check.target}`);
      expect(copied).toBe(TOTAL);
      expect(summary.events).toBe(TOTAL);
      expect(summary.checks.filter((check) => !check.ok)).toEqual([]);
      expect(summary.checks.map((check) => check.name)).toEqual(expect.arrayContaining(['event count', 'tree size', 'root hash', 'projections digest']));

      // Independently: same events in the same order, with ids, revisions, metadata and recordedAt.
      expect(await target.countEvents()).toBe(TOTAL);
      let after: { s?: string; t?: string } = {};
      for (;;) {
        const [a, b] = await Promise.all([source.readAll({ after: after.s, maxCount: 5000 }), target.readAll({ after: after.t, maxCount: 5000 })]);
        expect(b.events.map(({ checkpoint: _c, ...e }) => e)).toEqual(a.events.map(({ checkpoint: _c, ...e }) => e));
        if (a.events.length < 5000) break;
        after = { s: a.checkpoint, t: b.checkpoint };
      }
      // Same key states and the same verify answer for keys of every kind of history.
      const [before, moved] = [await keysOf(source), await keysOf(target)];
      const now = Date.parse('2030-06-02T00:00:00.000Z');
      for (const i of [0, 1, 3, 19_999, 20_000, 29_999, 30_000, 59_999]) {
        expect(moved.getById(keyIdOf(i))).toEqual(before.getById(keyIdOf(i)));
        expect(verifyAnswerOf(moved, digestOf(i), now)).toBe(verifyAnswerOf(before, digestOf(i), now));
      }
      expect(verifyAnswerOf(moved, digestOf(5), now)).toBe(`${keyIdOf(5)}:SUSPENDED`);
      expect(verifyAnswerOf(moved, digestOf(25_000), now)).toBe(`${keyIdOf(25_000)}:REVOKED`);
      expect(verifyAnswerOf(moved, digestOf(45_001), now)).toBe(`${keyIdOf(45_001)}:VALID`);

      // A second migrate into the same (now full) schema is refused before it writes anything.
      await expect(migrateLedger({ source, target, sourceLog: NO_AUDIT_LOG, targetLog: NO_AUDIT_LOG })).rejects.toBeInstanceOf(StoreNotEmptyError);
      expect(await target.countEvents()).toBe(TOTAL);
    } finally {
      await target.close();
      await drop();
      await source.close();
    }
  });
});
