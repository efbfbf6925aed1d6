/**
 * The transparency log's tables in the ledger's PostgreSQL schema, on a small pool of its own.
 * Writes take one advisory transaction lock per schema, so instances sharing the database append
 * leaves and checkpoints one at a time; the size check under that lock makes the loser's round
 * a no-op instead of a fork.
 */
import { createHash } from 'node:crypto';
import { treeRootHash, type MerkleNode, type MerkleNodeRef } from '@keyledger/schemas';
import pg from 'pg';
import { runMigrations } from '../store/postgres/migrations.js';
import { schemaNames } from '../store/postgres/naming.js';
import { type AuditLogStore, type LeafRecord, MissingNodeError, type NewLeaf, type StoredCheckpoint, type StoredCosignature } from './log-store.js';

interface LeafRow {
  leaf_index: string;
  event_id: string;
  stream_id: string;
  stream_revision: string;
  event_checkpoint: string;
  salt: Buffer | null;
  hash: Buffer | null;
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
    leafHash: row.hash ? bytes(row.hash) : undefined,
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

  const leafSelect = `select l.leaf_index, l.event_id::text as event_id, l.stream_id, l.stream_revision, l.event_checkpoint, l.salt, n.hash
    from ${s}.kl_audit_leaves l left join ${s}.kl_audit_nodes n on n.level = 0 and n.node_index = l.leaf_index`;

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

  async function sizeNow(client: pg.PoolClient | pg.Pool): Promise<number> {
    const result = await client.query<{ leaf_index: string }>(`select leaf_index from ${s}.kl_audit_leaves order by leaf_index desc limit 1`);
    const row = result.rows[0];
    return row ? Number(row.leaf_index) + 1 : 0;
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
    const result = await pool.query<{ level: number; node_index: string; hash: Buffer }>(
      `select n.level, n.node_index, n.hash from ${s}.kl_audit_nodes n
       join unnest($1::smallint[], $2::bigint[]) as r(level, node_index) on n.level = r.level and n.node_index = r.node_index`,
      [refs.map((r) => r.level), refs.map((r) => r.index)],
    );
    const found = new Map(result.rows.map((row) => [`${row.level}/${row.node_index}`, row.hash]));
    return refs.map(({ level, index }) => {
      const hash = found.get(`${level}/${index}`);
      if (!hash) throw new MissingNodeError(`the log has no subtree (${level}, ${index})`);
      return bytes(hash);
    });
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
    appendLeaves(oldSize: number, leaves: readonly NewLeaf[], nodes: readonly MerkleNode[], checkpoint?: StoredCheckpoint) {
      return locked(async (client) => {
        if ((await sizeNow(client)) !== oldSize) return false;
        if (leaves.length > 0) {
          await client.query(
            `insert into ${s}.kl_audit_leaves (leaf_index, event_id, stream_id, stream_revision, event_checkpoint, salt)
             select * from unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::bytea[])`,
            [
              leaves.map((_, i) => oldSize + i),
              leaves.map((l) => l.eventId),
              leaves.map((l) => l.stream),
              leaves.map((l) => l.revision),
              leaves.map((l) => l.eventCheckpoint),
              leaves.map((l) => (l.salt ? buffer(l.salt) : null)),
            ],
          );
        }
        if (nodes.length > 0) {
          await client.query(
            `insert into ${s}.kl_audit_nodes (level, node_index, hash) select * from unnest($1::smallint[], $2::bigint[], $3::bytea[])`,
            [nodes.map((n) => n.level), nodes.map((n) => n.index), nodes.map((n) => buffer(n.hash))],
          );
        }
        if (checkpoint) await insertCheckpoint(client, checkpoint);
        return true;
      });
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
