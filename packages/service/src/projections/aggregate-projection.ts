/**
 * A read model of one aggregate type (consumers, plans, key requests): the latest state of every
 * stream of a category, by id, in creation order for stable cursors, with list filters on status
 * and creation time. Each aggregate brings its own fold (evolve); this keeps the bookkeeping once.
 */
import type { RecordedEvent } from '../store/port.js';
import type { Projection } from './runner.js';
import type { SnapshotPart } from './snapshot-part.js';

export interface AggregateReadModelOptions<State, Event> {
  name: string;
  /** Stream category, e.g. `consumer` for `consumer-<id>`. */
  category: string;
  /** The domain event of a recorded one (already upcast by the runner), or null to ignore it. */
  toEvent(recorded: RecordedEvent): Event | null;
  evolve(state: State | null, event: Event, recorded: { occurredAt: string; revision: number }): State;
  idOf(state: State): string;
  statusOf(state: State): string;
  createdAtOf(state: State): string;
}

export interface ListQuery {
  status?: string | undefined;
  createdFrom?: string | undefined;
  createdTo?: string | undefined;
  /** Id of the last item of the previous page. */
  after?: string | undefined;
  limit: number;
}

export interface FilteredListQuery<State> extends ListQuery {
  /** A further filter (e.g. consumers on a plan). */
  where?: (state: State) => boolean;
}

export class AggregateReadModel<State, Event> implements Projection, SnapshotPart {
  readonly name: string;
  /** States are plain JSON (strings, numbers, arrays): the snapshot is their JSON, in creation order. */
  readonly snapshotVersion = 1;
  readonly #byId = new Map<string, State>();
  readonly #order: string[] = [];
  readonly #ordinal = new Map<string, number>();
  readonly #listeners = new Set<(state: State, event: RecordedEvent) => void>();

  constructor(private readonly options: AggregateReadModelOptions<State, Event>) {
    this.name = options.name;
  }

  apply(recorded: RecordedEvent): void {
    if (recorded.category !== this.options.category) return;
    const event = this.options.toEvent(recorded);
    if (event === null) return;
    const id = recorded.stream.slice(this.options.category.length + 1);
    const previous = this.#byId.get(id) ?? null;
    const meta = recorded.metadata as { occurredAt?: string };
    const next = this.options.evolve(previous, event, {
      occurredAt: meta.occurredAt ?? recorded.recordedAt.toISOString(),
      revision: recorded.revision,
    });
    this.#byId.set(id, next);
    if (previous === null) {
      this.#ordinal.set(id, this.#order.length);
      this.#order.push(id);
    }
    for (const listener of this.#listeners) listener(next, recorded);
  }

  onChange(listener: (state: State, event: RecordedEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): State | undefined {
    return this.#byId.get(id);
  }

  all(): IterableIterator<State> {
    return this.#byId.values();
  }

  /** One page in creation order; `nextAfter` is set when more may follow. */
  list(query: FilteredListQuery<State>): { items: State[]; nextAfter: string | null } {
    let start = 0;
    if (query.after !== undefined) {
      const ordinal = this.#ordinal.get(query.after);
      if (ordinal === undefined) return { items: [], nextAfter: null };
      start = ordinal + 1;
    }
    const from = query.createdFrom === undefined ? -Infinity : Date.parse(query.createdFrom);
    const to = query.createdTo === undefined ? Infinity : Date.parse(query.createdTo);
    const items: State[] = [];
    for (let i = start; i < this.#order.length; i++) {
      const state = this.#byId.get(this.#order[i] as string) as State;
      if (query.status !== undefined && this.options.statusOf(state) !== query.status) continue;
      const created = Date.parse(this.options.createdAtOf(state));
      if (created < from || created >= to) continue;
      if (query.where && !query.where(state)) continue;
      if (items.length === query.limit) return { items, nextAfter: this.options.idOf(items.at(-1) as State) };
      items.push(state);
    }
    return { items, nextAfter: null };
  }

  encodeSnapshot(): Buffer {
    return Buffer.from(JSON.stringify(this.#order.map((id) => [id, this.#byId.get(id)])));
  }

  restoreSnapshot(data: Buffer): void {
    const entries = JSON.parse(data.toString('utf8')) as unknown;
    if (!Array.isArray(entries)) throw new Error(`${this.name} snapshot is not a list`);
    this.reset();
    for (const entry of entries) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'object' || entry[1] === null) {
        throw new Error(`${this.name} snapshot holds a malformed entry`);
      }
      const [id, state] = entry as [string, State];
      this.#ordinal.set(id, this.#order.length);
      this.#order.push(id);
      this.#byId.set(id, state);
    }
  }

  reset(): void {
    this.#byId.clear();
    this.#order.length = 0;
    this.#ordinal.clear();
  }

  /** A canonical dump, to prove that a rebuild from the log is identical. */
  snapshot(): unknown {
    return [...this.#byId.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  }
}
