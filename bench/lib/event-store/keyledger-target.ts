/**
 * keyledger's own stores behind the benchmark's target interface: any `EventStore` (the port)
 * measured through its public operations only.
 */

import type { EventStore } from '../../../packages/service/src/store/port.js';
import type { BenchTarget, StreamPosition } from './target.js';

export function keyledgerTarget(name: string, store: EventStore): BenchTarget {
  return {
    name,
    async append(stream, events, expected) {
      const result = await store.appendToStream(stream, events, {
        expectedRevision: expected === undefined ? 'no_stream' : Number(expected),
      });
      return result.nextExpectedRevision satisfies StreamPosition;
    },
    async readAll(pageSize, ids) {
      let after: string | undefined;
      let total = 0;
      for (;;) {
        const page = await store.readAll({ after, maxCount: pageSize });
        total += page.events.length;
        if (ids) for (const event of page.events) ids.push(event.id);
        // An unfiltered page shorter than asked for means the reader reached the head of the log.
        if (page.events.length < pageSize) return total;
        after = page.checkpoint;
      }
    },
    close: () => store.close(),
  };
}
