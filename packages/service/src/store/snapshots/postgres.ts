/**
 * Snapshots in the ledger's PostgreSQL schema, on a small pool of their own. Several instances
 * may each write: a write takes a transaction-scoped advisory lock on the snapshot's name,
 * compares checkpoints and replaces the row only when it is newer, so writers never interleave
 * and a lagging instance never moves the snapshot backwards. Readers see the old row or the new
 * one, never half of either (one row, one transaction).
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { quoteIdent } from '../postgres/naming.js';
import type { CompareCheckpoints, SnapshotStore } from './port.js';

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
      payload bytea not null,
      written_at timestamptz not null default now(),
      written_by text not null
    )`);
    // The payload is binary and mostly incompressible (digests): skip TOAST compression, which
    // would cost CPU on every write and read for nothing.
    await client.query(`alter table ${s}.kl_snapshots alter column payload set storage external`);
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
      // (node-postgres decodes every column of a binary-format result as UTF-8 text, so the
      // payload travels as hex and is decoded natively by its bytea parser.)
      const result = await pool.query<{ checkpoint: string; payload: Buffer; written_at: Date; written_by: string }>(
        `select checkpoint, payload, written_at, written_by from ${s}.kl_snapshots where name = $1`,
        [name],
      );
      const row = result.rows[0];
      if (!row) return undefined;
      return { name, checkpoint: row.checkpoint, payload: row.payload, writtenAt: row.written_at, writtenBy: row.written_by };
    },
    async storedCheckpoint(name) {
      const result = await pool.query<{ checkpoint: string }>(`select checkpoint from ${s}.kl_snapshots where name = $1`, [name]);
      return result.rows[0]?.checkpoint;
    },
    async save(snapshot) {
      const writer = await pool.connect();
      let failure: Error | undefined;
      try {
        await writer.query('begin');
        await writer.query('select pg_advisory_xact_lock($1, hashtext($2))', [lockSpace, snapshot.name]);
        const stored = await writer.query<{ checkpoint: string }>(`select checkpoint from ${s}.kl_snapshots where name = $1`, [snapshot.name]);
        const current = stored.rows[0]?.checkpoint;
        if (current !== undefined && options.compare(current, snapshot.checkpoint) >= 0) {
          await writer.query('rollback');
          return false;
        }
        await writer.query(
          `insert into ${s}.kl_snapshots (name, checkpoint, payload, written_by) values ($1, $2, $3, $4)
           on conflict (name) do update set checkpoint = excluded.checkpoint, payload = excluded.payload,
             written_at = now(), written_by = excluded.written_by`,
          [snapshot.name, snapshot.checkpoint, snapshot.payload, snapshot.writtenBy],
        );
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
