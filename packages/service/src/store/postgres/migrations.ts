/**
 * Versioned schema migrations, applied when a store opens. They run in one transaction holding an
 * advisory lock derived from the schema name, so instances starting together apply each version
 * exactly once and none of them sees a half-migrated schema.
 */

import type pg from 'pg';
import type { SchemaNames } from './naming.js';

export interface Migration {
  version: number;
  name: string;
  sql: (names: SchemaNames) => string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'events and streams',
    sql: ({ quoted: s }) => `
      create table ${s}.kl_events (
        position bigint generated always as identity primary key,
        -- The writer's transaction: readers only read below the oldest running one (the fence).
        transaction_id xid8 not null default pg_current_xact_id(),
        stream_id text not null,
        stream_revision bigint not null,
        event_id uuid not null unique,
        event_type text not null,
        category text not null,
        -- json, not jsonb: jsonb rejects the escaped NUL character inside strings, which is valid JSON that the port
        -- must round-trip; json also keeps the text exactly as appended and is cheaper to insert.
        data json not null,
        metadata json not null,
        created_at timestamptz not null default now(),
        unique (stream_id, stream_revision)
      );
      create index kl_events_global_order on ${s}.kl_events (transaction_id, position);
      -- One row per stream: the row lock serialises appends to one stream, never across streams.
      create table ${s}.kl_streams (
        stream_id text primary key,
        revision bigint not null
      );`,
  },
  {
    version: 2,
    name: 'kl_append function',
    sql: (names) => appendFunctionSql(names),
  },
  {
    version: 3,
    name: 'kl_append_streams function',
    sql: (names) => appendStreamsFunctionSql(names),
  },
  {
    version: 4,
    name: 'transparency log tables',
    // See audit/log-store.ts: leaf i is the i-th event of the global log; nodes are complete subtrees.
    sql: ({ quoted: s }) => `
      create table ${s}.kl_audit_leaves (
        leaf_index bigint primary key,
        event_id uuid not null unique,
        stream_id text not null,
        stream_revision bigint not null,
        event_checkpoint text not null unique,
        salt bytea,
        leaf_hash bytea not null
      );
      create table ${s}.kl_audit_nodes (
        level smallint not null,
        node_index bigint not null,
        hash bytea not null,
        primary key (level, node_index)
      );
      create table ${s}.kl_audit_checkpoints (
        tree_size bigint primary key,
        root_hash bytea not null,
        note text not null,
        signed_at timestamptz not null default now()
      );
      create table ${s}.kl_audit_cosignatures (
        tree_size bigint not null,
        witness text not null,
        key_id bigint not null,
        line text not null,
        received_at timestamptz not null default now(),
        primary key (tree_size, witness, key_id)
      );
      create table ${s}.kl_audit_meta (
        name text primary key,
        value text not null
      );`,
  },
];

/**
 * The append, in one round trip. No EXCEPTION blocks: they would open a subtransaction per call.
 * Returns status 'ok' with the transaction id and positions, 'conflict' with the actual revision
 * (-1 when the stream does not exist), or 'duplicate' when the first event id is already stored
 * (the caller then decides between an idempotent replay and DuplicateEventIdError).
 * It must be the first write of its transaction (the store calls it as a statement of its own):
 * the transaction id has to be assigned after the stream lock is taken, see below.
 */
function appendFunctionSql({ quoted: s, streamLockSpace: lockSpace }: SchemaNames): string {
  return `
    create or replace function ${s}.kl_append(
      p_stream text,
      p_category text,
      p_expected_kind text,
      p_expected_revision bigint,
      p_ids uuid[],
      p_types text[],
      p_data json[],
      p_metadata json[],
      out status text,
      out actual_revision bigint,
      out transaction_id xid8,
      out positions bigint[],
      out created_at timestamptz
    )
    language plpgsql
    as $fn$
    declare
      v_revision bigint;
    begin
      -- Serialise appends to this stream with an advisory lock, not a row lock: locking a row
      -- assigns the transaction id before waiting, so a writer that queued behind another could
      -- carry the smaller id and the global (transaction id, position) order would disagree with
      -- the stream's revision order. An advisory lock needs no transaction id, so the first write
      -- below assigns one after the lock is held, in lock order. (A hash collision between two
      -- streams only serialises them; it never mixes their revisions.)
      perform pg_advisory_xact_lock(${lockSpace}, hashtext(p_stream));

      select s.revision into v_revision from ${s}.kl_streams s where s.stream_id = p_stream;
      if not found then
        v_revision := -1;
      end if;

      -- Duplicates first: a retried batch is a replay even when the revision has moved on. This
      -- runs after the lock, so it sees a concurrent identical append that committed first.
      if exists (select 1 from ${s}.kl_events e where e.event_id = p_ids[1]) then
        status := 'duplicate';
        actual_revision := v_revision;
        return;
      end if;

      if not (
        p_expected_kind = 'any'
        or (p_expected_kind = 'no_stream' and v_revision = -1)
        or (p_expected_kind = 'stream_exists' and v_revision >= 0)
        or (p_expected_kind = 'exact' and v_revision = p_expected_revision)
      ) then
        status := 'conflict';
        actual_revision := v_revision;
        return;
      end if;

      with inserted as (
        insert into ${s}.kl_events (stream_id, stream_revision, event_id, event_type, category, data, metadata)
        select p_stream, v_revision + e.ord, e.id, e.type, p_category, e.data, e.metadata
        from unnest(p_ids, p_types, p_data, p_metadata) with ordinality as e(id, type, data, metadata, ord)
        order by e.ord
        returning ${s}.kl_events.position, ${s}.kl_events.stream_revision
      )
      select array_agg(i.position order by i.stream_revision) into positions from inserted i;

      insert into ${s}.kl_streams as s (stream_id, revision) values (p_stream, v_revision + cardinality(p_ids))
        on conflict (stream_id) do update set revision = excluded.revision;
      -- No pg_notify here: the store announces commits itself, see announcer.ts.

      status := 'ok';
      actual_revision := v_revision;
      transaction_id := pg_current_xact_id();
      created_at := now();
    end;
    $fn$;`;
}

/**
 * Several streams in one statement (so one transaction and one round trip), all or nothing.
 * Stream i owns events p_offsets[i]+1 .. p_offsets[i+1] of the flattened event arrays.
 * Every stream's advisory lock is taken first, in ascending lock-key order, so two multi-stream
 * appends can never wait on each other in a cycle (a single-stream append holds one lock and
 * waits for nothing else). As in kl_append, no write happens before the locks are held, so the
 * transaction id is assigned in lock order. Returns 'duplicate' when any id is already stored,
 * 'conflict' with the failing stream's index (0-based) and actual revision, or 'ok' with the
 * revision each stream was at before and every event's position, in the given order.
 */
function appendStreamsFunctionSql({ quoted: s, streamLockSpace: lockSpace }: SchemaNames): string {
  return `
    create or replace function ${s}.kl_append_streams(
      p_streams text[],
      p_categories text[],
      p_expected_kinds text[],
      p_expected_revisions bigint[],
      p_offsets int[],
      p_ids uuid[],
      p_types text[],
      p_data json[],
      p_metadata json[],
      out status text,
      out failed_index int,
      out actual_revisions bigint[],
      out transaction_id xid8,
      out positions bigint[],
      out created_at timestamptz
    )
    language plpgsql
    as $fn$
    declare
      v_lock int;
      v_revision bigint;
      v_positions bigint[];
      i int;
    begin
      for v_lock in select distinct hashtext(name) from unnest(p_streams) as t(name) order by 1 loop
        perform pg_advisory_xact_lock(${lockSpace}, v_lock);
      end loop;

      if exists (select 1 from ${s}.kl_events e where e.event_id = any(p_ids)) then
        status := 'duplicate';
        return;
      end if;

      actual_revisions := '{}';
      for i in 1 .. cardinality(p_streams) loop
        select st.revision into v_revision from ${s}.kl_streams st where st.stream_id = p_streams[i];
        if not found then
          v_revision := -1;
        end if;
        if not (
          p_expected_kinds[i] = 'any'
          or (p_expected_kinds[i] = 'no_stream' and v_revision = -1)
          or (p_expected_kinds[i] = 'stream_exists' and v_revision >= 0)
          or (p_expected_kinds[i] = 'exact' and v_revision = p_expected_revisions[i])
        ) then
          status := 'conflict';
          failed_index := i - 1;
          actual_revisions := array[v_revision];
          return;
        end if;
        actual_revisions := actual_revisions || v_revision;
      end loop;

      positions := '{}';
      for i in 1 .. cardinality(p_streams) loop
        with inserted as (
          insert into ${s}.kl_events (stream_id, stream_revision, event_id, event_type, category, data, metadata)
          select p_streams[i], actual_revisions[i] + e.ord, e.id, e.type, p_categories[i], e.data, e.metadata
          from unnest(
            p_ids[p_offsets[i] + 1 : p_offsets[i + 1]],
            p_types[p_offsets[i] + 1 : p_offsets[i + 1]],
            p_data[p_offsets[i] + 1 : p_offsets[i + 1]],
            p_metadata[p_offsets[i] + 1 : p_offsets[i + 1]]
          ) with ordinality as e(id, type, data, metadata, ord)
          order by e.ord
          returning ${s}.kl_events.position, ${s}.kl_events.stream_revision
        )
        select array_agg(ins.position order by ins.stream_revision) into v_positions from inserted ins;
        positions := positions || v_positions;

        insert into ${s}.kl_streams as st (stream_id, revision)
          values (p_streams[i], actual_revisions[i] + (p_offsets[i + 1] - p_offsets[i]))
          on conflict (stream_id) do update set revision = excluded.revision;
      end loop;

      status := 'ok';
      transaction_id := pg_current_xact_id();
      created_at := now();
    end;
    $fn$;`;
}

export async function runMigrations(pool: pg.Pool, names: SchemaNames): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  let failure: Error | undefined;
  try {
    await client.query('begin');
    await client.query('select pg_advisory_xact_lock($1::bigint)', [names.migrationLockKey]);
    await client.query(`create schema if not exists ${names.quoted}`);
    await client.query(
      `create table if not exists ${names.quoted}.kl_migrations (
         version integer primary key,
         name text not null,
         applied_at timestamptz not null default now()
       )`,
    );
    const done = await client.query<{ version: number }>(`select version from ${names.quoted}.kl_migrations`);
    const doneVersions = new Set(done.rows.map((row) => row.version));
    for (const migration of MIGRATIONS) {
      if (doneVersions.has(migration.version)) continue;
      await client.query(migration.sql(names));
      await client.query(`insert into ${names.quoted}.kl_migrations (version, name) values ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    await client.query('commit');
    return applied;
  } catch (error) {
    failure = error as Error;
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    // Passing the error discards the connection: it may be broken or mid-transaction.
    client.release(failure);
  }
}
