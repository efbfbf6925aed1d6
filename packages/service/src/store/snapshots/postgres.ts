/**
 * Snapshots in the ledger's PostgreSQL schema, on a small pool of their own. Several instances
 * may each write: a write takes a transaction-scoped advisory lock on the snapshot's name,
 * compares checkpoints and replaces the row only when it is newer, so writers never interleave
 * and a lagging instance never moves the snapshot backwards. Readers see the old row or the new
 * one, never half of either (one transaction, read at one snapshot).
 *
 * The payload is split into chunk rows: a bytea travels as hex text, and one value of a few
 * hundred MB would be a string near V8's length limit; chunks keep every value small.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { quoteIdent } from '../postgres/naming.js';
import { type CompareCheckpoints, type SnapshotStore, storedIsAtOrPast } from './port.js';

/** 8 MB: a chunk travels as a 16 MB hex string. */
const CHUNK_BYTES = 8 * 1024 * 1024;

export async function openPostgresSnapshotStore(options: { connectionString: string; schema: string; compare: CompareCheckpoints }): Promise<SnapshotStore> {
  const s = quoteIdent(options.schema);
  const lockSpace = createHash('sha256').update(`keyledger:snapshots:${options.schema}`).digest().readInt32BE(0);
  const pool = new pg.Pool({ connectionString: options.connectionString, max: 2, application_name: `keyledger-snapshots:${options.schema}`.slice(0, 63) });
  pool.on('error', () => undefined);
  const client = await pool.connect();
  try {
    await client.query('begin');
    await client.query('select pg_advisory_xact_lock($1, 0)', [lockSpace]);
    await client.query(`create table if not exists ${s}.kl_snapshots (
      name text primary key,
      checkpoint text not null,
      chunks integer not null,
      written_at timestamptz not null default now(),
      written_by text not null
    )`);
    await client.query(`create table if not exists ${s}.kl_snapshot_chunks (
      name text not null references ${s}.kl_snapshots (name) on delete cascade,
      seq integer not null,
      bytes bytea not null,
      primary key (name, seq)
    )`);
    // The payload is binary and mostly incompressible (digests): skip TOAST compression, which
    // would cost CPU on every write and read for nothing.
    await client.query(`alter table ${s}.kl_snapshot_chunks alter column bytes set storage external`);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    client.release(error as Error);
    await pool.end();
    throw error;
  }
  client.release();

  return {
    async load(name) {
      const reader = await pool.connect();
      let failure: Error | undefined;
      try {
        // One snapshot of the database for the head row and its chunks: a concurrent writer's
        // replacement is seen whole or not at all.
        await reader.query('begin isolation level repeatable read read only');
        const head = await reader.query<{ checkpoint: string; chunks: number; written_at: Date; written_by: string }>(
          `select checkpoint, chunks, written_at, written_by from ${s}.kl_snapshots where name = $1`,
          [name],
        );
        const row = head.rows[0];
        if (!row) {
          await reader.query('commit');
          return undefined;
        }
        const parts: Buffer[] = [];
        for (let seq = 0; seq < row.chunks; seq++) {
          const chunk = await reader.query<{ bytes: Buffer }>(`select bytes from ${s}.kl_snapshot_chunks where name = $1 and seq = $2`, [name, seq]);
          const bytes = chunk.rows[0]?.bytes;
          if (!bytes) throw new Error(`snapshot ${name} lacks chunk ${seq} of ${row.chunks}`);
          parts.push(bytes);
        }
        await reader.query('commit');
        return { name, checkpoint: row.checkpoint, payload: Buffer.concat(parts), writtenAt: row.written_at, writtenBy: row.written_by };
      } catch (error) {
        failure = error as Error;
        await reader.query('rollback').catch(() => undefined);
        throw error;
      } finally {
        reader.release(failure);
      }
    },
    async storedCheckpoint(name) {
      const result = await pool.query<{ checkpoint: string }>(`select checkpoint from ${s}.kl_snapshots where name = $1`, [name]);
      return result.rows[0]?.checkpoint;
    },
    async save(snapshot, saveOptions) {
      const writer = await pool.connect();
      let failure: Error | undefined;
      try {
        await writer.query('begin');
        await writer.query('select pg_advisory_xact_lock($1, hashtext($2))', [lockSpace, snapshot.name]);
        const stored = await writer.query<{ checkpoint: string }>(`select checkpoint from ${s}.kl_snapshots where name = $1`, [snapshot.name]);
        const current = stored.rows[0]?.checkpoint;
        if (saveOptions?.replace !== true && current !== undefined && storedIsAtOrPast(options.compare, current, snapshot.checkpoint)) {
          await writer.query('rollback');
          return false;
        }
        const chunks = Math.max(1, Math.ceil(snapshot.payload.length / CHUNK_BYTES));
        await writer.query(
          `insert into ${s}.kl_snapshots (name, checkpoint, chunks, written_by) values ($1, $2, $3, $4)
           on conflict (name) do update set checkpoint = excluded.checkpoint, chunks = excluded.chunks,
             written_at = now(), written_by = excluded.written_by`,
          [snapshot.name, snapshot.checkpoint, chunks, snapshot.writtenBy],
        );
        await writer.query(`delete from ${s}.kl_snapshot_chunks where name = $1`, [snapshot.name]);
        for (let seq = 0; seq < chunks; seq++) {
          const bytes = snapshot.payload.subarray(seq * CHUNK_BYTES, (seq + 1) * CHUNK_BYTES);
          await writer.query(`insert into ${s}.kl_snapshot_chunks (name, seq, bytes) values ($1, $2, $3)`, [snapshot.name, seq, bytes]);
        }
        await writer.query('commit');
        return true;
      } catch (error) {
        failure = error as Error;
        await writer.query('rollback').catch(() => undefined);
        throw error;
      } finally {
        writer.release(failure);
      }
    },
    async close() {
      await pool.end();
    },
  };
}
