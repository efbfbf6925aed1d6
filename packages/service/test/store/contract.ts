/**
 * The event store contract: one suite every backend must pass. Each test opens a fresh store and
 * uses stream names (and categories) that no other test uses, so the suite also holds when a
 * backend's `open` hands out stores sharing one database.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import { compareLedgerCheckpoints } from '@keyledger/schemas';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CheckpointBeyondHeadError,
  DuplicateEventIdError,
  InvalidAppendError,
  InvalidCheckpointError,
  InvalidReadError,
  StoreClosedError,
  WrongExpectedRevisionError,
} from '../../src/store/errors.js';
import type {
  AppendResult,
  EventStore,
  EventValidator,
  ExpectedRevision,
  NewEvent,
  ReadAllOptions,
  ReadStreamOptions,
  RecordedEvent,
} from '../../src/store/port.js';

export type OpenEventStore = (opts: { validate?: EventValidator }) => Promise<EventStore>;

/** What the suite needs to know about a backend's checkpoint format. */
export interface CheckpointFormat {
  /** Well-formed checkpoints of this backend that lie past `head` (the newest checkpoint issued). */
  beyond(head: string): string[];
}

/** A category no other test uses (categories cannot contain '-'). */
function uniqueCategory(): string {
  return `c${randomUUID().replaceAll('-', '')}`;
}

function uniqueStream(category = uniqueCategory()): string {
  return `${category}-${randomUUID()}`;
}

function event(type = 'Happened', data: unknown = { n: 1 }, extra: Partial<NewEvent> = {}): NewEvent {
  return { type, data: data as NewEvent['data'], ...extra };
}

function numbered(count: number, type = 'Numbered'): NewEvent[] {
  return Array.from({ length: count }, (_, i) => event(type, { i }));
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)?.slice(0, 200)}`);
    },
    (error: unknown) => error,
  );
}

async function expectWrongRevision(
  promise: Promise<unknown>,
  stream: string,
  expected: ExpectedRevision,
  actual: number,
): Promise<void> {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(WrongExpectedRevisionError);
  expect(error).toMatchObject({ stream, expected, actual });
}

/** Reads the whole log after `after` in pages of `pageSize`, keeping only events of `categories`. */
async function readAllPages(
  store: EventStore,
  after: string | undefined,
  pageSize: number,
  categories: readonly string[],
): Promise<RecordedEvent[]> {
  const seen: RecordedEvent[] = [];
  let checkpoint = after;
  for (let page = 0; page < 10_000; page++) {
    const result = await store.readAll({ after: checkpoint, maxCount: pageSize });
    expect(result.events.length).toBeLessThanOrEqual(pageSize);
    if (result.events.length === 0) return seen;
    expect(store.compareCheckpoints(result.checkpoint, checkpoint)).toBeGreaterThan(0);
    checkpoint = result.checkpoint;
    seen.push(...result.events.filter((e) => categories.includes(e.category)));
  }
  throw new Error('readAll never reached the end of the log');
}

export function describeEventStoreContract(name: string, open: OpenEventStore, checkpoints: CheckpointFormat): void {
  describe(`event store contract: ${name}`, () => {
    let store: EventStore;
    const extraStores: EventStore[] = [];

    beforeEach(async () => {
      store = await open({});
    });

    afterEach(async () => {
      await store.close();
      for (const extra of extraStores.splice(0)) await extra.close();
    });

    async function openExtra(opts: { validate?: EventValidator }): Promise<EventStore> {
      const extra = await open(opts);
      extraStores.push(extra);
      return extra;
    }

    /** A checkpoint at (or past) the current head, so reads after it only see this test's events. */
    async function headMarker(): Promise<string> {
      return (await store.appendToStream(uniqueStream(), [event('Marker')])).checkpoint;
    }

    describe('append and revisions', () => {
      it('numbers revisions from 0, contiguously, and reports the next expected revision', async () => {
        const stream = uniqueStream();
        const first = await store.appendToStream(stream, numbered(3));
        expect(first.replayed).toBe(false);
        expect(first.nextExpectedRevision).toBe(2);
        expect(first.events.map((e) => e.revision)).toEqual([0, 1, 2]);
        const second = await store.appendToStream(stream, numbered(2), { expectedRevision: 2 });
        expect(second.nextExpectedRevision).toBe(4);
        expect(second.events.map((e) => e.revision)).toEqual([3, 4]);
        const read = await store.readStream(stream);
        expect(read.map((e) => e.revision)).toEqual([0, 1, 2, 3, 4]);
        expect(read.map((e) => (e.data as { i: number }).i)).toEqual([0, 1, 2, 0, 1]);
      });

      it('returns recorded events exactly as they are read back', async () => {
        const category = uniqueCategory();
        const stream = uniqueStream(category);
        const id = randomUUID();
        const result = await store.appendToStream(stream, [
          { id, type: 'KeyIssued', data: { keyId: 'k1' }, metadata: { actor: 'alice' } },
          { type: 'KeyScoped', data: { scopes: ['read'] } },
        ]);
        const [issued, scoped] = result.events;
        expect(issued).toMatchObject({
          id,
          stream,
          category,
          revision: 0,
          type: 'KeyIssued',
          data: { keyId: 'k1' },
          metadata: { actor: 'alice' },
        });
        expect(scoped?.metadata).toEqual({});
        expect(scoped?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        expect(issued?.recordedAt).toBeInstanceOf(Date);
        expect(Number.isNaN(issued?.recordedAt.getTime())).toBe(false);
        expect(Math.abs((issued?.recordedAt.getTime() ?? 0) - Date.now())).toBeLessThan(10 * 60_000);
        expect(result.checkpoint).toBe(scoped?.checkpoint);
        expect(await store.readStream(stream)).toEqual(result.events);
      });

      it('a stream category is the part of the name before the first dash', async () => {
        const category = uniqueCategory();
        const withDashes = await store.appendToStream(`${category}-a-b-c`, [event()]);
        expect(withDashes.events[0]?.category).toBe(category);
        const noDash = uniqueCategory();
        const plain = await store.appendToStream(noDash, [event()]);
        expect(plain.events[0]?.category).toBe(noDash);
      });
    });

    describe('expected revision on a missing stream', () => {
      it.each<ExpectedRevision | undefined>([undefined, 'any', 'no_stream'])('%s creates the stream', async (expected) => {
        const stream = uniqueStream();
        const result = await store.appendToStream(stream, numbered(2), { expectedRevision: expected });
        expect(result.nextExpectedRevision).toBe(1);
        expect((await store.readStream(stream)).length).toBe(2);
      });

      it.each<ExpectedRevision>(['stream_exists', 0, 1, 5])('%s is a conflict with actual -1 and writes nothing', async (expected) => {
        const stream = uniqueStream();
        await expectWrongRevision(store.appendToStream(stream, [event()], { expectedRevision: expected }), stream, expected, -1);
        expect(await store.readStream(stream)).toEqual([]);
      });
    });

    describe('expected revision on an existing stream (at revision 1)', () => {
      async function existing(): Promise<string> {
        const stream = uniqueStream();
        await store.appendToStream(stream, numbered(2), { expectedRevision: 'no_stream' });
        return stream;
      }

      it.each<ExpectedRevision | undefined>([undefined, 'any', 'stream_exists', 1])('%s appends', async (expected) => {
        const stream = await existing();
        const result = await store.appendToStream(stream, [event()], { expectedRevision: expected });
        expect(result.nextExpectedRevision).toBe(2);
        expect(result.events[0]?.revision).toBe(2);
        expect((await store.readStream(stream)).length).toBe(3);
      });

      it.each<ExpectedRevision>(['no_stream', 0, 2, 7])('%s is a conflict with actual 1 and writes nothing', async (expected) => {
        const stream = await existing();
        const before = await store.readStream(stream);
        await expectWrongRevision(store.appendToStream(stream, numbered(2), { expectedRevision: expected }), stream, expected, 1);
        expect(await store.readStream(stream)).toEqual(before);
      });
    });

    describe('readStream', () => {
      let stream: string;
      let appended: AppendResult;

      beforeEach(async () => {
        stream = uniqueStream();
        appended = await store.appendToStream(stream, numbered(10));
      });

      const revisions = (events: RecordedEvent[]) => events.map((e) => e.revision);

      it('reads forwards from the start by default', async () => {
        expect(await store.readStream(stream)).toEqual(appended.events);
        expect(revisions(await store.readStream(stream, { fromRevision: 'start' }))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      });

      it('reads forwards from a revision, inclusive, with maxCount', async () => {
        expect(revisions(await store.readStream(stream, { fromRevision: 3 }))).toEqual([3, 4, 5, 6, 7, 8, 9]);
        expect(revisions(await store.readStream(stream, { fromRevision: 3, maxCount: 2 }))).toEqual([3, 4]);
        expect(revisions(await store.readStream(stream, { maxCount: 4 }))).toEqual([0, 1, 2, 3]);
        expect(await store.readStream(stream, { fromRevision: 10 })).toEqual([]);
        expect(await store.readStream(stream, { fromRevision: 'end' })).toEqual([]);
      });

      it('reads backwards from the end by default, from a revision inclusive, with maxCount', async () => {
        expect(revisions(await store.readStream(stream, { direction: 'backwards' }))).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
        expect(revisions(await store.readStream(stream, { direction: 'backwards', fromRevision: 'end', maxCount: 3 }))).toEqual([9, 8, 7]);
        expect(revisions(await store.readStream(stream, { direction: 'backwards', fromRevision: 5 }))).toEqual([5, 4, 3, 2, 1, 0]);
        expect(revisions(await store.readStream(stream, { direction: 'backwards', fromRevision: 5, maxCount: 2 }))).toEqual([5, 4]);
        expect(revisions(await store.readStream(stream, { direction: 'backwards', fromRevision: 100, maxCount: 2 }))).toEqual([9, 8]);
        expect(revisions(await store.readStream(stream, { direction: 'backwards', fromRevision: 'start' }))).toEqual([0]);
      });

      it('reads a missing stream as empty in every direction', async () => {
        const missing = uniqueStream();
        expect(await store.readStream(missing)).toEqual([]);
        expect(await store.readStream(missing, { direction: 'backwards' })).toEqual([]);
        expect(await store.readStream(missing, { fromRevision: 3, maxCount: 1 })).toEqual([]);
        expect(await store.readStream(missing, { fromRevision: 'end' })).toEqual([]);
      });

      it('reads every event by default, in both directions, however long the stream', async () => {
        // Longer than any page size a backend might be tempted to apply by default.
        const long = uniqueStream();
        await store.appendToStream(long, numbered(1_500));
        const forwards = await store.readStream(long);
        expect(revisions(forwards)).toEqual(Array.from({ length: 1_500 }, (_, i) => i));
        const backwards = await store.readStream(long, { direction: 'backwards' });
        expect(revisions(backwards)).toEqual(Array.from({ length: 1_500 }, (_, i) => 1_499 - i));
        expect(revisions(await store.readStream(long, { fromRevision: 1_000 }))).toHaveLength(500);
      });

      it('maxCount 0 reads nothing; forwards from the end or past the last revision reads nothing', async () => {
        expect(await store.readStream(stream, { maxCount: 0 })).toEqual([]);
        expect(await store.readStream(stream, { direction: 'backwards', maxCount: 0 })).toEqual([]);
        expect(await store.readStream(stream, { fromRevision: 'end', maxCount: 5 })).toEqual([]);
        expect(await store.readStream(stream, { fromRevision: 10 })).toEqual([]);
        expect(await store.readStream(stream, { fromRevision: Number.MAX_SAFE_INTEGER })).toEqual([]);
        expect(revisions(await store.readStream(stream, { direction: 'backwards', fromRevision: Number.MAX_SAFE_INTEGER, maxCount: 1 }))).toEqual([9]);
        expect(revisions(await store.readStream(stream, { fromRevision: 9, maxCount: 1_000_000 }))).toEqual([9]);
      });

      it.each<[string, ReadStreamOptions | undefined, unknown]>([
        ['maxCount -1', { maxCount: -1 }, undefined],
        ['maxCount 1.5', { maxCount: 1.5 }, undefined],
        ['maxCount NaN', { maxCount: Number.NaN }, undefined],
        ['maxCount Infinity', { maxCount: Number.POSITIVE_INFINITY }, undefined],
        ['maxCount "5"', { maxCount: '5' as unknown as number }, undefined],
        ['fromRevision -1', { fromRevision: -1 }, undefined],
        ['fromRevision 1.5', { fromRevision: 1.5 }, undefined],
        ['fromRevision "latest"', { fromRevision: 'latest' as 'end' }, undefined],
        ['fromRevision NaN', { fromRevision: Number.NaN }, undefined],
        ['direction "sideways"', { direction: 'sideways' as 'forwards' }, undefined],
        ['a stream name that is not a string', undefined, 42],
      ])('rejects %s with InvalidReadError', async (_, options, badStream) => {
        const error = await rejectionOf(store.readStream((badStream ?? stream) as string, options));
        expect(error).toBeInstanceOf(InvalidReadError);
      });
    });

    describe('readAll', () => {
      it('returns events in global order and pages without duplicates or skips', async () => {
        const category = uniqueCategory();
        const start = await headMarker();
        const streams = [uniqueStream(category), uniqueStream(category), uniqueStream(category)];
        const appendedIds: string[] = [];
        for (let round = 0; round < 4; round++) {
          for (const stream of streams) {
            const result = await store.appendToStream(stream, numbered(round + 1));
            appendedIds.push(...result.events.map((e) => e.id));
          }
        }
        for (const pageSize of [1, 3, 7, 1000]) {
          const read = await readAllPages(store, start, pageSize, [category]);
          expect(read.map((e) => e.id)).toEqual(appendedIds);
        }
        const read = await readAllPages(store, start, 5, [category]);
        for (let i = 1; i < read.length; i++) {
          expect(store.compareCheckpoints(read[i - 1]?.checkpoint, read[i]?.checkpoint)).toBeLessThan(0);
        }
        // The same events as readStream returns, field for field.
        const byStream = await Promise.all(streams.map((s) => store.readStream(s)));
        expect(read.filter((e) => e.stream === streams[1])).toEqual(byStream[1]);
      });

      it('from no checkpoint reads from the beginning of the log', async () => {
        const category = uniqueCategory();
        const result = await store.appendToStream(uniqueStream(category), numbered(3));
        const read = await readAllPages(store, undefined, 1000, [category]);
        expect(read).toEqual(result.events);
      });

      it('after the head returns nothing and a checkpoint that does not go backwards', async () => {
        const head = await headMarker();
        const result = await store.readAll({ after: head });
        expect(result.events).toEqual([]);
        expect(store.compareCheckpoints(result.checkpoint, head)).toBeGreaterThanOrEqual(0);
      });

      it('filters by category, and its checkpoint skips scanned non-matching events but not later matches', async () => {
        const wanted = uniqueCategory();
        const other = uniqueCategory();
        const start = await headMarker();
        const first = await store.appendToStream(uniqueStream(wanted), [event('A')]);
        let lastOther: AppendResult | undefined;
        for (let i = 0; i < 20; i++) lastOther = await store.appendToStream(uniqueStream(other), [event('A')]);

        const page = await store.readAll({ after: start, categories: [wanted], maxCount: 10 });
        expect(page.events.map((e) => e.id)).toEqual(first.events.map((e) => e.id));
        // Fewer matches than maxCount: the reader has scanned up to the head and must not rescan it.
        expect(store.compareCheckpoints(page.checkpoint, lastOther?.checkpoint)).toBeGreaterThanOrEqual(0);

        const later = await store.appendToStream(uniqueStream(wanted), [event('B')]);
        const next = await store.readAll({ after: page.checkpoint, categories: [wanted] });
        expect(next.events.map((e) => e.id)).toEqual(later.events.map((e) => e.id));
      });

      it('a filtered page that is full resumes at its last match without skipping the next one', async () => {
        const wanted = uniqueCategory();
        const other = uniqueCategory();
        const start = await headMarker();
        const matches: string[] = [];
        for (let i = 0; i < 5; i++) {
          matches.push(...(await store.appendToStream(uniqueStream(wanted), [event()])).events.map((e) => e.id));
          await store.appendToStream(uniqueStream(other), numbered(3));
        }
        const seen: string[] = [];
        let checkpoint: string | undefined = start;
        for (let i = 0; i < 20; i++) {
          const page = await store.readAll({ after: checkpoint, categories: [wanted], maxCount: 2 });
          seen.push(...page.events.map((e) => e.id));
          if (page.events.length === 0) break;
          checkpoint = page.checkpoint;
        }
        expect(seen).toEqual(matches);
      });

      it('filters by type, and by category and type together', async () => {
        const catA = uniqueCategory();
        const catB = uniqueCategory();
        const start = await headMarker();
        const a = await store.appendToStream(uniqueStream(catA), [event('Issued'), event('Revoked'), event('Scoped')]);
        const b = await store.appendToStream(uniqueStream(catB), [event('Revoked'), event('Issued')]);
        const ids = (events: RecordedEvent[]) => events.map((e) => e.id);
        const mine = (events: RecordedEvent[]) => events.filter((e) => e.category === catA || e.category === catB);

        const revoked = await store.readAll({ after: start, types: ['Revoked'] });
        expect(ids(mine(revoked.events))).toEqual([a.events[1]?.id, b.events[0]?.id]);
        expect(revoked.events.every((e) => e.type === 'Revoked')).toBe(true);

        const twoTypes = await store.readAll({ after: start, types: ['Issued', 'Scoped'] });
        expect(ids(mine(twoTypes.events))).toEqual([a.events[0]?.id, a.events[2]?.id, b.events[1]?.id]);

        const both = await store.readAll({ after: start, categories: [catB], types: ['Issued'] });
        expect(ids(both.events)).toEqual([b.events[1]?.id]);

        const twoCategories = await store.readAll({ after: start, categories: [catA, catB] });
        expect(ids(twoCategories.events)).toEqual([...ids(a.events), ...ids(b.events)]);

        const none = await store.readAll({ after: start, categories: [uniqueCategory()] });
        expect(none.events).toEqual([]);
        expect(store.compareCheckpoints(none.checkpoint, b.checkpoint)).toBeGreaterThanOrEqual(0);
      });

      it.each(['not-a-checkpoint', '', 'x'.repeat(500), '💥', '{"p":1}'])('rejects the checkpoint %j', async (bad) => {
        expect(await rejectionOf(store.readAll({ after: bad }))).toBeInstanceOf(InvalidCheckpointError);
      });

      it('rejects a well-formed checkpoint beyond the head with CheckpointBeyondHeadError, not a page that skips to it', async () => {
        const head = await headMarker();
        const beyond = checkpoints.beyond(head);
        expect(beyond.length).toBeGreaterThan(0);
        for (const checkpoint of beyond) {
          expect(store.compareCheckpoints(checkpoint, head), checkpoint).toBeGreaterThan(0);
          const error = await rejectionOf(store.readAll({ after: checkpoint }));
          expect(error, checkpoint).toBeInstanceOf(CheckpointBeyondHeadError);
          expect(error, checkpoint).toBeInstanceOf(InvalidCheckpointError);
          expect((error as Error).message).toContain('beyond the head');
          expect(await rejectionOf(store.readAll({ after: checkpoint, types: ['Marker'] })), checkpoint).toBeInstanceOf(
            CheckpointBeyondHeadError,
          );
        }
        // Every checkpoint the store hands out stays accepted: the head, and where a page resumes.
        const atHead = await store.readAll({ after: head });
        expect(atHead.events).toEqual([]);
        const resumed = await store.readAll({ after: atHead.checkpoint, categories: [uniqueCategory()] });
        expect(resumed.events).toEqual([]);
        await store.readAll({ after: resumed.checkpoint });
      });

      it.each<[string, ReadAllOptions]>([
        ['maxCount 0', { maxCount: 0 }],
        ['maxCount -1', { maxCount: -1 }],
        ['maxCount 1.5', { maxCount: 1.5 }],
        ['maxCount NaN', { maxCount: Number.NaN }],
        ['categories that are not an array', { categories: 'acct' as unknown as string[] }],
        ['types that are not strings', { types: [1] as unknown as string[] }],
      ])('rejects %s with InvalidReadError', async (_, options) => {
        expect(await rejectionOf(store.readAll(options))).toBeInstanceOf(InvalidReadError);
      });

      it('an empty filter list means no filter; a maxCount above the cap is capped, not refused', async () => {
        const category = uniqueCategory();
        const start = await headMarker();
        const appended = await store.appendToStream(uniqueStream(category), numbered(3));
        for (const options of [{ categories: [] }, { types: [] }, { categories: [], types: [] }]) {
          const page = await store.readAll({ after: start, ...options });
          expect(page.events.filter((e) => e.category === category)).toEqual(appended.events);
        }
        const capped = await store.readAll({ after: start, maxCount: 1_000_000 });
        expect(capped.events.filter((e) => e.category === category)).toEqual(appended.events);
      });
    });

    describe('concurrency', () => {
      it('two appends at the same expected revision: exactly one wins', async () => {
        for (const expected of ['no_stream', 0] as const) {
          const stream = uniqueStream();
          if (expected === 0) await store.appendToStream(stream, [event()]);
          const results = await Promise.allSettled([
            store.appendToStream(stream, [event('First')], { expectedRevision: expected }),
            store.appendToStream(stream, [event('Second')], { expectedRevision: expected }),
          ]);
          const won = results.filter((r) => r.status === 'fulfilled');
          const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
          expect(won).toHaveLength(1);
          expect(lost).toHaveLength(1);
          expect(lost[0]?.reason).toBeInstanceOf(WrongExpectedRevisionError);
          expect(lost[0]?.reason).toMatchObject({ stream, expected, actual: expected === 'no_stream' ? 0 : 1 });
          expect((await store.readStream(stream)).length).toBe(expected === 'no_stream' ? 1 : 2);
        }
      });

      it('50 concurrent appends with any to one stream all land at revisions 0..49', async () => {
        const category = uniqueCategory();
        const stream = uniqueStream(category);
        const start = await headMarker();
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => store.appendToStream(stream, [event('Numbered', { i })], { expectedRevision: 'any' })),
        );
        for (const result of results) expect(result.nextExpectedRevision).toBe(result.events[0]?.revision);
        expect(results.map((r) => r.nextExpectedRevision).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
        const read = await store.readStream(stream);
        expect(read.map((e) => e.revision)).toEqual(Array.from({ length: 50 }, (_, i) => i));
        expect(new Set(read.map((e) => (e.data as { i: number }).i)).size).toBe(50);
        const global = await readAllPages(store, start, 7, [category]);
        expect(global.map((e) => e.id)).toEqual(read.map((e) => e.id));
      });

      it('50 concurrent appends spread over several streams keep each stream contiguous and in global order', async () => {
        const category = uniqueCategory();
        const streams = Array.from({ length: 5 }, () => uniqueStream(category));
        const start = await headMarker();
        await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            store.appendToStream(streams[i % streams.length] as string, [event('Numbered', { i })], { expectedRevision: 'any' }),
          ),
        );
        const global = await readAllPages(store, start, 9, [category]);
        expect(global).toHaveLength(50);
        expect(new Set(global.map((e) => e.id)).size).toBe(50);
        for (const stream of streams) {
          const inGlobalOrder = global.filter((e) => e.stream === stream);
          expect(inGlobalOrder.map((e) => e.revision)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
          expect(inGlobalOrder).toEqual(await store.readStream(stream));
        }
      });
    });

    describe('round-trips', () => {
      it('keeps data and metadata exactly, unicode included', async () => {
        const data = {
          emoji: '🔑👩‍👩‍👧‍👦 ✓',
          rtl: 'مرحبا بالعالم עברית',
          nul: 'before\u0000after',
          controls: '\t\n\r\u0001\u001f\u2028\u2029"\\/',
          numbers: [0, 1, -1, 0.1, 1e-7, 123456789.123, 1.7976931348623157e308, Number.MAX_SAFE_INTEGER],
          flags: [true, false, null],
          nested: { deep: { deeper: { list: [{ a: 1 }, [], {}] } } },
          'key with spaces and ünïcödé': 'value',
          '': 'empty key',
        };
        const metadata = { actor: 'alice', reason: 'rotation 🔄', correlationId: randomUUID(), nul: '\u0000', tags: ['a', 'b'] };
        const stream = uniqueStream();
        const result = await store.appendToStream(stream, [{ type: 'Unicode', data, metadata }]);
        const [read] = await store.readStream(stream);
        expect(read?.data).toEqual(data);
        expect(read?.metadata).toEqual(metadata);
        expect(result.events[0]?.data).toEqual(data);
      });

      it('keeps non-object payloads', async () => {
        const stream = uniqueStream();
        const payloads = [null, 'just a string', 42, true, [1, 'two', { three: 3 }]];
        await store.appendToStream(stream, payloads.map((data) => event('Scalar', data)));
        expect((await store.readStream(stream)).map((e) => e.data)).toEqual(payloads);
      });

      it('keeps a 1 MB payload', async () => {
        const stream = uniqueStream();
        const data = { blob: randomBytes(768 * 1024).toString('base64'), tail: 'end' };
        expect(data.blob.length).toBeGreaterThanOrEqual(1024 * 1024);
        await store.appendToStream(stream, [event('Big', data)]);
        const [read] = await store.readStream(stream);
        expect(read?.data).toEqual(data);
      });
    });

    describe('invalid appends write nothing', () => {
      async function expectInvalid(stream: string, append: Promise<unknown>): Promise<void> {
        expect(await rejectionOf(append)).toBeInstanceOf(InvalidAppendError);
        expect(await store.readStream(stream)).toEqual([]);
      }

      it('an empty batch', async () => {
        const stream = uniqueStream();
        await expectInvalid(stream, store.appendToStream(stream, []));
      });

      it.each<unknown>(['latest', -1, 1.5, Number.NaN, '0', null, {}])('the expected revision %j', async (expected) => {
        const stream = uniqueStream();
        await expectInvalid(stream, store.appendToStream(stream, [event()], { expectedRevision: expected as ExpectedRevision }));
      });

      const cyclic: Record<string, unknown> = { a: 1 };
      cyclic['self'] = cyclic;
      it.each<[string, unknown]>([
        ['an undefined value', { a: undefined }],
        ['a function', { f: () => 1 }],
        ['NaN', { n: Number.NaN }],
        ['Infinity', [Infinity]],
        ['a Date', { at: new Date() }],
        ['a cycle', cyclic],
        ['a bigint', { big: 1n }],
        ['a Map', { m: new Map() }],
        ['a symbol', { s: Symbol('x') }],
      ])('data with %s', async (_, data) => {
        const stream = uniqueStream();
        await expectInvalid(stream, store.appendToStream(stream, [event('Fine'), event('Bad', data)]));
      });

      it('metadata that is not JSON', async () => {
        const stream = uniqueStream();
        await expectInvalid(stream, store.appendToStream(stream, [event('Bad', {}, { metadata: { at: new Date() } })]));
        await expectInvalid(stream, store.appendToStream(stream, [event('Bad', {}, { metadata: ['not', 'an', 'object'] })]));
      });

      it('an event failing the validator, even after valid ones', async () => {
        const calls: [string, unknown][] = [];
        const validated = await openExtra({
          validate: (type, data) => {
            calls.push([type, data]);
            if (type === 'Rejected') throw new Error('amount must be positive');
          },
        });
        const stream = uniqueStream();
        const error = await rejectionOf(validated.appendToStream(stream, [event('Accepted', { x: 1 }), event('Rejected', { x: -1 })]));
        expect(error).toBeInstanceOf(InvalidAppendError);
        expect((error as Error).message).toContain('amount must be positive');
        expect(await validated.readStream(stream)).toEqual([]);
        expect(calls).toEqual([
          ['Accepted', { x: 1 }],
          ['Rejected', { x: -1 }],
        ]);
        await validated.appendToStream(stream, [event('Accepted', { x: 2 })]);
        expect((await validated.readStream(stream)).length).toBe(1);
      });
    });

    describe('duplicate event ids', () => {
      function batch(count: number): NewEvent[] {
        return Array.from({ length: count }, (_, i) => ({ id: randomUUID(), type: 'Batched', data: { i } }));
      }

      it('an exact replay writes nothing and returns the original result, even when the expected revision no longer matches', async () => {
        const stream = uniqueStream();
        await store.appendToStream(stream, [event('Before')]);
        const events = batch(3);
        const original = await store.appendToStream(stream, events, { expectedRevision: 0 });
        expect(original.replayed).toBe(false);
        await store.appendToStream(stream, [event('After')]);

        for (const expectedRevision of [0, 'any', 'no_stream', 'stream_exists', 99] as const) {
          const replay = await store.appendToStream(stream, events, { expectedRevision });
          expect(replay.replayed).toBe(true);
          expect(replay.nextExpectedRevision).toBe(original.nextExpectedRevision);
          expect(replay.checkpoint).toBe(original.checkpoint);
          expect(replay.events).toEqual(original.events);
        }
        const upperCase = events.map((e) => ({ ...e, id: e.id?.toUpperCase() }));
        expect((await store.appendToStream(stream, upperCase)).replayed).toBe(true);
        expect((await store.readStream(stream)).length).toBe(5);
      });

      it('some ids already stored is a DuplicateEventIdError and writes nothing', async () => {
        const stream = uniqueStream();
        const events = batch(2);
        await store.appendToStream(stream, events);
        const fresh = batch(1)[0] as NewEvent;
        const error = await rejectionOf(store.appendToStream(stream, [fresh, events[0] as NewEvent]));
        expect(error).toBeInstanceOf(DuplicateEventIdError);
        expect(error).toMatchObject({ eventId: events[0]?.id, stream });
        expect((await store.readStream(stream)).map((e) => e.id)).toEqual(events.map((e) => e.id));
        expect((await store.appendToStream(stream, [fresh])).replayed).toBe(false);
      });

      it('the same ids in another order or another stream are a DuplicateEventIdError', async () => {
        const stream = uniqueStream();
        const events = batch(2);
        await store.appendToStream(stream, events);
        const reversed = [events[1], events[0]] as NewEvent[];
        expect(await rejectionOf(store.appendToStream(stream, reversed))).toBeInstanceOf(DuplicateEventIdError);
        const elsewhere = uniqueStream();
        const error = await rejectionOf(store.appendToStream(elsewhere, events));
        expect(error).toBeInstanceOf(DuplicateEventIdError);
        expect(error).toMatchObject({ stream: elsewhere });
        expect(await store.readStream(elsewhere)).toEqual([]);
        expect((await store.readStream(stream)).length).toBe(2);
      });

      it('ids not stored as consecutive revisions are not a replay', async () => {
        const stream = uniqueStream();
        const [a, b] = batch(2) as [NewEvent, NewEvent];
        await store.appendToStream(stream, [a]);
        await store.appendToStream(stream, [event('Between')]);
        await store.appendToStream(stream, [b]);
        expect(await rejectionOf(store.appendToStream(stream, [a, b]))).toBeInstanceOf(DuplicateEventIdError);
        expect((await store.readStream(stream)).length).toBe(3);
      });

      it('the same batch appended twice concurrently is written once and replayed once', async () => {
        for (const expectedRevision of ['no_stream', 'any'] as const) {
          const stream = uniqueStream();
          const events = batch(3);
          const results = await Promise.all([
            store.appendToStream(stream, events, { expectedRevision }),
            store.appendToStream(stream, events, { expectedRevision }),
          ]);
          expect(results.map((r) => r.replayed).sort()).toEqual([false, true]);
          expect(results[0]?.events).toEqual(results[1]?.events);
          const read = await store.readStream(stream);
          expect(read.map((e) => e.id)).toEqual(events.map((e) => e.id));
        }
      });
    });

    describe('appendToStreams (several streams, one transaction)', () => {
      function ided(count: number, type = 'Multi'): NewEvent[] {
        return Array.from({ length: count }, (_, i) => ({ id: randomUUID(), type, data: { i } }));
      }

      it('writes every stream with its own expected revision and returns each result plus the last checkpoint', async () => {
        const [a, b, c] = [uniqueStream(), uniqueStream(), uniqueStream()];
        await store.appendToStream(a, numbered(2));
        const result = await store.appendToStreams([
          { stream: a, events: numbered(1), expectedRevision: 1 },
          { stream: b, events: numbered(2), expectedRevision: 'no_stream' },
          { stream: c, events: numbered(1) },
        ]);
        expect(result.streams.map((r) => r.events.map((e) => [e.stream, e.revision]))).toEqual([
          [[a, 2]],
          [[b, 0], [b, 1]],
          [[c, 0]],
        ]);
        expect(result.streams.map((r) => r.nextExpectedRevision)).toEqual([2, 1, 0]);
        expect(result.streams.every((r) => !r.replayed)).toBe(true);
        const all = result.streams.flatMap((r) => r.events);
        for (const e of all) expect(store.compareCheckpoints(e.checkpoint, result.checkpoint)).toBeLessThanOrEqual(0);
        expect(all.map((e) => e.checkpoint)).toContain(result.checkpoint);
        expect(await store.readStream(b)).toEqual(result.streams[1]?.events);
        // Read back from the global log as one contiguous run, in the given order.
        const log = await store.readAll({ after: (await store.readStream(a))[1]?.checkpoint });
        expect(log.events.filter((e) => [a, b, c].includes(e.stream))).toEqual(all);
      });

      it('one stream at the wrong revision writes nothing anywhere and names that stream', async () => {
        const [a, b] = [uniqueStream(), uniqueStream()];
        await store.appendToStream(b, numbered(1));
        const error = await rejectionOf(
          store.appendToStreams([
            { stream: a, events: numbered(1), expectedRevision: 'no_stream' },
            { stream: b, events: numbered(1), expectedRevision: 'no_stream' },
          ]),
        );
        expect(error).toBeInstanceOf(WrongExpectedRevisionError);
        expect(error).toMatchObject({ stream: b, expected: 'no_stream', actual: 0 });
        expect(await store.readStream(a)).toEqual([]);
        expect((await store.readStream(b)).length).toBe(1);
        await expectWrongRevision(
          store.appendToStreams([{ stream: a, events: numbered(1), expectedRevision: 'stream_exists' }]),
          a,
          'stream_exists',
          -1,
        );
      });

      it('a retried identical multi-append is a replay; a partial overlap is a DuplicateEventIdError', async () => {
        const [a, b] = [uniqueStream(), uniqueStream()];
        const appends = [
          { stream: a, events: ided(2), expectedRevision: 'no_stream' as const },
          { stream: b, events: ided(1), expectedRevision: 'no_stream' as const },
        ];
        const original = await store.appendToStreams(appends);
        await store.appendToStream(a, numbered(1));
        const replay = await store.appendToStreams(appends);
        expect(replay.streams.map((r) => r.replayed)).toEqual([true, true]);
        expect(replay.checkpoint).toBe(original.checkpoint);
        expect(replay.streams.map((r) => r.events)).toEqual(original.streams.map((r) => r.events));
        // Only one of the two batches stored as given (the other stream is new): not a replay.
        const c = uniqueStream();
        const error = await rejectionOf(
          store.appendToStreams([appends[0] as (typeof appends)[number], { stream: c, events: ided(1) }]),
        );
        expect(error).toBeInstanceOf(DuplicateEventIdError);
        expect(await store.readStream(c)).toEqual([]);
        // An id already stored by a single-stream append is a duplicate too, writing nothing.
        const lone = ided(1);
        await store.appendToStream(uniqueStream(), lone);
        const d = uniqueStream();
        expect(await rejectionOf(store.appendToStreams([{ stream: d, events: ided(1) }, { stream: uniqueStream(), events: lone }]))).toBeInstanceOf(
          DuplicateEventIdError,
        );
        expect(await store.readStream(d)).toEqual([]);
        expect((await store.readStream(a)).length).toBe(3);
      });

      it('rejects an empty call, a stream given twice and an id given twice, writing nothing', async () => {
        const a = uniqueStream();
        const [one] = ided(1) as [NewEvent];
        for (const appends of [
          [],
          [{ stream: a, events: numbered(1) }, { stream: a, events: numbered(1) }],
          [{ stream: a, events: [one] }, { stream: uniqueStream(), events: [one] }],
          [{ stream: a, events: numbered(1) }, { stream: uniqueStream(), events: [] }],
        ]) {
          expect(await rejectionOf(store.appendToStreams(appends))).toBeInstanceOf(InvalidAppendError);
        }
        expect(await store.readStream(a)).toEqual([]);
      });

      it('concurrent multi-appends over the same streams in opposite orders all land, without deadlock', async () => {
        const streams = [uniqueStream(), uniqueStream(), uniqueStream()];
        const rounds = 20;
        await Promise.all(
          Array.from({ length: rounds }, (_, i) =>
            store.appendToStreams((i % 2 === 0 ? streams : [...streams].reverse()).map((stream) => ({ stream, events: numbered(1) }))),
          ),
        );
        for (const stream of streams) {
          expect((await store.readStream(stream)).map((e) => e.revision)).toEqual(Array.from({ length: rounds }, (_, i) => i));
        }
      });

      it('the same multi-append twice concurrently is written once and replayed once', async () => {
        const appends = [
          { stream: uniqueStream(), events: ided(2), expectedRevision: 'no_stream' as const },
          { stream: uniqueStream(), events: ided(1), expectedRevision: 'no_stream' as const },
        ];
        const results = await Promise.all([store.appendToStreams(appends), store.appendToStreams(appends)]);
        expect(results.map((r) => r.streams.every((s) => s.replayed)).sort()).toEqual([false, true]);
        expect(results[0]?.checkpoint).toBe(results[1]?.checkpoint);
        expect((await store.readStream(appends[0]!.stream)).length).toBe(2);
      });

      it('validates every event of every stream before writing any', async () => {
        const validated = await openExtra({
          validate: (type) => {
            if (type === 'Bad') throw new Error('Bad is refused');
          },
        });
        const [a, b] = [uniqueStream(), uniqueStream()];
        const error = await rejectionOf(
          validated.appendToStreams([{ stream: a, events: numbered(1) }, { stream: b, events: [event('Bad')] }]),
        );
        expect(error).toBeInstanceOf(InvalidAppendError);
        expect(await validated.readStream(a)).toEqual([]);
      });
    });

    describe('waitForEvents', () => {
      it('resolves after an append from another task', async () => {
        const head = await headMarker();
        const stream = uniqueStream();
        // The generous timeout exceeds the test's own: only the append can make this pass.
        const waiting = store.waitForEvents(head, { timeoutMs: 120_000 });
        const second = store.waitForEvents(head, { timeoutMs: 120_000 });
        setTimeout(() => void store.appendToStream(stream, [event('Woken')]), 30);
        await Promise.all([waiting, second]);
        const after = await store.readAll({ after: head });
        expect(after.events.map((e) => e.stream)).toContain(stream);
      });

      it('resolves at once when events after the checkpoint already exist', async () => {
        const head = await headMarker();
        await store.appendToStream(uniqueStream(), [event()]);
        await store.waitForEvents(head, { timeoutMs: 120_000 });
        await store.waitForEvents(undefined, { timeoutMs: 120_000 });
      });

      it('resolves on timeout when nothing happens', async () => {
        const head = await headMarker();
        await expect(store.waitForEvents(head, { timeoutMs: 50 })).resolves.toBeUndefined();
      });

      it('settles when aborted, also when already aborted', async () => {
        const head = await headMarker();
        const controller = new AbortController();
        const waiting = store.waitForEvents(head, { timeoutMs: 120_000, signal: controller.signal });
        setTimeout(() => controller.abort(), 30);
        await waiting.catch(() => undefined);
        await store.waitForEvents(head, { timeoutMs: 120_000, signal: AbortSignal.abort() }).catch(() => undefined);
      });

      it('rejects a checkpoint it did not issue', async () => {
        expect(await rejectionOf(store.waitForEvents('not-a-checkpoint', { timeoutMs: 10 }))).toBeInstanceOf(InvalidCheckpointError);
      });
    });

    describe('checkpoints', () => {
      it('compareCheckpoints orders successive appends, with undefined as the start', async () => {
        const stream = uniqueStream();
        const one = await store.appendToStream(stream, numbered(2));
        const two = await store.appendToStream(uniqueStream(), [event()]);
        const three = await store.appendToStream(stream, [event()]);
        const [a, b] = one.events.map((e) => e.checkpoint) as [string, string];
        expect(one.checkpoint).toBe(b);
        expect(store.compareCheckpoints(a, b)).toBeLessThan(0);
        const ordered = [undefined, a, b, two.checkpoint, three.checkpoint];
        for (let i = 0; i < ordered.length; i++) {
          for (let j = 0; j < ordered.length; j++) {
            const compared = Math.sign(store.compareCheckpoints(ordered[i], ordered[j]));
            expect(compared, `compare #${i} with #${j}`).toBe(Math.sign(i - j));
            // Clients (the SDK verifier) order checkpoints by the public rule; it must agree.
            const [x, y] = [ordered[i], ordered[j]];
            if (x !== undefined && y !== undefined) expect(compareLedgerCheckpoints(x, y), `public order #${i} #${j}`).toBe(compared);
          }
        }
      });
    });

    describe('close', () => {
      it('makes every later call fail with StoreClosedError and settles pending waits', async () => {
        const closing = await openExtra({});
        const stream = uniqueStream();
        const { checkpoint } = await closing.appendToStream(stream, [event()]);
        const pending = closing.waitForEvents(checkpoint, { timeoutMs: 120_000 });
        await closing.close();
        await pending.catch(() => undefined);
        const calls: [string, () => Promise<unknown>][] = [
          ['appendToStream', () => closing.appendToStream(stream, [event()])],
          ['readStream', () => closing.readStream(stream)],
          ['readAll', () => closing.readAll()],
          ['waitForEvents', () => closing.waitForEvents(undefined, { timeoutMs: 10 })],
        ];
        for (const [label, call] of calls) {
          expect(await rejectionOf(call()), label).toBeInstanceOf(StoreClosedError);
        }
        await closing.close(); // closing twice is harmless
      });
    });
  });
}
