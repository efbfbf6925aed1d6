/**
 * A stored key event as the decider and the projections see it: upcast to the current schema
 * version first, so that every reader of a key stream folds the same shapes.
 */
import { type KeyEvent, upcastEvent } from '@keyledger/schemas';
import type { RecordedAt } from './evolve.js';

export interface StoredKeyEvent {
  type: string;
  data: unknown;
  revision: number;
  metadata: unknown;
  recordedAt: Date;
}

export function toKeyEvent(event: StoredKeyEvent): { event: KeyEvent } & RecordedAt {
  const meta = event.metadata as { schemaVersion?: number; occurredAt?: string };
  return {
    event: { type: event.type, data: upcastEvent(event.type, meta.schemaVersion ?? 1, event.data) } as KeyEvent,
    occurredAt: meta.occurredAt ?? event.recordedAt.toISOString(),
    revision: event.revision,
  };
}
