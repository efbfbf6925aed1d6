/**
 * The transparency log's tables in the SQLite ledger file, on a connection of its own. Writes run
 * in IMMEDIATE transactions: the file's single write lock is what makes one integrator win.
 */
import { treeRootHash, type MerkleNode, type MerkleNodeRef } from '@keyledger/schemas';
import Database from 'better-sqlite3';
import { migrate } from '../store/sqlite/schema.js';
import { type AuditLogStore, type LeafRecord, LOWEST_STORED_LEVEL, type NewLeaf, resolveNodes, type StoredCheckpoint, type StoredCosignature } from './log-store.js';

interface LeafRow {
  leaf_index: number;
  event_id: string;
  stream_id: string;
  stream_revision: number;
  event_checkpoint: string;
  salt: Buffer | null;
  leaf_hash: Buffer;
}

interface CheckpointRow {
  tree_size: number;
  root_hash: Buffer;
  note: string;
  signed_at: number;
}

const LEAF_SELECT = 'SELECT l.leaf_index, l.event_id, l.stream_id, l.stream_revision, l.event_checkpoint, l.salt, l.leaf_hash FROM kl_audit_leaves l';

const bytes = (buffer: Buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
const buffer = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

function toLeaf(row: LeafRow): LeafRecord {
  return {
    index: row.leaf_index,
    eventId: row.event_id,
    stream: row.stream_id,
    revision: row.stream_revision,
    eventCheckpoint: row.event_checkpoint,
    salt: row.salt ? bytes(row.salt) : null,
    leafHash: bytes(row.leaf_hash),
  };
}

function toCheckpoint(row: CheckpointRow): StoredCheckpoint {
  return { treeSize: row.tree_size, rootHash: bytes(row.root_hash), note: row.note, signedAt: new Date(row.signed_at) };
}

export function openSqliteAuditLogStore(options: { file: string; busyTimeoutMs?: number }): AuditLogStore {
  const db = new Database(options.file);
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
  db.pragma('journal_mode = WAL');
  // FULL: a leaf's salt is random, so a leaf lost after its checkpoint was published could never
  // be rebuilt with the same hash; the tree must be as durable as the events.
  db.pragma('synchronous = FULL');
  migrate(db);
  db.defaultSafeIntegers(false);

  const s = {
    head: db.prepare('SELECT leaf_index, event_checkpoint FROM kl_audit_leaves ORDER BY leaf_index DESC LIMIT 1'),
    node: db.prepare('SELECT hash FROM kl_audit_nodes WHERE level = ? AND node_index = ?').pluck(),
    nodesAtLevel: db.prepare('SELECT node_index AS "index", hash FROM kl_audit_nodes WHERE level = ? AND node_index >= ? ORDER BY node_index LIMIT ?'),
    maxLevel: db.prepare('SELECT max(level) FROM kl_audit_nodes').pluck(),
    insertLeaf: db.prepare('INSERT INTO kl_audit_leaves (leaf_index, event_id, stream_id, stream_revision, event_checkpoint, salt, leaf_hash) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    leafHashes: db.prepare('SELECT leaf_index, leaf_hash FROM kl_audit_leaves WHERE leaf_index >= ? AND leaf_index < ?'),
    insertNode: db.prepare('INSERT INTO kl_audit_nodes (level, node_index, hash) VALUES (?, ?, ?)'),
    leafById: db.prepare(`${LEAF_SELECT} WHERE l.event_id = ?`),
    leafByCheckpoint: db.prepare(`${LEAF_SELECT} WHERE l.event_checkpoint = ?`),
    leafAt: db.prepare(`${LEAF_SELECT} WHERE l.leaf_index = ?`),
    leaves: db.prepare(`${LEAF_SELECT} WHERE l.leaf_index >= ? ORDER BY l.leaf_index LIMIT ?`),
    latest: db.prepare('SELECT * FROM kl_audit_checkpoints ORDER BY tree_size DESC LIMIT 1'),
    checkpointAt: db.prepare('SELECT * FROM kl_audit_checkpoints WHERE tree_size = ?'),
    checkpoints: db.prepare('SELECT * FROM kl_audit_checkpoints WHERE tree_size > ? ORDER BY tree_size LIMIT ?'),
    maxCheckpoint: db.prepare('SELECT max(tree_size) FROM kl_audit_checkpoints').pluck(),
    insertCheckpoint: db.prepare('INSERT INTO kl_audit_checkpoints (tree_size, root_hash, note, signed_at) VALUES (?, ?, ?, ?)'),
    insertCosignature: db.prepare(
      'INSERT INTO kl_audit_cosignatures (tree_size, witness, key_id, line, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    cosignatures: db.prepare('SELECT * FROM kl_audit_cosignatures WHERE tree_size = ? ORDER BY received_at, witness'),
    meta: db.prepare('SELECT value FROM kl_audit_meta WHERE name = ?').pluck(),
    insertMeta: db.prepare('INSERT INTO kl_audit_meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING'),
  };

  const sizeNow = () => {
    const row = s.head.get() as { leaf_index: number } | undefined;
    return row ? row.leaf_index + 1 : 0;
  };

  const insertCheckpoint = (checkpoint: StoredCheckpoint): boolean => {
    const max = s.maxCheckpoint.get() as number | null;
    if (max !== null && max >= checkpoint.treeSize) return false;
    s.insertCheckpoint.run(checkpoint.treeSize, buffer(checkpoint.rootHash), checkpoint.note, checkpoint.signedAt.getTime());
    return true;
  };

  const append = db.transaction((oldSize: number, leaves: readonly NewLeaf[], nodes: readonly MerkleNode[], checkpoint: StoredCheckpoint | undefined): boolean => {
    if (sizeNow() !== oldSize) return false;
    leaves.forEach((leaf, i) =>
      s.insertLeaf.run(oldSize + i, leaf.eventId, leaf.stream, leaf.revision, leaf.eventCheckpoint, leaf.salt ? buffer(leaf.salt) : null, buffer(leaf.leafHash)),
    );
    for (const node of nodes) if (node.level >= LOWEST_STORED_LEVEL) s.insertNode.run(node.level, node.index, buffer(node.hash));
    if (checkpoint) insertCheckpoint(checkpoint);
    return true;
  });

  const saveCheckpoint = db.transaction(insertCheckpoint);

  const getNodes = (refs: readonly MerkleNodeRef[]): Promise<Uint8Array[]> =>
    resolveNodes(
      refs,
      async (high) => {
        const found = new Map<string, Uint8Array>();
        for (const { level, index } of high) {
          const hash = s.node.get(level, index) as Buffer | undefined;
          if (hash) found.set(`${level}/${index}`, bytes(hash));
        }
        return found;
      },
      async (ranges) => {
        const found = new Map<number, Uint8Array>();
        for (const [from, to] of ranges) {
          for (const row of s.leafHashes.all(from, to) as { leaf_index: number; leaf_hash: Buffer }[]) found.set(row.leaf_index, bytes(row.leaf_hash));
        }
        return found;
      },
    );

  const store: AuditLogStore = {
    backend: 'sqlite',
    async treeHead() {
      const row = s.head.get() as { leaf_index: number; event_checkpoint: string } | undefined;
      return row ? { size: row.leaf_index + 1, lastEventCheckpoint: row.event_checkpoint } : { size: 0, lastEventCheckpoint: undefined };
    },
    async appendLeaves(oldSize, leaves, nodes, checkpoint) {
      return append.immediate(oldSize, leaves, nodes, checkpoint);
    },
    getNodes,
    async nodesAtLevel(level, fromIndex, limit) {
      return (s.nodesAtLevel.all(level, fromIndex, limit) as { index: number; hash: Buffer }[]).map((row) => ({ index: row.index, hash: bytes(row.hash) }));
    },
    async maxLevel() {
      return (s.maxLevel.get() as number | null) ?? -1;
    },
    async leafByEventId(eventId) {
      const row = s.leafById.get(eventId) as LeafRow | undefined;
      return row && toLeaf(row);
    },
    async leafByEventCheckpoint(checkpoint) {
      const row = s.leafByCheckpoint.get(checkpoint) as LeafRow | undefined;
      return row && toLeaf(row);
    },
    async leafAt(index) {
      const row = s.leafAt.get(index) as LeafRow | undefined;
      return row && toLeaf(row);
    },
    async leaves(fromIndex, limit) {
      return (s.leaves.all(fromIndex, limit) as LeafRow[]).map(toLeaf);
    },
    rootAt(size) {
      return treeRootHash({ getNodes }, size);
    },
    async latestCheckpoint() {
      const row = s.latest.get() as CheckpointRow | undefined;
      return row && toCheckpoint(row);
    },
    async checkpointAt(treeSize) {
      const row = s.checkpointAt.get(treeSize) as CheckpointRow | undefined;
      return row && toCheckpoint(row);
    },
    async checkpoints(afterSize, limit) {
      return (s.checkpoints.all(afterSize, limit) as CheckpointRow[]).map(toCheckpoint);
    },
    async saveCheckpoint(checkpoint) {
      return saveCheckpoint.immediate(checkpoint);
    },
    async addCosignature(c) {
      return s.insertCosignature.run(c.treeSize, c.witness, c.keyId, c.line, c.receivedAt.getTime()).changes > 0;
    },
    async cosignatures(treeSize) {
      const rows = s.cosignatures.all(treeSize) as { tree_size: number; witness: string; key_id: number; line: string; received_at: number }[];
      return rows.map((row): StoredCosignature => ({ treeSize: row.tree_size, witness: row.witness, keyId: row.key_id, line: row.line, receivedAt: new Date(row.received_at) }));
    },
    async meta(name) {
      return (s.meta.get(name) as string | undefined) ?? undefined;
    },
    async recordMetaOnce(name, value) {
      s.insertMeta.run(name, value);
      return s.meta.get(name) as string;
    },
    async close() {
      if (db.open) db.close();
    },
  };
  return store;
}
