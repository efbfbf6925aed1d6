/**
 * The append path: one statement per append (the kl_append function, arrays as parameters, a
 * named prepared statement), so an append costs one round trip. Duplicate event ids are rare and
 * resolved here, off the hot path.
 */

import { DuplicateEventIdError, EventStoreError, WrongExpectedRevisionError } from '../errors.js';
import type { AppendResult, RecordedEvent } from '../port.js';
import type { PreparedAppend } from '../prepare-append.js';
import { formatCheckpoint } from './checkpoint.js';
import type { SchemaNames } from './naming.js';
import type { Queryable } from './queryable.js';
import { EVENT_COLUMNS, recordedEventFromRow, type EventRow } from './recorded-event.js';

interface AppendRow {
  status: 'ok' | 'conflict' | 'duplicate';
  actual_revision: string;
  transaction_id: string | null;
  positions: Array<string | number> | null;
  created_at: Date | null;
}

export interface AppendStatements {
  append: string;
  storedByIds: string;
}

export function appendStatements({ quoted: s }: SchemaNames): AppendStatements {
  return {
    append: `select status, actual_revision::text as actual_revision, transaction_id::text as transaction_id,
        positions, created_at
      from ${s}.kl_append($1, $2, $3, $4, $5::uuid[], $6::text[], $7::json[], $8::json[])`,
    storedByIds: `select ${EVENT_COLUMNS} from ${s}.kl_events e where e.event_id = any($1::uuid[])`,
  };
}

/** The unique constraint PostgreSQL names for kl_events.event_id. */
const EVENT_ID_CONSTRAINT = 'kl_events_event_id_key';

export async function appendEvents(
  db: Queryable,
  names: SchemaNames,
  statements: AppendStatements,
  prepared: PreparedAppend,
): Promise<AppendResult> {
  const { stream, category, expected, events } = prepared;
  const kind = typeof expected === 'number' ? 'exact' : expected;
  const ids = events.map((e) => e.id);
  // Two attempts: a duplicate reported for ids that then turn out not to be stored can only
  // come from a concurrent writer whose transaction rolled back, so trying again is correct.
  for (let attempt = 0; attempt < 2; attempt++) {
    let row: AppendRow | undefined;
    try {
      const result = await db.query<AppendRow>({
        name: `kl_append:${names.schema}`,
        text: statements.append,
        values: [
          stream,
          category,
          kind,
          typeof expected === 'number' ? expected : null,
          ids,
          events.map((e) => e.type),
          events.map((e) => e.data),
          events.map((e) => e.metadata),
        ],
      });
      row = result.rows[0];
    } catch (error) {
      // A concurrent append stored one of these ids between the function's check and its insert.
      const pgError = error as { code?: string; constraint?: string };
      if (pgError.code !== '23505' || pgError.constraint !== EVENT_ID_CONSTRAINT) throw error;
    }
    if (row?.status === 'ok') {
      const transactionId = row.transaction_id as string;
      const positions = row.positions ?? [];
      const firstRevision = Number(row.actual_revision) + 1;
      const recordedAt = row.created_at as Date;
      const recorded = events.map(
        (event, i): RecordedEvent => ({
          id: event.id,
          stream,
          category,
          revision: firstRevision + i,
          type: event.type,
          data: JSON.parse(event.data),
          metadata: JSON.parse(event.metadata),
          checkpoint: formatCheckpoint(transactionId, String(positions[i])),
          recordedAt,
        }),
      );
      return resultOf(recorded, false);
    }
    if (row?.status === 'conflict') {
      throw new WrongExpectedRevisionError(stream, expected, Number(row.actual_revision));
    }
    const replay = await resolveDuplicate(db, names, statements, prepared);
    if (replay) return replay;
  }
  throw new EventStoreError(`append to '${stream}' kept reporting duplicate ids that are not stored`);
}

/**
 * Some id of the batch is already stored. If the whole batch is stored exactly as this batch
 * (same stream, consecutive revisions, same order) it is a replay: return the original events.
 * Otherwise it is a DuplicateEventIdError naming the first stored id. Undefined: nothing stored.
 */
async function resolveDuplicate(
  db: Queryable,
  names: SchemaNames,
  statements: AppendStatements,
  { stream, events }: PreparedAppend,
): Promise<AppendResult | undefined> {
  const result = await db.query<EventRow>({
    name: `kl_stored_by_ids:${names.schema}`,
    text: statements.storedByIds,
    values: [events.map((e) => e.id)],
  });
  const stored = new Map(result.rows.map((row) => [row.id, recordedEventFromRow(row)]));
  if (stored.size === 0) return undefined;
  const original = events.map((e) => stored.get(e.id));
  const first = original[0];
  const exact =
    first !== undefined &&
    original.every((e, i) => e !== undefined && e.stream === stream && e.revision === first.revision + i);
  if (exact) return resultOf(original as RecordedEvent[], true);
  const clash = events.find((e) => stored.has(e.id)) as { id: string };
  throw new DuplicateEventIdError(clash.id, stream);
}

function resultOf(events: RecordedEvent[], replayed: boolean): AppendResult {
  const last = events[events.length - 1] as RecordedEvent;
  return { nextExpectedRevision: last.revision, checkpoint: last.checkpoint, events, replayed };
}
