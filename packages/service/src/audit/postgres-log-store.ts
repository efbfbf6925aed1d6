/**
 * The transparency log's tables in the ledger's PostgreSQL schema, on a small pool of its own.
 * Instances sharing the database may all integrate: leaves are appended by one statement guarded
 * by the leaf index primary key (see appendLeaves), so one instance wins each round and the
 * loser's round writes nothing instead of forking the tree. Checkpoints stored on their own take
 * an advisory transaction lock, so "larger than every stored one" is checked and written at once.
 */
import { createHash } from 'node:crypto';
import { treeRootHash, type MerkleNode, type MerkleNodeRef } from '@keyledger/schemas';
import pg from 'pg';
import { runMigrations } from '../store/postgres/migrations.js';
import { schemaNames } from '../store/postgres/naming.js';
import { type AuditLogStore, type LeafRecord, LOWEST_STORED_LEVEL, type NewLeaf, resolveNodes, type StoredCheckpoint, type StoredCosignature } from './log-store.js';

interface LeafRow {
  leaf_index: string;
  event_id: string;
  stream_id: string;
  stream_revision: string;
  event_checkpoint: string;
  salt: Buffer | null;
  leaf_hash: Buffer;
}

interface CheckpointRow {
  tree_size: string;
  root_hash: Buffer;
  note: string;
  signed_at: Date;
}

const bytes = (buffer: Buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
const buffer = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

function toLeaf(row: LeafRow): LeafRecord {
  return {
    index: Number(row.leaf_index),
    eventId: row.event_id,
    stream: row.stream_id,
    revision: Number(row.stream_revision),
    eventCheckpoint: row.event_checkpoint,
    salt: row.salt ? bytes(row.salt) : null,
    leafHash: bytes(row.leaf_hash),
  };
}

function toCheckpoint(row: CheckpointRow): StoredCheckpoint {
  return { treeSize: Number(row.tree_size), rootHash: bytes(row.root_hash), note: row.note, signedAt: row.signed_at };
}

export async function openPostgresAuditLogStore(options: { connectionString: string; schema: string; poolSize?: number }): Promise<AuditLogStore> {
  const names = schemaNames(options.schema);
  const s = names.quoted;
  const lockKey = createHash('sha256').update(`keyledger:audit:${options.schema}`).digest().readBigInt64BE(0).toString();
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 3,
    statement_timeout: 30_000,
    idle_in_transaction_session_timeout: 60_000,
    application_name: `keyledger-audit:${options.schema}`.slice(0, 63),
  });
  pool.on('error', () => undefined);
  try {
    await runMigrations(pool, names);
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }

  const leafSelect = `select l.leaf_index, l.event_id::text as event_id, l.stream_id, l.stream_revision, l.event_checkpoint, l.salt, l.leaf_hash
    from ${s}.kl_audit_leaves l`;

  /** Runs `work` in a transaction holding the log's write lock. */
  async function locked<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let failure: Error | undefined;
    try {
      await client.query('begin');
      await client.query('select pg_advisory_xact_lock($1::bigint)', [lockKey]);
      const result = await work(client);
      await client.query('commit');
      return result;
    } catch (error) {
      failure = error as Error;
      await client.query('rollback').catch(() => undefined);
      throw error;
    } finally {
      client.release(failure);
    }
  }

  /** Inside the locked transaction: stores the checkpoint only if larger than every stored one. */
  async function insertCheckpoint(client: pg.PoolClient, checkpoint: StoredCheckpoint): Promise<boolean> {
    const max = await client.query<{ max: string | null }>(`select max(tree_size) as max from ${s}.kl_audit_checkpoints`);
    const stored = max.rows[0]?.max;
    if (stored !== null && stored !== undefined && Number(stored) >= checkpoint.treeSize) return false;
    await client.query(`insert into ${s}.kl_audit_checkpoints (tree_size, root_hash, note, signed_at) values ($1, $2, $3, $4)`, [
      checkpoint.treeSize,
      buffer(checkpoint.rootHash),
      checkpoint.note,
      checkpoint.signedAt,
    ]);
    return true;
  }

  async function getNodes(refs: readonly MerkleNodeRef[]): Promise<Uint8Array[]> {
    if (refs.length === 0) return [];
    return resolveNodes(
      refs,
      async (high) => {
        const result = await pool.query<{ level: number; node_index: string; hash: Buffer }>(
          `select n.level, n.node_index, n.hash from ${s}.kl_audit_nodes n
           join unnest($1::smallint[], $2::bigint[]) as r(level, node_index) on n.level = r.level and n.node_index = r.node_index`,
          [high.map((r) => r.level), high.map((r) => r.index)],
        );
        return new Map(result.rows.map((row) => [`${row.level}/${row.node_index}`, bytes(row.hash)]));
      },
      async (ranges) => {
        const indexes = ranges.flatMap(([from, to]) => Array.from({ length: to - from }, (_, i) => from + i));
        const result = await pool.query<{ leaf_index: string; leaf_hash: Buffer }>(
          `select leaf_index, leaf_hash from ${s}.kl_audit_leaves where leaf_index = any($1::bigint[])`,
          [indexes],
        );
        return new Map(result.rows.map((row) => [Number(row.leaf_index), bytes(row.leaf_hash)]));
      },
    );
  }

  return {
    backend: 'postgres',
    async treeHead() {
      const result = await pool.query<{ leaf_index: string; event_checkpoint: string }>(
        `select leaf_index, event_checkpoint from ${s}.kl_audit_leaves order by leaf_index desc limit 1`,
      );
      const row = result.rows[0];
      return row ? { size: Number(row.leaf_index) + 1, lastEventCheckpoint: row.event_checkpoint } : { size: 0, lastEventCheckpoint: undefined };
    },
    /**
     * One statement, one round trip: the leaves, their subtrees and the checkpoint commit
     * together or not at all. The guard is the leaf index primary key (and the event id's unique
     * index): an integrator that built on a stale head collides with the leaves another one wrote
     * and writes nothing (a unique violation, answered as false). Concurrent checkpoints of
     * different sizes are both kept: they are of one tree.
     */
    async appendLeaves(oldSize: number, leaves: readonly NewLeaf[], nodes: readonly MerkleNode[], checkpoint?: StoredCheckpoint) {
      const kept = nodes.filter((n) => n.level >= LOWEST_STORED_LEVEL);
      try {
        await pool.query(
          `with new_leaves as (
             insert into ${s}.kl_audit_leaves (leaf_index, event_id, stream_id, stream_revision, event_checkpoint, salt, leaf_hash)
             select * from unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::bytea[], $7::bytea[])
             returning 1
           ), new_nodes as (
             insert into ${s}.kl_audit_nodes (level, node_index, hash) select * from unnest($8::smallint[], $9::bigint[], $10::bytea[])
             returning 1
           ), new_checkpoint as (
             insert into ${s}.kl_audit_checkpoints (tree_size, root_hash, note, signed_at)
             select $11::bigint, $12::bytea, $13::text, $14::timestamptz
             where $11::bigint is not null and $11::bigint > coalesce((select max(c.tree_size) from ${s}.kl_audit_checkpoints c), -1)
             returning 1
           )
           select (select count(*) from new_leaves) as leaves, (select count(*) from new_nodes) as nodes, (select count(*) from new_checkpoint) as checkpoints`,
          [
            leaves.map((_, i) => oldSize + i),
            leaves.map((l) => l.eventId),
            leaves.map((l) => l.stream),
            leaves.map((l) => l.revision),
            leaves.map((l) => l.eventCheckpoint),
            leaves.map((l) => (l.salt ? buffer(l.salt) : null)),
            leaves.map((l) => buffer(l.leafHash)),
            kept.map((n) => n.level),
            kept.map((n) => n.index),
            kept.map((n) => buffer(n.hash)),
            checkpoint?.treeSize ?? null,
            checkpoint ? buffer(checkpoint.rootHash) : null,
            checkpoint?.note ?? null,
            checkpoint?.signedAt ?? null,
          ],
        );
        return true;
      } catch (error) {
        if ((error as { code?: string }).code === '23505') return false;
        throw error;
      }
    },
    getNodes,
    async nodesAtLevel(level, fromIndex, limit) {
      const result = await pool.query<{ node_index: string; hash: Buffer }>(
        `select node_index, hash from ${s}.kl_audit_nodes where level = $1 and node_index >= $2 order by node_index limit $3`,
        [level, fromIndex, limit],
      );
      return result.rows.map((row) => ({ index: Number(row.node_index), hash: bytes(row.hash) }));
    },
    async maxLevel() {
      const result = await pool.query<{ level: number | null }>(`select max(level) as level from ${s}.kl_audit_nodes`);
      return result.rows[0]?.level ?? -1;
    },
    async leafByEventId(eventId) {
      // Not a uuid: no such leaf (and no cast error).
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(eventId)) return undefined;
      const result = await pool.query<LeafRow>(`${leafSelect} where l.event_id = $1::uuid`, [eventId]);
      return result.rows[0] && toLeaf(result.rows[0]);
    },
    async leafByEventCheckpoint(checkpoint) {
      const result = await pool.query<LeafRow>(`${leafSelect} where l.event_checkpoint = $1`, [checkpoint]);
      return result.rows[0] && toLeaf(result.rows[0]);
    },
    async leafAt(index) {
      const result = await pool.query<LeafRow>(`${leafSelect} where l.leaf_index = $1`, [index]);
      return result.rows[0] && toLeaf(result.rows[0]);
    },
    async leaves(fromIndex, limit) {
      const result = await pool.query<LeafRow>(`${leafSelect} where l.leaf_index >= $1 order by l.leaf_index limit $2`, [fromIndex, limit]);
      return result.rows.map(toLeaf);
    },
    rootAt(size) {
      return treeRootHash({ getNodes }, size);
    },
    async latestCheckpoint() {
      const result = await pool.query<CheckpointRow>(`select * from ${s}.kl_audit_checkpoints order by tree_size desc limit 1`);
      return result.rows[0] && toCheckpoint(result.rows[0]);
    },
    async checkpointAt(treeSize) {
      const result = await pool.query<CheckpointRow>(`select * from ${s}.kl_audit_checkpoints where tree_size = $1`, [treeSize]);
      return result.rows[0] && toCheckpoint(result.rows[0]);
    },
    async checkpoints(afterSize, limit) {
      const result = await pool.query<CheckpointRow>(`select * from ${s}.kl_audit_checkpoints where tree_size > $1 order by tree_size limit $2`, [afterSize, limit]);
      return result.rows.map(toCheckpoint);
    },
    saveCheckpoint(checkpoint: StoredCheckpoint) {
      return locked((client) => insertCheckpoint(client, checkpoint));
    },
    async addCosignature(c: StoredCosignature) {
      const result = await pool.query(
        `insert into ${s}.kl_audit_cosignatures (tree_size, witness, key_id, line, received_at) values ($1, $2, $3, $4, $5) on conflict do nothing`,
        [c.treeSize, c.witness, c.keyId, c.line, c.receivedAt],
      );
      return (result.rowCount ?? 0) > 0;
    },
    async cosignatures(treeSize) {
      const result = await pool.query<{ tree_size: string; witness: string; key_id: string; line: string; received_at: Date }>(
        `select * from ${s}.kl_audit_cosignatures where tree_size = $1 order by received_at, witness`,
        [treeSize],
      );
      return result.rows.map((row) => ({ treeSize: Number(row.tree_size), witness: row.witness, keyId: Number(row.key_id), line: row.line, receivedAt: row.received_at }));
    },
    async meta(name) {
      const result = await pool.query<{ value: string }>(`select value from ${s}.kl_audit_meta where name = $1`, [name]);
      return result.rows[0]?.value;
    },
    async recordMetaOnce(name, value) {
      await pool.query(`insert into ${s}.kl_audit_meta (name, value) values ($1, $2) on conflict do nothing`, [name, value]);
      const result = await pool.query<{ value: string }>(`select value from ${s}.kl_audit_meta where name = $1`, [name]);
      return result.rows[0]?.value as string;
    },
    async close() {
      await pool.end();
    },
  };
}
