/**
 * Reads. Stream reads need no fence: appends to one stream are serialised by its lock, so a
 * stream's revisions become visible in order. Global reads do: positions come from a sequence and
 * become visible at commit, out of order, so a reader of "position > checkpoint" could pass an
 * event whose transaction commits late and never see it. Instead every event records its writer's
 * transaction id, rows are read in (transaction id, position) order, and a global read only
 * returns rows whose transaction id is below a fence F that no event committed later can be below.
 *
 * The fence. pg_snapshot_xmin (the oldest transaction still running) is such a fence, but it is
 * cluster-wide: one open write transaction in any database of the server would stall every
 * reader. FENCE_SQL narrows it to the transactions that could write our table:
 *
 *   F = the smallest xid of the statement's snapshot S that is still in progress (pg_snapshot_xip)
 *       and is not known to belong to another database; pg_snapshot_xmax(S) if there is none.
 *
 * "Known to belong to another database": the xid is the backend_xid of a session of another
 * database in pg_stat_activity, or a prepared transaction of another database in
 * pg_prepared_xacts (a prepared transaction has no session but stays in progress). Both views
 * show these columns to every role, so the store needs no extra privilege.
 *
 * Why it is gap-free. Take an event E of our table that S does not show (committed later or in
 * flight). kl_events lives in current_database(), and only a transaction of this database can
 * write it, so E's transaction T is of this database. S does not see T, so T >= xmax(S) or T is
 * in xip(S). If T >= xmax(S) >= F, E is at or above the fence. If T is in xip(S), T is below F
 * only if it was excluded as another database's, which it is not: a session never changes
 * database, and a prepared transaction keeps the database it ran in. So every event hidden from S
 * (or written later: its xid will be >= xmax(S)) has transaction id >= F, and everything below F
 * is read in full from S. The same holds for the checkpoint (F, 0) a short page resumes at.
 *
 * Ordering and staleness. The exclusions are facts that never stop being true ("xid X ran in
 * database D"), so it does not matter that pg_stat_activity is read after the snapshot is taken,
 * nor that a backend's status is copied once per transaction and may be a moment old: a stale or
 * missing entry only keeps an xid in the fence (the reader waits a little longer), it never
 * excludes one wrongly. The one way a read could mis-attribute an xid is a backend slot reused
 * between copying its status and reading its xid (pgstat_read_current_status does both for one
 * slot in turn): the new session's xid would then be charged to the old session's database. An
 * xid excluded must also be in xip(S), i.e. running before the statement began, and a session
 * running before the statement began cannot have taken over a slot during it; so that case never
 * excludes an xid of xip(S).
 *
 * What is left holding readers back: transactions of this database (ours are bounded by the
 * pool's idle_in_transaction_session_timeout and statement_timeout; other clients of the same
 * database are not), and transactions whose database PostgreSQL does not report. Everything
 * else, autovacuum and sessions of other databases included, no longer delays a revocation.
 *
 * xids: backend_xid and pg_prepared_xacts.transaction are 32-bit, pg_snapshot_xip 64-bit. They
 * are compared modulo 2^32, which is exact because every in-progress xid lies within 2^31 of the
 * next one (PostgreSQL's wraparound protection), so two live xids never share their low 32 bits.
 */

import { CheckpointBeyondHeadError } from '../errors.js';
import type { ReadAllOptions, ReadAllResult, ReadStreamOptions, RecordedEvent } from '../port.js';
import { parseFilter, parseReadAllCount, parseStreamRead } from '../read-options.js';
import { compareLogPositions, formatCheckpoint, LOG_START, parseCheckpoint, type LogPosition } from './checkpoint.js';
import { EVENT_COLUMNS, recordedEventFromRow, type EventRow } from './recorded-event.js';
import type { SchemaNames } from './naming.js';
import type { Queryable } from './queryable.js';

/**
 * The fence of the statement it is part of (see above), as an xid8 expression. The array of other
 * databases' xids is an uncorrelated sub-select, run at most once and only when the snapshot has
 * transactions in progress at all.
 */
const FENCE_SQL = `coalesce(
    (select min(x.xid) from pg_snapshot_xip(pg_current_snapshot()) as x(xid)
      where (x.xid::text::bigint % 4294967296) <> all (array(
        select a.backend_xid::text::bigint from pg_stat_activity a
          where a.backend_xid is not null
            and a.datid <> (select d.oid from pg_database d where d.datname = current_database())
        union all
        select p.transaction::text::bigint from pg_prepared_xacts p where p.database <> current_database()
      ))),
    pg_snapshot_xmax(pg_current_snapshot()))`;

export interface ReadStatements {
  streamForwards: string;
  streamBackwards: string;
  all: string;
  anyAfter: string;
}

export function readStatements({ quoted: s }: SchemaNames): ReadStatements {
  return {
    streamForwards: `select ${EVENT_COLUMNS} from ${s}.kl_events e
      where e.stream_id = $1 and e.stream_revision >= $2::bigint order by e.stream_revision limit $3`,
    streamBackwards: `select ${EVENT_COLUMNS} from ${s}.kl_events e
      where e.stream_id = $1 and e.stream_revision <= $2::bigint order by e.stream_revision desc limit $3`,
    // One statement, one snapshot: the fence, the head, the rows below the fence and whether
    // committed rows wait above it all come from the same instant. The left join returns the
    // fence even with no rows; the materialised CTE computes the fence row once, not per row. The head: every checkpoint this store issues is at most
    // (xmax, 0) (committed xids are below xmax, the fence is at most xmax, and xmax never goes
    // down) with a position at most the largest committed one.
    all: `with f as materialized (
        select x.fence, x.head_xid, x.head_position, (
            -- First match in index order, not EXISTS: the planner then walks the
            -- (transaction id, position) index up from the fence (usually no rows at all)
            -- instead of scanning the table for a row it does not expect to find.
            -- One row bound, max((fence, -1), after), so the index scan starts right there.
            select h.position from ${s}.kl_events h
            where (h.transaction_id, h.position) > (
                case when x.fence > $1::xid8 then x.fence else $1::xid8 end,
                case when x.fence > $1::xid8 then -1 else $2::bigint end)
              and ($3::text[] is null or h.category = any($3::text[]))
              and ($4::text[] is null or h.event_type = any($4::text[]))
            order by h.transaction_id, h.position
            limit 1
          ) is not null as hidden
        from (select ${FENCE_SQL} as fence,
            pg_snapshot_xmax(pg_current_snapshot()) as head_xid,
            (select coalesce(max(m.position), 0) from ${s}.kl_events m) as head_position) x
      )
      select f.fence::text as fence, f.hidden, f.head_xid::text as head_xid, f.head_position::text as head_position,
        ${EVENT_COLUMNS}
      from f
      left join lateral (
        select * from ${s}.kl_events k
        where k.transaction_id < f.fence
          and (k.transaction_id, k.position) > ($1::xid8, $2::bigint)
          and ($3::text[] is null or k.category = any($3::text[]))
          and ($4::text[] is null or k.event_type = any($4::text[]))
        order by k.transaction_id, k.position
        limit $5
      ) e on true`,
    anyAfter: `select exists (
        select 1 from ${s}.kl_events k
        where k.transaction_id < ${FENCE_SQL}
          and (k.transaction_id, k.position) > ($1::xid8, $2::bigint)
      ) as ready`,
  };
}

export async function readStream(
  db: Queryable,
  names: SchemaNames,
  statements: ReadStatements,
  stream: string,
  options: ReadStreamOptions | undefined,
): Promise<RecordedEvent[]> {
  const read = parseStreamRead(stream, options);
  if (read === null) return [];
  const result = await db.query<EventRow>({
    name: `kl_read_stream_${read.backwards ? 'bw' : 'fw'}:${names.schema}`,
    text: read.backwards ? statements.streamBackwards : statements.streamForwards,
    // LIMIT NULL means no limit.
    values: [stream, String(read.fromRevision), read.maxCount ?? null],
  });
  return result.rows.map(recordedEventFromRow);
}

/**
 * How long readAll may wait for the fence to pass events that are committed but still hidden
 * behind an older transaction in flight (a writer of this database, e.g. another append). Such
 * transactions usually end within milliseconds; waiting for them gives a reader its own writes. Past this bound readAll returns what is safe (still gap-free).
 */
export const DEFAULT_READ_SETTLE_MS = 500;

export async function readAll(
  db: Queryable,
  names: SchemaNames,
  statements: ReadStatements,
  options: ReadAllOptions = {},
  settleMs = DEFAULT_READ_SETTLE_MS,
): Promise<ReadAllResult> {
  const after = options.after === undefined ? LOG_START : parseCheckpoint(options.after);
  const maxCount = parseReadAllCount(options.maxCount);
  const categories = parseFilter(options.categories, 'categories') ?? null;
  const types = parseFilter(options.types, 'types') ?? null;
  const deadline = Date.now() + settleMs;
  let delayMs = 1;
  for (;;) {
    const result = await db.query<EventRow & { fence: string; hidden: boolean; head_xid: string; head_position: string }>({
      name: `kl_read_all:${names.schema}`,
      text: statements.all,
      values: [after.transactionId.toString(), after.position.toString(), categories, types, maxCount],
    });
    const first = result.rows[0];
    if (first && isBeyondHead(after, BigInt(first.head_xid), BigInt(first.head_position))) {
      throw new CheckpointBeyondHeadError(options.after as string);
    }
    const events = result.rows.filter((row) => row.tx !== null).map(recordedEventFromRow);
    const full = events.length === maxCount;
    if (full || !first?.hidden || Date.now() + delayMs > deadline) {
      return { events, checkpoint: nextCheckpoint(events, full, first?.fence, after, options.after) };
    }
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    delayMs = Math.min(delayMs * 2, 50);
  }
}

function nextCheckpoint(
  events: RecordedEvent[],
  full: boolean,
  fence: string | undefined,
  after: LogPosition,
  afterCheckpoint: string | undefined,
): string | undefined {
  const last = events.at(-1);
  if (full && last) return last.checkpoint;
  // A short page scanned everything below the fence, and every later event will have a
  // transaction id >= the fence: resume at the fence, so filtered-out rows are never rescanned.
  // The checkpoint never moves backwards: the fence can be lower than a fence handed out before
  // (an xid of another database whose session ended while it was read is kept, see above).
  const fencePosition: LogPosition | undefined = fence === undefined ? undefined : { transactionId: BigInt(fence), position: 0n };
  if (fencePosition === undefined || compareLogPositions(fencePosition, after) <= 0) {
    return last?.checkpoint ?? afterCheckpoint;
  }
  return formatCheckpoint(fencePosition.transactionId, 0n);
}

export async function hasEventsAfter(
  db: Queryable,
  names: SchemaNames,
  statements: ReadStatements,
  after: LogPosition,
): Promise<boolean> {
  const result = await db.query<{ ready: boolean }>({
    name: `kl_any_after:${names.schema}`,
    text: statements.anyAfter,
    values: [after.transactionId.toString(), after.position.toString()],
  });
  return result.rows[0]?.ready === true;
}

/** Past every checkpoint this store can have issued: after (xmax, 0), or at a position never committed. */
function isBeyondHead(after: LogPosition, headXid: bigint, headPosition: bigint): boolean {
  return compareLogPositions(after, { transactionId: headXid, position: 0n }) > 0 || after.position > headPosition;
}
