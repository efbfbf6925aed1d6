/**
 * Reads. Stream reads need no fence: appends to one stream are serialised by its row lock, so a
 * stream's revisions become visible in order. Global reads do: positions come from a sequence and
 * become visible at commit, out of order, so a reader of "position > checkpoint" could pass an
 * event whose transaction commits late and never see it. Instead every event records its writer's
 * transaction id and a global read only returns rows whose transaction is older than the oldest
 * one still running (pg_snapshot_xmin): those transactions have all finished, so nothing can
 * appear later in the range already read. Rows are ordered by (transaction id, position).
 */

import { EventStoreError } from '../errors.js';
import type { ReadAllOptions, ReadAllResult, ReadStreamOptions, RecordedEvent } from '../port.js';
import { compareLogPositions, formatCheckpoint, LOG_START, parseCheckpoint, type LogPosition } from './checkpoint.js';
import { EVENT_COLUMNS, recordedEventFromRow, type EventRow } from './recorded-event.js';
import type { SchemaNames } from './naming.js';
import type { Queryable } from './queryable.js';

export const DEFAULT_READ_ALL_COUNT = 1_000;
export const MAX_READ_ALL_COUNT = 10_000;
const MAX_REVISION = '9223372036854775807';

export class InvalidReadError extends EventStoreError {
  override name = 'InvalidReadError';
}

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
    // One statement, one snapshot: the fence, the rows below it and whether committed rows wait
    // above it all come from the same instant. The left join returns the fence even with no rows.
    all: `select f.fence::text as fence, f.hidden, ${EVENT_COLUMNS}
      from (
        select x.fence, exists (
            select 1 from ${s}.kl_events h
            where h.transaction_id >= x.fence
              and (h.transaction_id, h.position) > ($1::xid8, $2::bigint)
              and ($3::text[] is null or h.category = any($3::text[]))
              and ($4::text[] is null or h.event_type = any($4::text[]))
          ) as hidden
        from (select pg_snapshot_xmin(pg_current_snapshot()) as fence) x
      ) f
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
        where k.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          and (k.transaction_id, k.position) > ($1::xid8, $2::bigint)
      ) as ready`,
  };
}

export async function readStream(
  db: Queryable,
  names: SchemaNames,
  statements: ReadStatements,
  stream: string,
  options: ReadStreamOptions = {},
): Promise<RecordedEvent[]> {
  if (typeof stream !== 'string') throw new InvalidReadError('stream name must be a string');
  const direction = options.direction ?? 'forwards';
  if (direction !== 'forwards' && direction !== 'backwards') {
    throw new InvalidReadError(`unknown read direction ${JSON.stringify(direction)}`);
  }
  const from = options.fromRevision ?? (direction === 'forwards' ? 'start' : 'end');
  if (from !== 'start' && from !== 'end' && !(Number.isSafeInteger(from) && from >= 0)) {
    throw new InvalidReadError(`fromRevision must be 'start', 'end' or a revision >= 0, got ${JSON.stringify(from)}`);
  }
  const maxCount = options.maxCount;
  if (maxCount !== undefined && !(Number.isSafeInteger(maxCount) && maxCount >= 0)) {
    throw new InvalidReadError(`maxCount must be an integer >= 0, got ${JSON.stringify(maxCount)}`);
  }
  if (maxCount === 0 || (direction === 'forwards' && from === 'end')) return [];
  const revision = from === 'start' ? '0' : from === 'end' ? MAX_REVISION : String(from);
  const forwards = direction === 'forwards';
  const result = await db.query<EventRow>({
    name: `kl_read_stream_${forwards ? 'fw' : 'bw'}:${names.schema}`,
    text: forwards ? statements.streamForwards : statements.streamBackwards,
    // LIMIT NULL means no limit.
    values: [stream, revision, maxCount ?? null],
  });
  return result.rows.map(recordedEventFromRow);
}

/**
 * How long readAll may wait for the fence to pass events that are committed but still hidden
 * behind an older transaction in flight (any writer in the cluster, e.g. another append or an
 * autovacuum ANALYZE). Such transactions usually end within milliseconds; waiting for them gives
 * a reader its own writes. Past this bound readAll returns what is safe (still gap-free).
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
  const maxCount = Math.min(options.maxCount ?? DEFAULT_READ_ALL_COUNT, MAX_READ_ALL_COUNT);
  if (!(Number.isSafeInteger(maxCount) && maxCount >= 1)) {
    throw new InvalidReadError(`maxCount must be an integer >= 1, got ${JSON.stringify(options.maxCount)}`);
  }
  const categories = filterList('categories', options.categories);
  const types = filterList('types', options.types);
  const deadline = Date.now() + settleMs;
  let delayMs = 1;
  for (;;) {
    const result = await db.query<EventRow & { fence: string; hidden: boolean }>({
      name: `kl_read_all:${names.schema}`,
      text: statements.all,
      values: [after.transactionId.toString(), after.position.toString(), categories, types, maxCount],
    });
    const first = result.rows[0];
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
  // The checkpoint never moves backwards (the fence only grows, but be certain).
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

function filterList(label: string, values: readonly string[] | undefined): string[] | null {
  if (values === undefined) return null;
  if (!Array.isArray(values) || values.some((value) => typeof value !== 'string')) {
    throw new InvalidReadError(`${label} must be an array of strings`);
  }
  return [...values];
}
