/**
 * Argument checks for importEvents (store/port.ts), shared by every backend and run before
 * anything is written, like prepare-append.ts does for appends.
 */
import { InvalidAppendError } from './errors.js';
import type { EventValidator, ImportedEvent } from './port.js';
import { categoryOf } from './port.js';
import { prepareAppend } from './prepare-append.js';

export interface PreparedImportEvent {
  id: string;
  stream: string;
  category: string;
  revision: number;
  type: string;
  data: string;
  metadata: string;
  recordedAtMs: number;
}

export function prepareImport(events: readonly ImportedEvent[], validate: EventValidator | undefined): PreparedImportEvent[] {
  if (!Array.isArray(events) || events.length === 0) throw new InvalidAppendError('an import needs at least one event');
  const ids = new Set<string>();
  return events.map((event, index) => {
    const where = `imported event ${index} (${typeof event?.id === 'string' ? event.id : '?'})`;
    if (typeof event !== 'object' || event === null) throw new InvalidAppendError(`${where} is not an object`);
    if (!Number.isSafeInteger(event.revision) || event.revision < 0) throw new InvalidAppendError(`${where} has no revision >= 0`);
    if (!(event.recordedAt instanceof Date) || Number.isNaN(event.recordedAt.getTime())) throw new InvalidAppendError(`${where} has no valid recordedAt`);
    // The append checks (stream name, type, UUID id, JSON payloads, schema) apply unchanged.
    const [prepared] = prepareAppend(event.stream, [{ id: event.id, type: event.type, data: event.data, metadata: event.metadata }], undefined, validate).events;
    const checked = prepared as NonNullable<typeof prepared>;
    if (ids.has(checked.id)) throw new InvalidAppendError(`${where} repeats an event id of the same import`);
    ids.add(checked.id);
    return {
      id: checked.id,
      stream: event.stream,
      category: categoryOf(event.stream),
      revision: event.revision,
      type: checked.type,
      data: checked.data,
      metadata: checked.metadata,
      recordedAtMs: event.recordedAt.getTime(),
    };
  });
}

/**
 * Checks that every event continues its stream, given each stream's stored revision (-1 or
 * absent: no stream); returns the stream revisions after the import, or the first event that
 * does not fit.
 */
export function nextRevisions(
  events: readonly PreparedImportEvent[],
  stored: ReadonlyMap<string, number>,
): { ok: true; revisions: Map<string, number> } | { ok: false; stream: string; expected: number; actual: number } {
  const revisions = new Map<string, number>();
  for (const event of events) {
    const current = revisions.get(event.stream) ?? stored.get(event.stream) ?? -1;
    if (event.revision !== current + 1) return { ok: false, stream: event.stream, expected: event.revision - 1, actual: current };
    revisions.set(event.stream, event.revision);
  }
  return { ok: true, revisions };
}
