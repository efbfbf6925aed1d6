import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DuplicateEventIdError,
  EventStoreError,
  StoreUnavailableError,
} from '../../src/store/errors.js';
import type { EventStore } from '../../src/store/port.js';
import { InvalidReadError, openPostgresEventStore, parseCheckpoint, schemaNames } from '../../src/store/postgres/index.js';
import { MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { describeEventStoreContract } from './contract.js';
import {
  dropSchema,
  holdFenceLock,
  PG_SKIP_REASON,
  TEST_DATABASE_URL,
  uniqueSchemaName,
  withAdminClient,
} from './pg-test-schema.js';

const url = TEST_DATABASE_URL as string;

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe.skipIf(!TEST_DATABASE_URL)(`PostgreSQL event store${PG_SKIP_REASON}`, () => {
  const schemas: string[] = [];
  let releaseFenceLock: (() => Promise<void>) | undefined;

  function freshSchema(): string {
    const schema = uniqueSchemaName('kl_pg');
    schemas.push(schema);
    return schema;
  }

  beforeAll(async () => {
    // Global reads must not overlap the test that holds a writer's transaction open on purpose.
    releaseFenceLock = await holdFenceLock('shared');
  });

  afterAll(async () => {
    for (const schema of schemas) await dropSchema(schema);
    await releaseFenceLock?.();
  });

  // One schema for the whole contract run: its tests use unique streams, so sharing is part of the contract.
  const contractSchema = freshSchema();
  describeEventStoreContract(
    'postgres',
    (opts) => openPostgresEventStore({ connectionString: url, schema: contractSchema, validate: opts.validate }),
    {
      // Past the head by transaction id (far beyond any xid the server will assign during the
      // test), and by position within the head's transaction.
      beyond: (head) => {
        const { transactionId, position } = parseCheckpoint(head);
        return [`${transactionId + 2n ** 40n}.0`, `${transactionId}.${position + 2n ** 40n}`, `${transactionId + 2n ** 40n}.${position}`];
      },
    },
  );

  describe('migrations', () => {
    it('two instances opening a fresh schema at once both succeed and apply each migration once', async () => {
      const schema = freshSchema();
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => openPostgresEventStore({ connectionString: url, schema })),
      );
      try {
        const versions = await withAdminClient(async (client) =>
          (await client.query<{ version: number }>(`select version from "${schema}".kl_migrations order by version`)).rows.map(
            (row) => row.version,
          ),
        );
        expect(versions).toEqual(MIGRATIONS.map((m) => m.version));
        const stream = `acct-${randomUUID()}`;
        await stores[0]?.appendToStream(stream, [{ type: 'Opened', data: {} }]);
        expect((await stores[3]?.readStream(stream))?.map((e) => e.type)).toEqual(['Opened']);
      } finally {
        await Promise.all(stores.map((store) => store.close()));
      }
      // Reopening an up-to-date schema applies nothing and keeps the data.
      const again = await openPostgresEventStore({ connectionString: url, schema });
      await again.close();
      const count = await withAdminClient(
        async (client) => (await client.query(`select count(*)::int as n from "${schema}".kl_migrations`)).rows[0].n,
      );
      expect(count).toBe(MIGRATIONS.length);
    });

    it('rejects a schema name that is not a plain lower-case identifier', async () => {
      const error = await rejectionOf(openPostgresEventStore({ connectionString: url, schema: 'Robert"; drop table x; --' }));
      expect(error).toBeInstanceOf(EventStoreError);
      expect((error as Error).message).toContain('schema name');
    });
  });

  describe('database unavailable', () => {
    it('a closed port gives StoreUnavailableError naming postgres, not a hang', async () => {
      const error = await rejectionOf(
        openPostgresEventStore({ connectionString: 'postgres://postgres@127.0.0.1:1/postgres', connectTimeoutMs: 2_000 }),
      );
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error).toMatchObject({ backend: 'postgres' });
      expect((error as Error).message).toMatch(/^postgres event store unavailable/);
    }, 10_000);

    it('a host that never answers gives StoreUnavailableError after the connect timeout', async () => {
      // 10.255.255.1 is not routed: the connect either fails fast or hangs until our timeout.
      const error = await rejectionOf(
        openPostgresEventStore({ connectionString: 'postgres://postgres@10.255.255.1:5432/postgres', connectTimeoutMs: 500 }),
      );
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error).toMatchObject({ backend: 'postgres' });
    }, 10_000);

    it('a statement that exceeds statement_timeout gives StoreUnavailableError and leaves the store usable', async () => {
      const schema = freshSchema();
      const store = await openPostgresEventStore({ connectionString: url, schema, statementTimeoutMs: 200 });
      const stream = `acct-${randomUUID()}`;
      await store.appendToStream(stream, [{ type: 'Opened', data: {} }]);
      try {
        await withAdminClient(async (blocker) => {
          // Hold the stream's row lock so the append has to wait past its statement timeout.
          await blocker.query('begin');
          await blocker.query(`select 1 from "${schema}".kl_streams where stream_id = $1 for update`, [stream]);
          const error = await rejectionOf(store.appendToStream(stream, [{ type: 'Blocked', data: {} }]));
          expect(error).toBeInstanceOf(StoreUnavailableError);
          expect((error as Error).message).toContain('statement timeout');
          await blocker.query('rollback');
        });
        const after = await store.appendToStream(stream, [{ type: 'Unblocked', data: {} }]);
        expect(after.events[0]?.revision).toBe(1);
        expect((await store.readStream(stream)).map((e) => e.type)).toEqual(['Opened', 'Unblocked']);
      } finally {
        await store.close();
      }
    });
  });

  describe('connections', () => {
    it('pooled connections killed by the server: at worst one StoreUnavailableError, then the store recovers', async () => {
      const schema = freshSchema();
      const store = await openPostgresEventStore({ connectionString: url, schema, poolSize: 2 });
      try {
        const stream = `acct-${randomUUID()}`;
        await Promise.all([store.readStream(stream), store.readStream(stream)]);
        const killed = await withAdminClient(
          async (client) =>
            (
              await client.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [
                `keyledger:${schema}`,
              ])
            ).rowCount,
        );
        expect(killed).toBeGreaterThanOrEqual(1);
        const attempt = await store.appendToStream(stream, [{ type: 'Attempt', data: {} }]).then(
          () => undefined,
          (error: unknown) => error,
        );
        if (attempt !== undefined) expect(attempt).toBeInstanceOf(StoreUnavailableError);
        await store.appendToStream(stream, [{ type: 'Recovered', data: {} }]);
        const types = (await store.readStream(stream)).map((e) => e.type);
        expect(types.at(-1)).toBe('Recovered');
      } finally {
        await store.close();
      }
    });
  });

  describe('duplicate ids racing past the function pre-check', () => {
    it('a shared id that is not the first of its batch is caught by the unique index', async () => {
      const store = await openPostgresEventStore({ connectionString: url, schema: contractSchema });
      try {
        const shared = randomUUID();
        const streams = [`acct-${randomUUID()}`, `acct-${randomUUID()}`];
        const results = await Promise.allSettled(
          streams.map((stream) =>
            store.appendToStream(stream, [
              { type: 'First', data: {} },
              { id: shared, type: 'Shared', data: {} },
            ]),
          ),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost[0]?.reason).toBeInstanceOf(DuplicateEventIdError);
        expect(lost[0]?.reason).toMatchObject({ eventId: shared });
        const lengths = await Promise.all(streams.map(async (stream) => (await store.readStream(stream)).length));
        expect(lengths.sort()).toEqual([0, 2]);
      } finally {
        await store.close();
      }
    });
  });

  describe('LISTEN/NOTIFY across instances', () => {
    let a: EventStore;
    let b: EventStore;
    let schema: string;

    beforeAll(async () => {
      schema = freshSchema();
      a = await openPostgresEventStore({ connectionString: url, schema });
      // B's safety poll is longer than the test timeout: only a notification can wake it.
      b = await openPostgresEventStore({ connectionString: url, schema, pollIntervalMs: 600_000 });
    });

    afterAll(async () => {
      await a?.close();
      await b?.close();
    });

    it('an append through instance A wakes a waiter on instance B', async () => {
      const head = (await a.appendToStream(`acct-${randomUUID()}`, [{ type: 'Marker', data: {} }])).checkpoint;
      // B's wait starts from a checkpoint it has never seen: the head written by A.
      const waiting = b.waitForEvents(head, { timeoutMs: 600_000 });
      let resolved = false;
      void waiting.then(() => (resolved = true));
      await new Promise((r) => setTimeout(r, 50));
      expect(resolved).toBe(false);
      const stream = `acct-${randomUUID()}`;
      await a.appendToStream(stream, [{ type: 'Woken', data: {} }]);
      await waiting;
      const read = await b.readAll({ after: head });
      expect(read.events.map((e) => e.stream)).toEqual([stream]);
    });

    it('a listener whose connection is killed reconnects and wakes its waiters', async () => {
      const head = (await a.appendToStream(`acct-${randomUUID()}`, [{ type: 'Marker', data: {} }])).checkpoint;
      const waiting = b.waitForEvents(head, { timeoutMs: 600_000 });
      const applicationName = `keyledger-listener:${schemaNames(schema).channel}`.slice(0, 63);
      const killed = await withAdminClient(
        async (client) =>
          (
            await client.query(
              'select pg_terminate_backend(pid) as killed from pg_stat_activity where application_name = $1',
              [applicationName],
            )
          ).rowCount,
      );
      expect(killed).toBe(2);
      // Committed while B's listener is down (or just back): B learns of it through the reconnect.
      const stream = `acct-${randomUUID()}`;
      await a.appendToStream(stream, [{ type: 'WhileDown', data: {} }]);
      await waiting;
      expect((await b.readAll({ after: head })).events.map((e) => e.stream)).toEqual([stream]);
      // And the new connection listens: a later append wakes B again.
      const next = (await a.readAll({ after: head })).checkpoint;
      const again = b.waitForEvents(next, { timeoutMs: 600_000 });
      await a.appendToStream(`acct-${randomUUID()}`, [{ type: 'AfterReconnect', data: {} }]);
      await again;
    });
  });
});
