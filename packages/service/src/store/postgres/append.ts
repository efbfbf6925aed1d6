/**
 * The append path: one statement per append (the kl_append function, arrays as parameters, a
 * named prepared statement), so an append costs one round trip. Duplicate event ids are rare and
 * resolved here, off the hot path.
 */

import { DuplicateEventIdError, EventStoreError, WrongExpectedRevisionError } from '../errors.js';
import type { AppendResult, MultiStreamAppendResult, RecordedEvent } from '../port.js';
import type { PreparedAppend } from '../prepare-append.js';
import { lastCheckpoint, replayedResults } from '../replay.js';
import { compareCheckpoints, formatCheckpoint } from './checkpoint.js';
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

interface AppendStreamsRow {
  status: 'ok' | 'conflict' | 'duplicate';
  failed_index: number | null;
  actual_revisions: Array<string | number> | null;
  transaction_id: string | null;
  positions: Array<string | number> | null;
  created_at: Date | null;
}

export interface AppendStatements {
  append: string;
  appendStreams: string;
  storedByIds: string;
}

export function appendStatements({ quoted: s }: SchemaNames): AppendStatements {
  return {
    append: `select status, actual_revision::text as actual_revision, transaction_id::text as transaction_id,
        positions, created_at
      from ${s}.kl_append($1, $2, $3, $4, $5::uuid[], $6::text[], $7::json[], $8::json[])`,
    appendStreams: `select status, failed_index, actual_revisions::text[] as actual_revisions,
        transaction_id::text as transaction_id, positions, created_at
      from ${s}.kl_append_streams($1, $2, $3, $4, $5, $6::uuid[], $7::text[], $8::json[], $9::json[])`,
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
      if (!isDuplicateIdRace(error)) throw error;
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

/** Several streams in one statement (kl_append_streams): one transaction, one round trip. */
export async function appendEventsToStreams(
  db: Queryable,
  names: SchemaNames,
  statements: AppendStatements,
  batches: readonly PreparedAppend[],
): Promise<MultiStreamAppendResult> {
  const offsets = [0];
  for (const batch of batches) offsets.push((offsets[offsets.length - 1] as number) + batch.events.length);
  const events = batches.flatMap((batch) => batch.events);
  for (let attempt = 0; attempt < 2; attempt++) {
    let row: AppendStreamsRow | undefined;
    try {
      const result = await db.query<AppendStreamsRow>({
        name: `kl_append_streams:${names.schema}`,
        text: statements.appendStreams,
        values: [
          batches.map((b) => b.stream),
          batches.map((b) => b.category),
          batches.map((b) => (typeof b.expected === 'number' ? 'exact' : b.expected)),
          batches.map((b) => (typeof b.expected === 'number' ? b.expected : null)),
          offsets,
          events.map((e) => e.id),
          events.map((e) => e.type),
          events.map((e) => e.data),
          events.map((e) => e.metadata),
        ],
      });
      row = result.rows[0];
    } catch (error) {
      if (!isDuplicateIdRace(error)) throw error;
    }
    if (row?.status === 'ok') {
      const positions = row.positions ?? [];
      const revisions = (row.actual_revisions ?? []).map(Number);
      const transactionId = row.transaction_id as string;
      const recordedAt = row.created_at as Date;
      const streams = batches.map((batch, b): AppendResult => {
        const first = (revisions[b] as number) + 1;
        const recorded = batch.events.map(
          (event, i): RecordedEvent => ({
            id: event.id,
            stream: batch.stream,
            category: batch.category,
            revision: first + i,
            type: event.type,
            data: JSON.parse(event.data),
            metadata: JSON.parse(event.metadata),
            checkpoint: formatCheckpoint(transactionId, String(positions[(offsets[b] as number) + i])),
            recordedAt,
          }),
        );
        return resultOf(recorded, false);
      });
      return { streams, checkpoint: lastCheckpoint(streams, compareCheckpoints) };
    }
    if (row?.status === 'conflict') {
      const failed = batches[row.failed_index as number] as PreparedAppend;
      throw new WrongExpectedRevisionError(failed.stream, failed.expected, Number(row.actual_revisions?.[0]));
    }
    const stored = await db.query<EventRow>({
      name: `kl_stored_by_ids:${names.schema}`,
      text: statements.storedByIds,
      values: [events.map((e) => e.id)],
    });
    const streams = replayedResults(batches, new Map(stored.rows.map((r) => [r.id, recordedEventFromRow(r)])));
    if (streams) return { streams, checkpoint: lastCheckpoint(streams, compareCheckpoints) };
  }
  throw new EventStoreError('multi-stream append kept reporting duplicate ids that are not stored');
}

/** A concurrent append stored one of these ids between the function's check and its insert. */
function isDuplicateIdRace(error: unknown): boolean {
  const pgError = error as { code?: string; constraint?: string };
  return pgError.code === '23505' && pgError.constraint === EVENT_ID_CONSTRAINT;
}
