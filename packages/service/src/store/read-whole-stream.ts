import type { EventStore, RecordedEvent } from './port.js';

/** Reads every event of a stream, page by page (backends cap one read). */
export async function readWholeStream(store: EventStore, stream: string, pageSize = 1000): Promise<RecordedEvent[]> {
  const events: RecordedEvent[] = [];
  for (;;) {
    const page = await store.readStream(stream, { fromRevision: events.length, maxCount: pageSize });
    events.push(...page);
    if (page.length < pageSize) return events;
  }
}
