/**
 * importEvents on PostgreSQL: one transaction per call. Like kl_append it takes every stream's
 * advisory lock before its first write, so the transaction id (the global order's first key) is
 * assigned only once the streams are held, and a concurrent append can never interleave.
 * Revisions are checked against kl_streams inside the transaction, then the events are inserted in
 * the given order with their own ids and recording times.
 */
import type pg from 'pg';
import { DuplicateEventIdError, WrongExpectedRevisionError } from '../errors.js';
import type { ImportResult } from '../port.js';
import { nextRevisions, type PreparedImportEvent } from '../prepare-import.js';
import { formatCheckpoint } from './checkpoint.js';
import type { SchemaNames } from './naming.js';

export async function importEventsPg(pool: pg.Pool, names: SchemaNames, events: readonly PreparedImportEvent[]): Promise<ImportResult> {
  const s = names.quoted;
  const streams = [...new Set(events.map((event) => event.stream))];
  const client = await pool.connect();
  let failure: Error | undefined;
  try {
    await client.query('begin');
    await client.query(
      'select pg_advisory_xact_lock($1, h) from (select distinct hashtext(name) as h from unnest($2::text[]) as t(name) order by 1) locks',
      [names.streamLockSpace, streams],
    );
    const stored = await client.query<{ stream_id: string; revision: string }>(
      `select stream_id, revision::text as revision from ${s}.kl_streams where stream_id = any($1::text[])`,
      [streams],
    );
    const checked = nextRevisions(events, new Map(stored.rows.map((row) => [row.stream_id, Number(row.revision)])));
    if (!checked.ok) throw new WrongExpectedRevisionError(checked.stream, checked.expected, checked.actual);
    const duplicate = await client.query<{ event_id: string; stream_id: string }>(
      `select event_id::text as event_id, stream_id from ${s}.kl_events where event_id = any($1::uuid[]) limit 1`,
      [events.map((event) => event.id)],
    );
    const clash = duplicate.rows[0];
    if (clash) throw new DuplicateEventIdError(clash.event_id, clash.stream_id);
    const inserted = await client.query<{ position: string; transaction_id: string }>(
      `insert into ${s}.kl_events (stream_id, stream_revision, event_id, event_type, category, data, metadata, created_at)
       select e.stream, e.revision, e.id, e.type, e.category, e.data, e.metadata, timestamptz 'epoch' + e.at * interval '1 millisecond'
       from unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::text[], $6::json[], $7::json[], $8::bigint[])
         with ordinality as e(stream, revision, id, type, category, data, metadata, at, ord)
       order by e.ord
       returning position::text as position, transaction_id::text as transaction_id`,
      [
        events.map((e) => e.stream),
        events.map((e) => e.revision),
        events.map((e) => e.id),
        events.map((e) => e.type),
        events.map((e) => e.category),
        events.map((e) => e.data),
        events.map((e) => e.metadata),
        events.map((e) => e.recordedAtMs),
      ],
    );
    const revisions = [...checked.revisions];
    await client.query(
      `insert into ${s}.kl_streams as st (stream_id, revision) select * from unnest($1::text[], $2::bigint[])
       on conflict (stream_id) do update set revision = excluded.revision`,
      [revisions.map(([stream]) => stream), revisions.map(([, revision]) => revision)],
    );
    await client.query('commit');
    const positions = inserted.rows.map((row) => BigInt(row.position));
    const last = positions.reduce((a, b) => (b > a ? b : a));
    return { checkpoint: formatCheckpoint(inserted.rows[0]?.transaction_id as string, last), imported: events.length };
  } catch (error) {
    failure = error as Error;
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release(failure && !(failure instanceof WrongExpectedRevisionError || failure instanceof DuplicateEventIdError) ? failure : undefined);
  }
}
