/**
 * Events a projection threw on, set aside so the log keeps moving. Bounded: the newest
 * `capacity` are kept for an operator to read, `total` counts all of them. Only the error's
 * message is kept, never the event's data.
 */
import type { ParkedEvent } from '@keyledger/schemas';
import type { RecordedEvent } from '../store/port.js';
import type { SnapshotPart } from './snapshot-part.js';

const MAX_MESSAGE = 500;

export class ParkedEvents implements SnapshotPart {
  readonly name = 'parked-events';
  readonly snapshotVersion = 1;
  #items: ParkedEvent[] = [];
  #total = 0;

  constructor(private readonly capacity = 1000) {}

  park(projection: string, event: RecordedEvent, error: unknown, at: Date): ParkedEvent {
    const parked: ParkedEvent = {
      projection,
      eventId: event.id,
      checkpoint: event.checkpoint,
      stream: event.stream,
      revision: event.revision,
      type: event.type,
      error: messageOf(error).slice(0, MAX_MESSAGE),
      parkedAt: at.toISOString(),
    };
    this.#items.push(parked);
    if (this.#items.length > this.capacity) this.#items.splice(0, this.#items.length - this.capacity);
    this.#total += 1;
    return parked;
  }

  get total(): number {
    return this.#total;
  }

  list(): { total: number; items: ParkedEvent[] } {
    return { total: this.#total, items: [...this.#items] };
  }

  /** Saved with the projections, so events parked before a snapshot are still listed after a restart. */
  encodeSnapshot(): Buffer {
    return Buffer.from(JSON.stringify(this.list()), 'utf8');
  }

  restoreSnapshot(data: Buffer): void {
    const saved = JSON.parse(data.toString('utf8')) as { total?: unknown; items?: unknown };
    if (typeof saved.total !== 'number' || !Array.isArray(saved.items)) throw new Error('parked events snapshot is malformed');
    this.#items = (saved.items as ParkedEvent[]).slice(-this.capacity);
    this.#total = saved.total;
  }

  reset(): void {
    this.#items = [];
    this.#total = 0;
  }
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
