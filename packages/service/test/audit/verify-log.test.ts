/**
 * audit verify against tampering done straight in the database (SQLite file; PostgreSQL schema
 * for a subset): each case builds a fresh ledger with a log and two signed checkpoints, changes
 * the database behind keyledger's back, and expects verify to name exactly what was done.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatCheckpoint, generateNoteKeyPair, parseCheckpoint, parseNote, signCheckpoint } from '@keyledger/schemas';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from '../../../../test/support/services.js';
import { checkRecordedKey } from '../../src/audit/index.js';
import { AuditIntegrator } from '../../src/audit/integrator.js';
import type { AuditLogStore } from '../../src/audit/log-store.js';
import { openPostgresAuditLogStore } from '../../src/audit/postgres-log-store.js';
import { auditKeyFromSignerKey, type AuditKey } from '../../src/audit/signing-key.js';
import { openSqliteAuditLogStore } from '../../src/audit/sqlite-log-store.js';
import { verifyAuditLog, type VerifyReport } from '../../src/audit/verify-log.js';
import type { EventStore } from '../../src/store/port.js';
import { openPostgresEventStore } from '../../src/store/postgres/index.js';
import { openSqliteEventStore } from '../../src/store/sqlite/index.js';
import { keyIdOf, keyIssued, keyRevoked, keySuspended } from '../projections/ledger.js';

const stream = (i: number) => `key-${keyIdOf(i)}`;

interface Ledger {
  open(): Promise<{ store: EventStore; log: AuditLogStore }>;
  /** Runs SQL with {events}, {leaves}, {nodes}, {checkpoints} replaced by the backend's tables. */
  sql(text: string, params?: unknown[]): Promise<void>;
  cleanup(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

async function sqliteLedger(): Promise<Ledger> {
  const dir = mkdtempSync(join(tmpdir(), 'kl-verify-'));
  const file = join(dir, 'keyledger.db');
  const names: Record<string, string> = { events: 'events', leaves: 'kl_audit_leaves', nodes: 'kl_audit_nodes', checkpoints: 'kl_audit_checkpoints' };
  return {
    open: async () => ({ store: await openSqliteEventStore({ file }), log: openSqliteAuditLogStore({ file }) }),
    async sql(text, params = []) {
      const db = new Database(file);
      try {
        db.prepare(text.replace(/\{(events|leaves|nodes|checkpoints)\}/g, (_, name: string) => names[name] as string)).run(...(params as unknown[]));
      } finally {
        db.close();
      }
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

async function postgresLedger(): Promise<Ledger> {
  const { schema, drop } = await createSchema('kl_verify');
  const q = `"${schema}"`;
  const names: Record<string, string> = { events: `${q}.kl_events`, leaves: `${q}.kl_audit_leaves`, nodes: `${q}.kl_audit_nodes`, checkpoints: `${q}.kl_audit_checkpoints` };
  const url = DATABASE_URL as string;
  return {
    open: async () => ({ store: await openPostgresEventStore({ connectionString: url, schema }), log: await openPostgresAuditLogStore({ connectionString: url, schema }) }),
    async sql(text, params = []) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        let n = 0;
        await client.query(text.replace(/\{(events|leaves|nodes|checkpoints)\}/g, (_, name: string) => names[name] as string).replace(/\?/g, () => `$${++n}`), params);
      } finally {
        await client.end();
      }
    },
    cleanup: drop,
  };
}

const key = auditKeyFromSignerKey(generateNoteKeyPair('keyledger.test/verify').signerKey, 'test key');

/**
 * Streams key-0..key-11, one KeyIssued each; key-2 and key-5 also get KeySuspended and KeyRevoked
 * (revisions 1 and 2) in the middle of the log. Checkpoints at sizes 8 and 16.
 */
async function build(make: () => Promise<Ledger>): Promise<Ledger> {
  const ledger = await make();
  cleanups.push(() => ledger.cleanup());
  const { store, log } = await ledger.open();
  await checkRecordedKey(log, key);
  const integrator = new AuditIntegrator({ store, log, key });
  for (let i = 0; i < 8; i++) await store.appendToStream(stream(i), [keyIssued(i)]);
  await integrator.signNow();
  await store.appendToStream(stream(2), [keySuspended(2), keyRevoked(2)]);
  await store.appendToStream(stream(5), [keySuspended(5), keyRevoked(5)]);
  for (let i = 8; i < 12; i++) await store.appendToStream(stream(i), [keyIssued(i)]);
  expect((await integrator.signNow())?.treeSize).toBe(16);
  await log.close();
  await store.close();
  return ledger;
}

async function verify(ledger: Ledger, trusted: AuditKey = key): Promise<VerifyReport> {
  const { store, log } = await ledger.open();
  try {
    const report = await verifyAuditLog({ store, log, trusted: trusted.verifier, trustedVerifierKey: trusted.verifierKey });
    // The figures a reader wants to see: what each tampering produced.
    console.log(report.problems.map((p) => `${p.kind}: ${p.detail}`).join('\n') || 'ok');
    return report;
  } finally {
    await log.close();
    await store.close();
  }
}

const kinds = (report: VerifyReport) => [...new Set(report.problems.map((p) => p.kind))].sort();

const backends = [
  { name: 'sqlite', make: sqliteLedger, skip: false, all: true },
  { name: 'postgres', make: postgresLedger, skip: skipWithoutPostgres, all: false },
];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`audit verify on ${backend.name}`, () => {
    const position = 'position';

    it('holds on an untouched ledger', async () => {
      const report = await verify(await build(backend.make));
      expect(report).toMatchObject({ ok: true, treeSize: 16, events: 16, checkpoints: 2, pendingEvents: 0, problems: [] });
    });

    it('names an edited payload by stream and revision', async () => {
      const ledger = await build(backend.make);
      const edit = backend.name === 'sqlite' ? `json_set(data, '$.name', 'mallory')` : `jsonb_set(data::jsonb, '{name}', '"mallory"')::json`;
      await ledger.sql(`UPDATE {events} SET data = ${edit} WHERE stream_id = ? AND stream_revision = 0`, [stream(3)]);
      const report = await verify(ledger);
      expect(report.ok).toBe(false);
      expect(kinds(report)).toEqual(['payload-changed']);
      expect(report.problems[0]).toMatchObject({ stream: stream(3), revision: 0, leafIndex: 3 });
    });

    it('names an event deleted from the middle of a stream', async () => {
      const ledger = await build(backend.make);
      await ledger.sql('DELETE FROM {events} WHERE stream_id = ? AND stream_revision = 1', [stream(2)]);
      const report = await verify(ledger);
      expect(kinds(report)).toEqual(['event-missing', 'revision-gap']);
      expect(report.problems.find((p) => p.kind === 'event-missing')).toMatchObject({ stream: stream(2), revision: 1, leafIndex: 8 });
      expect(report.problems.find((p) => p.kind === 'revision-gap')).toMatchObject({ stream: stream(2), revision: 2 });
    });

    it('names a rewritten checkpoint', async () => {
      const ledger = await build(backend.make);
      // A note signed by another key, claiming another root, and a note whose text was altered.
      const impostor = auditKeyFromSignerKey(generateNoteKeyPair(key.origin).signerKey, 'impostor');
      const forged = signCheckpoint({ origin: key.origin, treeSize: 16, rootHash: new Uint8Array(32).fill(7) }, impostor.signer);
      await ledger.sql('UPDATE {checkpoints} SET note = ? WHERE tree_size = 16', [forged]);
      const { store, log } = await ledger.open();
      const original = (await log.checkpointAt(8))!.note;
      await log.close();
      await store.close();
      const text = parseNote(original).text;
      const altered = original.replace(text, formatCheckpoint({ ...parseCheckpoint(text), rootHash: new Uint8Array(32).fill(9) }));
      await ledger.sql('UPDATE {checkpoints} SET note = ? WHERE tree_size = 8', [altered]);
      const report = await verify(ledger);
      expect(kinds(report)).toEqual(['checkpoint-signature']);
      expect(report.problems.map((p) => p.treeSize).sort()).toEqual([16, 8]);
      expect(report.problems.find((p) => p.treeSize === 16)?.detail).toMatch(/not signed by the trusted log key/);
      expect(report.problems.find((p) => p.treeSize === 8)?.detail).toMatch(/does not verify/);
    });

    if (!backend.all) return;

    it('names two reordered events', async () => {
      const ledger = await build(backend.make);
      // Swap the global positions of key-1's and key-6's KeyIssued (different streams).
      const at = (i: number) => `(SELECT ${position} FROM {events} WHERE stream_id = '${stream(i)}' AND stream_revision = 0)`;
      await ledger.sql(`UPDATE {events} SET ${position} = -1 WHERE ${position} = ${at(1)}`);
      await ledger.sql(`UPDATE {events} SET ${position} = 2 WHERE ${position} = ${at(6)}`);
      await ledger.sql(`UPDATE {events} SET ${position} = 7 WHERE ${position} = -1`);
      const report = await verify(ledger);
      // Exactly the two moved events are named, not the ones between them.
      expect(kinds(report)).toEqual(['reordered']);
      expect(report.problems.map((p) => p.stream).sort()).toEqual([stream(1), stream(6)]);
    });

    it("names a stream's dropped tail", async () => {
      const ledger = await build(backend.make);
      await ledger.sql('DELETE FROM {events} WHERE stream_id = ? AND stream_revision >= 1', [stream(5)]);
      const report = await verify(ledger);
      expect(kinds(report)).toEqual(['stream-tail-dropped']);
      expect(report.problems[0]).toMatchObject({ stream: stream(5), revision: 1 });
      expect(report.problems[0]!.detail).toContain('revisions 1..2');
    });

    it("names the log's dropped tail, in the events and in the log tables", async () => {
      const ledger = await build(backend.make);
      await ledger.sql(`DELETE FROM {events} WHERE ${position} > (SELECT max(${position}) - 3 FROM {events})`);
      const events = await verify(ledger);
      expect(kinds(events)).toEqual(['log-tail-dropped']);
      expect(events.problems[0]!.detail).toContain('leaves 13..15');
      // Covering the tracks in the log tables too leaves the signed checkpoint of size 16.
      await ledger.sql('DELETE FROM {leaves} WHERE leaf_index >= 13');
      await ledger.sql('DELETE FROM {nodes} WHERE level = 4'); // the one stored subtree that covered them
      const both = await verify(ledger);
      expect(kinds(both)).toEqual(['checkpoint-beyond-tree']);
      expect(both.problems[0]).toMatchObject({ treeSize: 16 });
    });

    it('names a replaced signing key', async () => {
      const ledger = await build(backend.make);
      const replacement = auditKeyFromSignerKey(generateNoteKeyPair(key.origin).signerKey, 'replacement');
      const report = await verify(ledger, replacement);
      expect(kinds(report)).toEqual(['checkpoint-signature', 'signing-key-replaced']);
      expect(report.problems.find((p) => p.kind === 'signing-key-replaced')!.detail).toContain(key.verifierKey);
    });

    it('names a tampered tree node', async () => {
      const ledger = await build(backend.make);
      await ledger.sql(`UPDATE {nodes} SET hash = ? WHERE level = 4 AND node_index = 0`, [Buffer.alloc(32, 1)]);
      const report = await verify(ledger);
      // Roots are recomputed from the leaves, so the signed checkpoints still hold; the node does not.
      expect(kinds(report)).toEqual(['node-mismatch']);
      expect(report.problems.find((p) => p.kind === 'node-mismatch')!.detail).toContain('level 4, index 0');
    });
  });
}
