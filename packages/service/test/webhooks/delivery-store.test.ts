/**
 * The delivery store's lease on both backends (a real SQLite file, a real PostgreSQL schema): one
 * holder at a time, taken over only after expiry, progress fenced by the lease, and concurrent
 * acquisitions with exactly one winner.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type DeliveryStore, openPostgresDeliveryStore, openSqliteDeliveryStore } from '../../src/webhooks/delivery-store.js';
import { dropSchema, PG_SKIP_REASON, TEST_DATABASE_URL, uniqueSchemaName, withAdminClient } from '../store/pg-test-schema.js';

const initial = { deliveredThrough: 'cp-0', replayRevision: -1, failingSinceMs: null, attempt: 0, nextAttemptMs: 0 };
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

function contract(name: string, open: () => Promise<DeliveryStore[]>) {
  describe(`delivery store: ${name}`, () => {
    it('one holder at a time; taken over only after expiry; a lost lease cannot move the cursor', async () => {
      const [a, b] = (await open()) as [DeliveryStore, DeliveryStore];
      const t = 1_000_000;
      expect(await a.acquire('wh_1', 'a', t, 1000, initial)).toMatchObject({ deliveredThrough: 'cp-0' });
      expect(await b.acquire('wh_1', 'b', t + 10, 1000, initial)).toBeNull();
      expect(await a.advance('wh_1', 'a', t + 20, 1000, { deliveredThrough: 'cp-1' })).toBe(true);
      // The renewal pushed the expiry: still a's.
      expect(await b.acquire('wh_1', 'b', t + 1010, 1000, initial)).toBeNull();
      const taken = await b.acquire('wh_1', 'b', t + 1030, 1000, initial);
      expect(taken).toMatchObject({ deliveredThrough: 'cp-1' });
      expect(await a.advance('wh_1', 'a', t + 1040, 1000, { deliveredThrough: 'cp-2' })).toBe(false);
      expect((await b.cursor('wh_1'))?.deliveredThrough).toBe('cp-1');
      await b.release('wh_1', 'b');
      expect(await a.acquire('wh_1', 'a', t + 1050, 1000, initial)).not.toBeNull();
    });

    it('concurrent acquisitions of a free lease: exactly one winner', async () => {
      const stores = await open();
      const results = await Promise.all(stores.flatMap((store, i) => [0, 1, 2].map((j) => store.acquire('wh_race', `h${i}-${j}`, 5_000_000, 1000, initial))));
      expect(results.filter((r) => r !== null)).toHaveLength(1);
    });

    it('records attempts newest first', async () => {
      const [a] = (await open()) as [DeliveryStore];
      for (let i = 1; i <= 3; i++) {
        await a.recordAttempt({ endpointId: 'wh_log', eventId: `e${i}`, eventType: 'KeyIssued', checkpoint: `cp-${i}`, attempt: 1, outcome: i === 2 ? 'failed' : 'delivered', httpStatus: i === 2 ? 500 : 204, latencyMs: i, error: i === 2 ? 'HTTP 500' : null, atMs: i, instanceId: 'a' });
      }
      expect((await a.listAttempts('wh_log', 2)).map((x) => x.eventId)).toEqual(['e3', 'e2']);
    });
  });
}

contract('SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyledger-deliveries-'));
  const stores = [openSqliteDeliveryStore(join(dir, 'ledger.db')), openSqliteDeliveryStore(join(dir, 'ledger.db'))];
  cleanups.push(async () => {
    for (const store of stores) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return stores;
});

describe.skipIf(!TEST_DATABASE_URL)(`PostgreSQL${PG_SKIP_REASON}`, () => {
  contract('PostgreSQL', async () => {
    const schema = uniqueSchemaName('kldeliv');
    await withAdminClient((client) => client.query(`create schema "${schema}"`));
    const stores = await Promise.all([openPostgresDeliveryStore(TEST_DATABASE_URL!, schema), openPostgresDeliveryStore(TEST_DATABASE_URL!, schema)]);
    cleanups.push(async () => {
      for (const store of stores) await store.close();
      await dropSchema(schema);
    });
    return stores;
  });
});
