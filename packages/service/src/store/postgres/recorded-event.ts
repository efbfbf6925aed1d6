/** Turns rows of kl_events into the port's RecordedEvent, the one shape every read returns. */

import type { RecordedEvent } from '../port.js';
import { formatCheckpoint } from './checkpoint.js';

/** The columns every read selects (bigints and xid8 as text: JavaScript numbers cannot hold them). */
export const EVENT_COLUMNS = `e.transaction_id::text as tx, e.position::text as pos, e.stream_id, e.stream_revision::text as rev,
  e.event_id::text as id, e.event_type, e.category, e.data, e.metadata, e.created_at`;

export interface EventRow {
  tx: string;
  pos: string;
  stream_id: string;
  rev: string;
  id: string;
  event_type: string;
  category: string;
  data: unknown;
  metadata: unknown;
  created_at: Date;
}

export function recordedEventFromRow(row: EventRow): RecordedEvent {
  return {
    id: row.id,
    stream: row.stream_id,
    category: row.category,
    revision: Number(row.rev),
    type: row.event_type,
    data: row.data,
    metadata: row.metadata as RecordedEvent['metadata'],
    checkpoint: formatCheckpoint(row.tx, row.pos),
    recordedAt: row.created_at,
  };
}
