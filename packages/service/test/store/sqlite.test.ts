import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EventStoreError, StoreUnavailableError, WrongExpectedRevisionError } from '../../src/store/errors.js';
import type { EventStore, NewEvent } from '../../src/store/port.js';
import { SCHEMA_VERSION, openSqliteEventStore } from '../../src/store/sqlite/index.js';
import { describeEventStoreContract } from './contract.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-sqlite-'));
const freshFile = () => join(dir, `${randomUUID()}.db`);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeEventStoreContract('sqlite', ({ validate }) => openSqliteEventStore({ file: freshFile(), validate }), {
  // A position far past the head (still a valid decimal checkpoint).
  beyond: (head) => [String(Number(head) + 1), String(Number(head) + 2 ** 40)],
});

describe('sqlite event store', () => {
  const opened: EventStore[] = [];
  const open = async (file: string, extra: { pollIntervalMs?: number; busyTimeoutMs?: number } = {}) => {
    const store = await openSqliteEventStore({ file, synchronous: 'NORMAL', ...extra });
    opened.push(store);
    return store;
  };
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });
  const events = (count: number): NewEvent[] => Array.from({ length: count }, (_, i) => ({ type: 'Numbered', data: { i } }));

  it('given appends made in one turn, when they share a group commit, then each keeps its own outcome', async () => {
    const store = await open(freshFile());
    const first = await store.appendToStream('key-a', [{ id: randomUUID(), type: 'Numbered', data: { i: 0 } }]);
    const retried: NewEvent = { id: randomUUID(), type: 'Numbered', data: { i: 1 } };
    // One turn of the event loop: every call below is queued before any commits.
    const results = await Promise.allSettled([
      store.appendToStream('key-a', [retried], { expectedRevision: first.nextExpectedRevision }),
      store.appendToStream('key-a', events(1), { expectedRevision: first.nextExpectedRevision }), // stale: loses to the first
      store.appendToStream('key-a', [retried], { expectedRevision: first.nextExpectedRevision }), // the same batch again: a replay
      store.appendToStream('key-b', events(2), { expectedRevision: 'no_stream' }),
      store.appendToStream('key-c', events(1), { expectedRevision: 'no_stream' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(WrongExpectedRevisionError);
    const [won, , replay, b, c] = results.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    expect(replay?.replayed).toBe(true);
    expect(replay?.events.map((e) => e.id)).toEqual(won?.events.map((e) => e.id));
    expect(b?.nextExpectedRevision).toBe(1);
    expect(c?.nextExpectedRevision).toBe(0);
    // Positions follow the order of the calls, and nothing of the refused append was written.
    const all = (await store.readAll()).events;
    expect(all.map((e) => e.stream)).toEqual(['key-a', 'key-a', 'key-b', 'key-b', 'key-c']);
    expect(await store.readStream('key-a')).toHaveLength(2);
  });

  it('given appends queued when the store closes, when it closes, then they are committed first', async () => {
    const file = freshFile();
    const store = await openSqliteEventStore({ file, synchronous: 'NORMAL' });
    const pending = store.appendToStream('key-z', events(1));
    await store.close();
    expect((await pending).nextExpectedRevision).toBe(0);
    const reopened = await open(file);
    expect(await reopened.readStream('key-z')).toHaveLength(1);
  });

  it('keeps events and revisions across a reopen of the same file', async () => {
    const file = freshFile();
    const first = await open(file);
    const written = await first.appendToStream('key-1', events(3));
    await first.close();

    const second = await open(file);
    expect(await second.readStream('key-1')).toEqual(written.events);
    await expect(second.appendToStream('key-1', events(1), { expectedRevision: 1 })).rejects.toBeInstanceOf(
      WrongExpectedRevisionError,
    );
    const more = await second.appendToStream('key-1', events(1), { expectedRevision: 2 });
    expect(more.events[0]?.revision).toBe(3);
    expect(second.compareCheckpoints(written.checkpoint, more.checkpoint)).toBeLessThan(0);
    expect((await second.readAll()).events.map((e) => e.revision)).toEqual([0, 1, 2, 3]);
  });

  it('creates missing directories and migrates on open, idempotently', async () => {
    const file = join(dir, randomUUID(), 'nested', 'ledger.db');
    const [a, b] = await Promise.all([open(file), open(file)]);
    await a.appendToStream('key-1', events(1));
    await a.close();
    await b.close();
    const third = await open(file);
    expect((await third.readStream('key-1')).length).toBe(1);
    await third.close();

    const raw = new Database(file, { readonly: true });
    try {
      expect(raw.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
      expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
      const tables = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      expect(tables).toEqual(expect.arrayContaining(['events', 'streams']));
    } finally {
      raw.close();
    }
  });

  it('refuses a file whose schema is newer than this build', async () => {
    const file = freshFile();
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    await expect(open(file)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('reports a path it cannot open as StoreUnavailableError', async () => {
    await expect(open(dir)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('two store instances on one file see and respect each other', async () => {
    const file = freshFile();
    const a = await open(file, { pollIntervalMs: 20 });
    const b = await open(file, { pollIntervalMs: 20 });
    const fromA = await a.appendToStream('key-1', events(2), { expectedRevision: 'no_stream' });
    expect((await b.readAll()).events).toEqual(fromA.events);

    await expect(b.appendToStream('key-1', events(1), { expectedRevision: 'no_stream' })).rejects.toMatchObject({
      actual: 1,
    });
    const fromB = await b.appendToStream('key-1', events(1), { expectedRevision: 1 });
    expect(fromB.events[0]?.revision).toBe(2);
    const all = await a.readAll({ after: fromA.checkpoint });
    expect(all.events).toEqual(fromB.events);

    // A replay is recognised whichever instance wrote the original.
    const batch = [{ id: randomUUID(), type: 'Once', data: {} }];
    const original = await a.appendToStream('key-2', batch);
    const replay = await b.appendToStream('key-2', batch, { expectedRevision: 'no_stream' });
    expect(replay).toEqual({ ...original, replayed: true });

    // The other instance's append wakes a waiter through the poll (the timeout exceeds the test's).
    const waiting = b.waitForEvents(original.checkpoint, { timeoutMs: 120_000 });
    setTimeout(() => void a.appendToStream('key-3', events(1)), 30);
    await waiting;
    expect((await b.readAll({ after: original.checkpoint })).events.map((e) => e.stream)).toEqual(['key-3']);
  });

  it('turns a write lock held too long by another process into StoreUnavailableError, writing nothing', async () => {
    const file = freshFile();
    const store = await open(file, { busyTimeoutMs: 50 });
    const other = new Database(file);
    try {
      other.exec('BEGIN IMMEDIATE');
      const error = await store.appendToStream('key-1', events(1)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toMatch(/locked/);
      other.exec('COMMIT');
      expect(await store.readStream('key-1')).toEqual([]);
      expect((await store.appendToStream('key-1', events(1))).events[0]?.revision).toBe(0);
    } finally {
      other.close();
    }
  });

  it('readAll pages 1000 events by default and at most 10 000', async () => {
    const store = await open(freshFile());
    for (let i = 0; i < 11; i++) await store.appendToStream(`key-${i}`, events(1000));
    expect((await store.readAll()).events).toHaveLength(1000);
    expect((await store.readAll({ maxCount: 50_000 })).events).toHaveLength(10_000);
  });

  it('long filter lists (read by scanning) agree with short ones (read by merging index ranges)', async () => {
    const store = await open(freshFile());
    const categories = Array.from({ length: 12 }, (_, i) => `cat${i}`);
    const types = Array.from({ length: 12 }, (_, i) => `Type${i}`);
    for (let i = 0; i < 300; i++) {
      await store.appendToStream(`${categories[(i * 7) % 12]}-${i % 5}`, [{ type: types[(i * 5) % 12] as string, data: { i } }]);
    }
    const pageThrough = async (filter: { categories?: string[]; types?: string[] }) => {
      const ids: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.readAll({ ...filter, after, maxCount: 7 });
        ids.push(...page.events.map((e) => e.id));
        if (page.events.length === 0) return ids;
        after = page.checkpoint;
      }
    };
    const everything = (await store.readAll()).events;
    const expectIds = (keep: (e: (typeof everything)[number]) => boolean) => everything.filter(keep).map((e) => e.id);

    const manyCategories = categories.slice(0, 10);
    const manyTypes = types.slice(1, 11);
    expect(await pageThrough({ categories: manyCategories })).toEqual(expectIds((e) => manyCategories.includes(e.category)));
    expect(await pageThrough({ types: manyTypes })).toEqual(expectIds((e) => manyTypes.includes(e.type)));
    expect(await pageThrough({ categories: manyCategories, types: manyTypes })).toEqual(
      expectIds((e) => manyCategories.includes(e.category) && manyTypes.includes(e.type)),
    );
    const fewCategories = ['cat3', 'cat5', 'cat3'];
    const fewTypes = ['Type2', 'Type7'];
    expect(await pageThrough({ categories: fewCategories })).toEqual(expectIds((e) => fewCategories.includes(e.category)));
    expect(await pageThrough({ types: fewTypes })).toEqual(expectIds((e) => fewTypes.includes(e.type)));
    expect(await pageThrough({ categories: fewCategories, types: manyTypes })).toEqual(
      expectIds((e) => fewCategories.includes(e.category) && manyTypes.includes(e.type)),
    );
    // [] means "no filter", like undefined.
    expect(await pageThrough({ categories: [] })).toEqual(everything.map((e) => e.id));
  });

  it.each<[string, (store: EventStore) => Promise<unknown>]>([
    ['a timeout that is not a number', (s) => s.waitForEvents(undefined, { timeoutMs: '5' as unknown as number })],
  ])('rejects %s with a typed error', async (_, call) => {
    const store = await open(freshFile());
    await store.appendToStream('key-1', events(1));
    const error = await call(store).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventStoreError);
  });

  it('accepts NORMAL synchronous mode and rejects unknown modes', async () => {
    const store = await open(freshFile());
    expect((await store.appendToStream('key-1', events(1))).replayed).toBe(false);
    await expect(
      openSqliteEventStore({ file: freshFile(), synchronous: 'OFF' as 'FULL' }),
    ).rejects.toBeInstanceOf(EventStoreError);
  });

  it('does not leave the file behind when asked to open an invalid configuration', () => {
    const file = freshFile();
    return openSqliteEventStore({ file, pollIntervalMs: 0 }).then(
      () => expect.unreachable(),
      (error: unknown) => {
        expect(error).toBeInstanceOf(EventStoreError);
        expect(existsSync(file)).toBe(false);
      },
    );
  });
});
