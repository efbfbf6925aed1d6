/**
 * The duplicate event id rule, for appends whose ids were found already stored: each stream's
 * batch is an exact replay when every id is stored in that stream, at consecutive revisions, in
 * the batch's order. Shared by every backend so they cannot disagree on what a replay is.
 */
import { DuplicateEventIdError } from './errors.js';
import type { AppendResult, RecordedEvent } from './port.js';
import type { PreparedAppend } from './prepare-append.js';

/**
 * `stored` holds the events found for the batches' ids. Returns one replayed result per batch
 * when all of them are exact replays, undefined when none of the ids is stored (a concurrent
 * writer rolled back), and throws DuplicateEventIdError otherwise.
 */
export function replayedResults(
  batches: readonly PreparedAppend[],
  stored: ReadonlyMap<string, RecordedEvent>,
): AppendResult[] | undefined {
  if (stored.size === 0) return undefined;
  const results: AppendResult[] = [];
  for (const batch of batches) {
    const original = batch.events.map((event) => stored.get(event.id));
    const first = original[0];
    const exact =
      first !== undefined &&
      original.every((e, i) => e !== undefined && e.stream === batch.stream && e.revision === first.revision + i);
    if (!exact) {
      const clash = batches.flatMap((b) => b.events.map((e) => ({ id: e.id, stream: b.stream }))).find((e) => stored.has(e.id));
      // Nothing of this batch is stored while another batch's ids are: name the stored id, in its batch's stream.
      const named = clash ?? { id: batch.events[0]?.id ?? '', stream: batch.stream };
      throw new DuplicateEventIdError(named.id, named.stream);
    }
    const events = original as RecordedEvent[];
    const last = events[events.length - 1] as RecordedEvent;
    results.push({ nextExpectedRevision: last.revision, checkpoint: last.checkpoint, events, replayed: true });
  }
  return results;
}

/** The latest of the results' checkpoints, by the store's own order. */
export function lastCheckpoint(results: readonly AppendResult[], compare: (a: string, b: string) => number): string {
  let last = (results[0] as AppendResult).checkpoint;
  for (const result of results) if (compare(result.checkpoint, last) > 0) last = result.checkpoint;
  return last;
}
