/**
 * The integrator on real stores (a SQLite file, a PostgreSQL schema): every event becomes the
 * next leaf in global order, the stored tree gives the same roots and proofs as an in-memory
 * tree of the same leaves, checkpoints verify with the log key, and two integrators on one
 * database never fork the tree.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bytesEqual,
  generateNoteKeyPair,
  MemoryMerkleTree,
  proveConsistency,
  proveInclusion,
  verifyCheckpoint,
  verifyConsistency,
  verifyInclusion,
} from '@keyledger/schemas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSchema, DATABASE_URL, skipWithoutPostgres } from '../../../../test/support/services.js';
import { checkRecordedKey } from '../../src/audit/index.js';
import { AuditIntegrator, leafOf } from '../../src/audit/integrator.js';
import type { AuditLogStore } from '../../src/audit/log-store.js';
import { openPostgresAuditLogStore } from '../../src/audit/postgres-log-store.js';
import { AuditKeyError, auditKeyFromSignerKey } from '../../src/audit/signing-key.js';
import { openSqliteAuditLogStore } from '../../src/audit/sqlite-log-store.js';
import type { EventStore } from '../../src/store/port.js';
import { openPostgresEventStore } from '../../src/store/postgres/index.js';
import { openSqliteEventStore } from '../../src/store/sqlite/index.js';
import { issueKeys, keyRevoked } from '../projections/ledger.js';

interface Backend {
  store: EventStore;
  openLog(): Promise<AuditLogStore>;
  cleanup(): Promise<void>;
}

const backends: Record<string, { skip: boolean; open(): Promise<Backend> }> = {
  sqlite: {
    skip: false,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'kl-audit-'));
      const file = join(dir, 'keyledger.db');
      const store = await openSqliteEventStore({ file });
      return { store, openLog: async () => openSqliteAuditLogStore({ file }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  postgres: {
    skip: skipWithoutPostgres,
    async open() {
      const { schema, drop } = await createSchema('kl_audit');
      const store = await openPostgresEventStore({ connectionString: DATABASE_URL as string, schema });
      return { store, openLog: () => openPostgresAuditLogStore({ connectionString: DATABASE_URL as string, schema }), cleanup: drop };
    },
  },
};

const key = auditKeyFromSignerKey(generateNoteKeyPair('keyledger.test/audit').signerKey, 'test key');

for (const [name, backend] of Object.entries(backends)) {
  describe.skipIf(backend.skip)(`audit integrator on ${name}`, () => {
    let b: Backend;
    let log: AuditLogStore;
    let other: AuditLogStore;

    beforeAll(async () => {
      b = await backend.open();
      log = await b.openLog();
      other = await b.openLog();
    });
    afterAll(async () => {
      await log?.close();
      await other?.close();
      await b?.store.close();
      await b?.cleanup();
    });

    it('appends every event in global order and signs checkpoints that verify', async () => {
      await issueKeys(b.store, 0, 37);
      await b.store.appendToStream(`key-key_${String(3).padStart(20, '0')}`, [keyRevoked(3)]);
      // Two integrators on one database, racing: the tree must come out the same as one.
      const a = new AuditIntegrator({ store: b.store, log, key, batchSize: 7 });
      const c = new AuditIntegrator({ store: b.store, log: other, key, batchSize: 5 });
      const [sizeA, sizeC] = await Promise.all([a.integrate(), c.integrate()]);
      expect(Math.max(sizeA, sizeC)).toBe(38);
      const checkpoint = await a.signNow();
      expect(checkpoint?.treeSize).toBe(38);

      // Leaf i is the i-th event of the global log, with the stored salt.
      const events = (await b.store.readAll({ maxCount: 1000 })).events;
      const leaves = await log.leaves(0, 1000);
      expect(leaves.map((l) => l.eventId)).toEqual(events.map((e) => e.id));
      const memory = new MemoryMerkleTree();
      for (const [i, event] of events.entries()) {
        const leaf = leaves[i]!;
        // KeyIssued carries a digest: sealed with a salt; KeyRevoked has no private field.
        expect(leaf.salt === null).toBe(event.type === 'KeyRevoked');
        const { hash } = leafOf(event, leaf.salt ?? undefined);
        expect(bytesEqual(hash, leaf.leafHash!)).toBe(true);
        memory.appendLeafHash(hash);
      }
      for (const size of [1, 2, 3, 17, 32, 37, 38]) expect(bytesEqual(await log.rootAt(size), memory.rootHash(size))).toBe(true);

      const verified = verifyCheckpoint(checkpoint!.note, { log: key.verifier });
      expect(verified.checkpoint.treeSize).toBe(38);
      expect(bytesEqual(verified.checkpoint.rootHash, memory.rootHash())).toBe(true);

      for (const index of [0, 5, 31, 37]) {
        const proof = await proveInclusion(log, index, 38);
        expect(verifyInclusion({ leafHash: leaves[index]!.leafHash!, index, treeSize: 38, proof, rootHash: memory.rootHash() })).toBe(true);
      }
      for (const from of [1, 7, 32]) {
        const proof = await proveConsistency(log, from, 38);
        expect(verifyConsistency({ oldSize: from, newSize: 38, oldRoot: memory.rootHash(from), newRoot: memory.rootHash(), proof })).toBe(true);
      }
    });

    it('an instance without the log key integrates but never signs; only a strict (SQLite) start refuses it', async () => {
      const stranger = auditKeyFromSignerKey(generateNoteKeyPair(key.origin).signerKey, 'stranger');
      await checkRecordedKey(log, key);
      await expect(checkRecordedKey(other, stranger)).rejects.toThrow(AuditKeyError);
      expect(await checkRecordedKey(other, stranger, { strict: false })).toEqual({ canSign: false, verifierKey: key.verifierKey });
      const before = await log.latestCheckpoint();
      const follower = new AuditIntegrator({ store: b.store, log: other, key: stranger, signing: false });
      await b.store.appendToStream('key-follower', [keyRevoked(99)]);
      expect(await follower.signNow()).toEqual(before);
      expect((await other.treeHead()).size).toBe(39);
      // The leaf it integrated is the one the key holder signs next.
      expect((await new AuditIntegrator({ store: b.store, log, key }).signNow())?.treeSize).toBe(39);
    });

    it('follows new events in the background and signs them within the cadence', async () => {
      const integrator = new AuditIntegrator({ store: b.store, log, key, checkpointIntervalMs: 50 });
      integrator.start();
      try {
        await issueKeys(b.store, 100, 110);
        await integrator.whenSigned(49);
        const latest = await log.latestCheckpoint();
        expect(latest?.treeSize).toBe(49);
        const earlier = await log.checkpointAt(38);
        const proof = await proveConsistency(log, 38, 49);
        expect(verifyConsistency({ oldSize: 38, newSize: 49, oldRoot: earlier!.rootHash, newRoot: latest!.rootHash, proof })).toBe(true);
        // Leaves are found by event id and by the event's store checkpoint.
        const events = (await b.store.readAll({ maxCount: 1000 })).events;
        const last = events[events.length - 1]!;
        expect((await log.leafByEventId(last.id))?.index).toBe(48);
        expect((await log.leafByEventCheckpoint(last.checkpoint))?.index).toBe(48);
      } finally {
        await integrator.stop();
      }
    });
  });
}
