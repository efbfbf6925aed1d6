/**
 * The snapshot fence, proven by holding a writer's transaction open. Positions come from a
 * sequence and become visible at commit, not in order: an event X that took its position first
 * but commits last would be skipped forever by a reader of "position > checkpoint". The store's
 * global read must neither return anything ordered after X while X is in flight, nor skip X once
 * it commits.
 */

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventStore, RecordedEvent } from '../../src/store/port.js';
import { openPostgresEventStore, parseCheckpoint } from '../../src/store/postgres/index.js';
import {
  dropSchema,
  holdFenceLock,
  PG_SKIP_REASON,
  TEST_DATABASE_URL,
  uniqueSchemaName,
  withAdminClient,
  withOtherDatabase,
} from './pg-test-schema.js';

const url = TEST_DATABASE_URL as string;

interface HeldAppend {
  client: pg.Client;
  eventId: string;
  position: bigint;
  transactionId: bigint;
}

/** Appends one event through the store's own SQL path (kl_append) inside a transaction left open. */
async function beginHeldAppend(schema: string, stream: string): Promise<HeldAppend> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  const eventId = randomUUID();
  await client.query('begin');
  const { rows } = await client.query<{ status: string; tx: string; positions: string[] }>(
    `select status, transaction_id::text as tx, positions::text[] as positions
       from "${schema}".kl_append($1, $2, 'any', null, $3::uuid[], $4::text[], $5::json[], $6::json[])`,
    [stream, stream.split('-')[0], [eventId], ['Held'], ['{"held":true}'], ['{}']],
  );
  expect(rows[0]?.status).toBe('ok');
  return { client, eventId, position: BigInt(rows[0]!.positions[0]!), transactionId: BigInt(rows[0]!.tx) };
}

/** Reads pages until an empty one, as a catch-up subscription would, returning the new checkpoint. */
async function catchUp(store: EventStore, after: string | undefined, maxCount: number) {
  const events: RecordedEvent[] = [];
  let checkpoint = after;
  for (let i = 0; i < 1_000; i++) {
    const page = await store.readAll({ after: checkpoint, maxCount });
    expect(store.compareCheckpoints(page.checkpoint, checkpoint)).toBeGreaterThanOrEqual(0);
    checkpoint = page.checkpoint;
    if (page.events.length === 0) return { events, checkpoint };
    events.push(...page.events);
  }
  throw new Error('never caught up');
}

describe.skipIf(!TEST_DATABASE_URL)(`PostgreSQL snapshot fence with a writer held open${PG_SKIP_REASON}`, () => {
  const schema = uniqueSchemaName('kl_fence');
  let store: EventStore;
  let releaseFenceLock: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    // Holding a transaction open stalls global readers of this database: keep other suites that
    // read the global log (they take this lock shared) from running meanwhile.
    releaseFenceLock = await holdFenceLock('exclusive');
    store = await openPostgresEventStore({ connectionString: url, schema });
  });

  afterAll(async () => {
    await store?.close();
    await dropSchema(schema);
    await releaseFenceLock?.();
  });

  it.each([1, 2, 1000])(
    'never returns events past an open writer and never skips it once it commits (pages of %i)',
    async (pageSize) => {
      const before = await store.appendToStream(`w-${randomUUID()}`, [{ type: 'Before', data: {} }]);
      const start = await catchUp(store, undefined, pageSize);
      expect(start.events.map((e) => e.id)).toContain(before.events[0]?.id);

      const held = await beginHeldAppend(schema, `x-${randomUUID()}`);
      let committed = false;
      try {
        const y = await store.appendToStream(`y-${randomUUID()}`, [{ type: 'Y', data: {} }]);
        const z = await store.appendToStream(`z-${randomUUID()}`, [{ type: 'Z', data: { n: 1 } }, { type: 'Z', data: { n: 2 } }]);
        const later = [...y.events, ...z.events];

        // Y and Z committed, and their positions are larger than X's, which is not visible yet.
        const yPosition = parseCheckpoint(y.checkpoint);
        expect(yPosition.position).toBeGreaterThan(held.position);
        expect(yPosition.transactionId).toBeGreaterThan(held.transactionId);

        // The naive reader: by position alone it sees Y and Z now, so its checkpoint passes X.
        const naive = await withAdminClient(async (client) => {
          const visible = await client.query<{ id: string; pos: string }>(
            `select event_id::text as id, position::text as pos from "${schema}".kl_events where position > $1 order by position`,
            [held.position.toString()],
          );
          return visible.rows;
        });
        expect(naive.map((r) => r.id)).toEqual(later.map((e) => e.id));
        const naiveCheckpoint = naive.at(-1)!.pos;

        // The fenced reader returns nothing past X: not from its checkpoint, not from the start, not filtered.
        const resumed = await store.readAll({ after: start.checkpoint, maxCount: pageSize });
        expect(resumed.events).toEqual([]);
        const fromStart = await catchUp(store, undefined, pageSize);
        expect(fromStart.events.map((e) => e.id)).toEqual(start.events.map((e) => e.id));
        const filtered = await store.readAll({ after: start.checkpoint, types: ['Y', 'Z'] });
        expect(filtered.events).toEqual([]);
        // Whatever checkpoint it hands out stays before X, so X cannot be skipped.
        const heldCheckpoint = `${held.transactionId}.${held.position}`;
        for (const checkpoint of [resumed.checkpoint, fromStart.checkpoint, filtered.checkpoint]) {
          expect(store.compareCheckpoints(checkpoint, heldCheckpoint)).toBeLessThan(0);
        }

        // A waiter parked at the reader's checkpoint is not released by Y and Z...
        const waiting = store.waitForEvents(resumed.checkpoint, { timeoutMs: 600_000 });
        let woke = false;
        void waiting.then(() => (woke = true));
        await new Promise((resolve) => setTimeout(resolve, 100));
        expect(woke).toBe(false);

        await held.client.query('commit');
        committed = true;
        // ...but it is released once X commits (raw SQL announces nothing, so by the safety poll).
        await waiting;

        // Resuming from the checkpoint it already had, the reader gets X, then Y and Z, exactly once.
        const after = await catchUp(store, resumed.checkpoint, pageSize);
        expect(after.events.map((e) => e.id)).toEqual([held.eventId, ...later.map((e) => e.id)]);
        expect(after.events[0]).toMatchObject({ type: 'Held', data: { held: true } });
        const everything = await catchUp(store, undefined, pageSize);
        const ids = everything.events.map((e) => e.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids.slice(-4)).toEqual([held.eventId, ...later.map((e) => e.id)]);

        // The naive reader, resuming after the last position it saw, never gets X.
        const naiveAfter = await withAdminClient(async (client) =>
          (
            await client.query<{ id: string }>(
              `select event_id::text as id from "${schema}".kl_events where position > $1 order by position`,
              [naiveCheckpoint],
            )
          ).rows.map((r) => r.id),
        );
        expect(naiveAfter).not.toContain(held.eventId);
      } finally {
        if (!committed) await held.client.query('rollback').catch(() => undefined);
        await held.client.end();
      }
    },
  );

  it('an unrelated open write transaction in the same database holds global reads back, skipping nothing', async () => {
    // The documented cost of the fence: it cannot tell our writers from other writers of this
    // database, so any such transaction with an id holds readers back (ours are bounded by the
    // pool's idle_in_transaction_session_timeout and statement_timeout).
    const start = await catchUp(store, undefined, 100);
    await withAdminClient(async (other) => {
      await other.query('begin');
      await other.query('select pg_current_xact_id()');
      const y = await store.appendToStream(`y-${randomUUID()}`, [{ type: 'Y', data: {} }]);
      const held = await store.readAll({ after: start.checkpoint });
      expect(held.events).toEqual([]);
      await other.query('commit');
      const after = await catchUp(store, held.checkpoint, 100);
      expect(after.events.map((e) => e.id)).toEqual([y.events[0]?.id]);
    });
  });

  it('a write transaction left open in another database of the server does not delay readers', async () => {
    const start = await catchUp(store, undefined, 100);
    await withOtherDatabase(async (other) => {
      await other.query('begin');
      await other.query('create temp table held_open (n int)');
      const { rows } = await other.query<{ xid: string }>('select pg_current_xact_id()::text as xid');
      try {
        const began = performance.now();
        const revoked = await store.appendToStream(`key-${randomUUID()}`, [{ type: 'KeyRevoked', data: { reason: 'test' } }]);
        // The revocation is older than nothing of ours, only newer than the other database's transaction.
        expect(parseCheckpoint(revoked.checkpoint).transactionId).toBeGreaterThan(BigInt(rows[0]!.xid));
        await store.waitForEvents(start.checkpoint, { timeoutMs: 5_000 });
        const read = await store.readAll({ after: start.checkpoint });
        const elapsedMs = performance.now() - began;
        console.log(`fence: revocation readable ${elapsedMs.toFixed(1)} ms after its append, another database holding xid ${rows[0]!.xid} open`);
        expect(read.events.map((e) => e.id)).toEqual([revoked.events[0]?.id]);
        expect(elapsedMs).toBeLessThan(1_000);
        // Still open: the fence has moved past it, and the next reader resumes after the revocation.
        expect((await other.query<{ n: string }>("select count(*)::text as n from pg_stat_activity where backend_xid = $1::text::xid", [rows[0]!.xid])).rows[0]?.n).toBe('1');
        const next = await store.readAll({ after: read.checkpoint });
        expect(next.events).toEqual([]);
      } finally {
        await other.query('rollback');
      }
    });
  });

  it('with another database holding an older transaction, the fence stops at our own open writer and never skips it', async () => {
    const start = await catchUp(store, undefined, 100);
    await withOtherDatabase(async (other) => {
      await other.query('begin');
      await other.query('create temp table held_open (n int)');
      try {
        // Ours, after the other database's transaction began: readable at once.
        const w = await store.appendToStream(`w-${randomUUID()}`, [{ type: 'W', data: {} }]);
        const held = await beginHeldAppend(schema, `x-${randomUUID()}`);
        let committed = false;
        try {
          const y = await store.appendToStream(`y-${randomUUID()}`, [{ type: 'Y', data: {} }]);
          const page = await store.readAll({ after: start.checkpoint });
          expect(page.events.map((e) => e.id)).toEqual([w.events[0]?.id]);
          expect(store.compareCheckpoints(page.checkpoint, `${held.transactionId}.${held.position}`)).toBeLessThan(0);
          expect((await store.readAll({ after: page.checkpoint })).events).toEqual([]);
          await held.client.query('commit');
          committed = true;
          const after = await catchUp(store, page.checkpoint, 1);
          expect(after.events.map((e) => e.id)).toEqual([held.eventId, y.events[0]?.id]);
        } finally {
          if (!committed) await held.client.query('rollback').catch(() => undefined);
          await held.client.end();
        }
      } finally {
        await other.query('rollback');
      }
    });
  });

  it('a held writer that rolls back releases the readers without leaving a trace', async () => {
    const start = await catchUp(store, undefined, 100);
    const held = await beginHeldAppend(schema, `x-${randomUUID()}`);
    try {
      const y = await store.appendToStream(`y-${randomUUID()}`, [{ type: 'Y', data: {} }]);
      expect((await store.readAll({ after: start.checkpoint })).events).toEqual([]);
      await held.client.query('rollback');
      const after = await catchUp(store, start.checkpoint, 100);
      expect(after.events.map((e) => e.id)).toEqual([y.events[0]?.id]);
    } finally {
      await held.client.end();
    }
  });
});
