/**
 * Export then import on real stores (SQLite files, and PostgreSQL): the imported ledger has the
 * same events (ids, streams, revisions, metadata, recordedAt), the same Merkle root and the same
 * projections; a tampered file is refused naming its line, with nothing written; a store that is
 * not empty is refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateEventData } from '@keyledger/schemas';
import { exportLedger } from '../../src/audit/export.js';
import { ExportFileError } from '../../src/audit/export-format.js';
import { importLedger, StoreNotEmptyError } from '../../src/audit/import.js';
import { NO_AUDIT_LOG } from '../../src/audit/log-access.js';
import { logFacts } from '../../src/audit/migrate.js';
import { leafHash } from '../../src/audit/ledger-hash.js';
import { openSqliteEventStore } from '../../src/store/sqlite/index.js';
import { openPostgresEventStore } from '../../src/store/postgres/index.js';
import type { EventStore } from '../../src/store/port.js';
import { DuplicateEventIdError, WrongExpectedRevisionError } from '../../src/store/errors.js';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from '../../../../test/support/services.js';
import { issueKeys, keyIdOf, keyRevoked, keySuspended, usageBatch } from '../projections/ledger.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const sqlite = () => openSqliteEventStore({ file: join(dir, `ledger-${n++}.db`), validate: validateEventData });

async function seed(store: EventStore): Promise<void> {
  await issueKeys(store, 0, 30);
  await store.appendToStream(`key-${keyIdOf(3)}`, [keySuspended(3)]);
  await store.appendToStream(`key-${keyIdOf(4)}`, [keyRevoked(4)]);
  await store.appendToStream('usage-batch-1', [usageBatch([0, 2, 4], '2030-06-01T12:00:10.000Z')]);
}

async function exportLines(store: EventStore): Promise<{ lines: string[]; rootHash: string }> {
  const lines: string[] = [];
  const summary = await exportLedger({ store, log: NO_AUDIT_LOG, keyledgerVersion: 'test', write: async (line) => void lines.push(line) });
  return { lines, rootHash: summary.rootHash };
}

async function* iterate(lines: readonly string[]): AsyncIterable<string> {
  yield* lines;
}

async function allEvents(store: EventStore) {
  const events = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.readAll({ ...(after ? { after } : {}), maxCount: 1000 });
    events.push(...page.events.map(({ checkpoint: _c, ...rest }) => rest));
    if (page.events.length < 1000) return events;
    after = page.checkpoint;
  }
}

function saltsOf(lines: readonly string[]): Map<string, Uint8Array> {
  const salts = new Map<string, Uint8Array>();
  for (const line of lines) {
    const value = JSON.parse(line) as { kind: string; id?: string; salt?: string };
    if (value.kind === 'event' && value.salt) salts.set(value.id as string, new Uint8Array(Buffer.from(value.salt, 'base64')));
  }
  return salts;
}

describe('export then import', () => {
  it('given a SQLite ledger, when exported and imported into an empty store, then events, root hash and digest are identical', async () => {
    const source = await sqlite();
    await seed(source);
    const { lines, rootHash } = await exportLines(source);
    expect(JSON.parse(lines[0] as string).kind).toBe('header');
    expect(JSON.parse(lines.at(-1) as string)).toMatchObject({ kind: 'trailer', count: 33, treeSize: 33, rootHash });

    const target = await sqlite();
    const imported = await importLedger({ store: target, log: NO_AUDIT_LOG, lines: () => iterate(lines) });
    expect(imported.count).toBe(33);
    expect(imported.rootHash).toBe(rootHash);
    // Re-read from the target's own store: the root over its events (with the file's salts) is the source's.
    const salts = saltsOf(lines);
    const [before, after] = [await logFacts(source, salts, new Set(), 1000, () => {}), await logFacts(target, salts, new Set(), 1000, () => {})];
    expect(after.root).toBe(rootHash);
    expect(after.digest).toBe(before.digest);
    expect(await allEvents(target)).toEqual(await allEvents(source));
    await source.close();
    await target.close();
  });

  it.skipIf(skipWithoutPostgres)('given a SQLite export, when imported into PostgreSQL, then ids, revisions, metadata and recordedAt are kept and the root is equal', async () => {
    const source = await sqlite();
    await seed(source);
    const { lines, rootHash } = await exportLines(source);
    const { schema, drop } = await createSchema('kl_import');
    const target = await openPostgresEventStore({ connectionString: DATABASE_URL as string, schema, validate: validateEventData });
    try {
      await importLedger({ store: target, log: NO_AUDIT_LOG, lines: () => iterate(lines), batchSize: 7 });
      expect((await logFacts(target, saltsOf(lines), new Set(), 1000, () => {})).root).toBe(rootHash);
      expect(await allEvents(target)).toEqual(await allEvents(source));
      // The imported log is an ordinary one: appends continue each stream after its imported revisions.
      const next = await target.appendToStream(`key-${keyIdOf(3)}`, [keyRevoked(3)], { expectedRevision: 1 });
      expect(next.nextExpectedRevision).toBe(2);
    } finally {
      await target.close();
      await drop();
    }
    await source.close();
  });

  it('given a target that holds events, when importing, then it is refused and nothing is written', async () => {
    const source = await sqlite();
    await seed(source);
    const { lines } = await exportLines(source);
    const target = await sqlite();
    await issueKeys(target, 100, 101);
    await expect(importLedger({ store: target, log: NO_AUDIT_LOG, lines: () => iterate(lines) })).rejects.toBeInstanceOf(StoreNotEmptyError);
    expect(await target.countEvents()).toBe(1);
  });

  describe('a tampered file is refused, naming the line, and nothing is imported', () => {
    const cases: [string, (lines: string[]) => string[], RegExp][] = [
      ['an edited payload', (l) => l.map((line, i) => (i === 5 ? line.replace('"consumer-4"', '"consumer-x"') : line)), /^line 6: .*does not match its leafHash/],
      ['an edited payload with its leaf hash recomputed', (l) => editWithLeafHash(l, 5), /^line 35: .*root hash .* is not the root/],
      ['a deleted event', (l) => l.filter((_, i) => i !== 10), /^line 11: event index 10 where 9 was expected/],
      ['two events swapped', (l) => l.map((line, i) => (i === 7 ? (l[8] as string) : i === 8 ? (l[7] as string) : line)), /^line 8: event index 7 where 6 was expected/],
      ['a cut-off file', (l) => l.slice(0, 20), /^line 21: the file ends without a trailer/],
      ['a line that is not JSON', (l) => l.map((line, i) => (i === 3 ? line.slice(0, 40) : line)), /^line 4: not JSON/],
      ['a changed recordedAt', (l) => l.map((line, i) => (i === 12 ? line.replace(/"recordedAt":"(\d{4})/, '"recordedAt":"1999') : line)), /^line 35: .*ledgerDigest/],
    ];
    for (const [name, tamper, expected] of cases) {
      it(name, async () => {
        const source = await sqlite();
        await seed(source);
        const { lines } = await exportLines(source);
        const target = await sqlite();
        const error = await importLedger({ store: target, log: NO_AUDIT_LOG, lines: () => iterate(tamper(lines)) }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ExportFileError);
        expect((error as Error).message).toMatch(expected);
        expect(await target.countEvents()).toBe(0);
        await source.close();
        await target.close();
      });
    }
  });
});

/** Rewrites event line `i` and its leafHash consistently: only the trailer's root can tell. */
function editWithLeafHash(lines: string[], i: number): string[] {
  return lines.map((line, j) => {
    if (j !== i) return line;
    const value = JSON.parse(line) as Record<string, unknown>;
    (value.data as Record<string, unknown>).name = 'renamed';
    value.leafHash = hashOfLine(value);
    return JSON.stringify(value);
  });
}

function hashOfLine(value: Record<string, unknown>): string {
  const event = { id: value.id as string, stream: value.stream as string, revision: value.revision as number, type: value.type as string, data: value.data, metadata: value.metadata, recordedAt: new Date(value.recordedAt as string) };
  const salt = typeof value.salt === 'string' ? new Uint8Array(Buffer.from(value.salt, 'base64')) : undefined;
  return Buffer.from(leafHash(event, salt)).toString('base64');
}

describe('importEvents (store port), on SQLite and PostgreSQL', () => {
  const backends: [string, () => Promise<{ store: EventStore; close(): Promise<void> }>][] = [
    ['sqlite', async () => { const store = await openSqliteEventStore({ file: join(dir, `port-${n++}.db`) }); return { store, close: () => store.close() }; }],
  ];
  if (!skipWithoutPostgres) {
    backends.push(['postgres', async () => {
      const { schema, drop } = await createSchema('kl_importev');
      const store = await openPostgresEventStore({ connectionString: DATABASE_URL as string, schema });
      return { store, close: async () => { await store.close(); await drop(); } };
    }]);
  }
  for (const [name, open] of backends) {
    it(`${name}: keeps ids and recordedAt, refuses a revision gap or a stored id, all or nothing`, async () => {
      const { store, close } = await open();
      try {
        const at = new Date('2030-01-02T03:04:05.678Z');
        const event = (id: string, stream: string, revision: number) => ({ id, stream, revision, type: 'Happened', data: { revision }, metadata: { note: 'moved' }, recordedAt: at });
        const a = '00000000-0000-4000-8000-000000000001';
        const b = '00000000-0000-4000-8000-000000000002';
        const c = '00000000-0000-4000-8000-000000000003';
        await store.importEvents([event(a, 's-1', 0), event(b, 's-1', 1)]);
        const [first, second] = await store.readStream('s-1');
        expect(first).toMatchObject({ id: a, revision: 0, metadata: { note: 'moved' } });
        expect(second?.recordedAt.toISOString()).toBe(at.toISOString());
        await expect(store.importEvents([event(c, 's-1', 3)])).rejects.toBeInstanceOf(WrongExpectedRevisionError);
        await expect(store.importEvents([event(c, 's-2', 0), event(a, 's-3', 0)])).rejects.toBeInstanceOf(DuplicateEventIdError);
        expect(await store.countEvents()).toBe(2);
        expect(await store.readStream('s-2')).toEqual([]);
      } finally {
        await close();
      }
    });
  }
});
