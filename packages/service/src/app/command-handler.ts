/**
 * The one command handler every aggregate uses: load the streams a command touches, fold each
 * (evolve), decide (pure), append the decision with each stream's expected revision (one stream:
 * appendToStream; several: appendToStreams, one transaction), retry with jittered back-off when
 * another writer got there first, then wait until this instance has applied the written events,
 * so a read on the same instance reflects them.
 *
 * The handler knows nothing about keys, HTTP or idempotency: a command is a `CommandSpec`
 * (streams, decider, decide, metadata, result), and idempotency wraps a spec (idempotency.ts).
 */
import { randomUUID } from 'node:crypto';
import { WrongExpectedRevisionError } from '../store/errors.js';
import type { EventStore, ExpectedRevision, NewEvent, RecordedEvent } from '../store/port.js';
import { conflict, notYetApplied, preconditionFailed } from './errors.js';

/**
 * How a stream's recorded events fold into state (Emmett calls this pair a decider's read side).
 * Every stream a command loads folds with the same decider: a command over two aggregate kinds
 * uses a union State whose evolve looks at the event (or the stream's category).
 */
export interface Decider<State> {
  initialState(): State;
  evolve(state: State, event: RecordedEvent): State;
}

export interface LoadedStream<State> {
  stream: string;
  events: RecordedEvent[];
  state: State;
  /** The stream's revision: -1 when it does not exist. */
  revision: number;
}

/** A domain event as decided: the store adds id, revision and checkpoint. */
export interface DecidedEvent {
  type: string;
  data: object;
}

export interface StreamWrite<Event extends DecidedEvent = DecidedEvent> {
  /** One of the loaded streams; it is appended at the revision it was loaded at. */
  stream: string;
  events: Event[];
}

/** An earlier handling of this very request, found in the loaded streams. */
export interface Replay<State> {
  /** The streams as they were right after the original. */
  streams: LoadedStream<State>[];
  /** Checkpoint of the original's last event. */
  checkpoint: string;
  originalAt: Date;
}

/** Where an event sits in the decision; `ids` holds every event id of the decision, for causation. */
export interface EventPlace {
  write: number;
  index: number;
  ids: readonly (readonly string[])[];
}

export interface CommandSpec<State, Result, Event extends DecidedEvent = DecidedEvent> {
  /** Every stream the decision reads; the first is the command's target. */
  streams: readonly string[];
  decider: Decider<State>;
  /** Pure: given the loaded streams and the time, what to append (nothing: no change). Throws to refuse. */
  decide(streams: LoadedStream<State>[], now: Date): StreamWrite<Event>[];
  /** Runs before everything else: a request handled before is answered with its first outcome. */
  findReplay?(streams: LoadedStream<State>[]): Replay<State> | undefined;
  /** Metadata recorded with each event. */
  metadata(event: Event, place: EventPlace, now: Date): object;
  /** Event ids; random unless given (idempotency derives them from its key). */
  eventId?(place: Omit<EventPlace, 'ids'>): string;
  /** If-Match: the revision the caller last saw of the first stream. */
  expectedRevision?: number | undefined;
  /** Where the result can be read (`/v1/keys/<id>`), named in the 503 when it is not applied yet. */
  resource: string;
  /** Builds the answer from the streams as they are after the command. */
  result(streams: LoadedStream<State>[], outcome: CommandOutcome): Result;
}

export interface CommandOutcome {
  /** Nothing was written: this request was handled before (an idempotent replay). */
  replayed: boolean;
  /** When the replayed original happened; null unless replayed. */
  originalAt: Date | null;
  /** Checkpoint of the command's own events; null when it wrote nothing. */
  checkpoint: string | null;
  now: Date;
}

export interface CommandHandlerOptions {
  store: EventStore;
  /** Resolves true once this instance has applied everything up to the checkpoint, false on timeout. */
  waitForApplied(checkpoint: string, timeoutMs: number): Promise<boolean>;
  /** How long a command waits for its events to be applied before it answers 503. Default 5000. */
  applyTimeoutMs?: number;
  now?: () => Date;
  /** Attempts when another writer moved a stream concurrently. Default 5. */
  maxAttempts?: number;
  /** Back-off before retry n (1-based): random in [base·2^(n-1)/2, base·2^(n-1)], capped. */
  backoff?: { baseMs: number; maxMs: number };
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const DEFAULT_BACKOFF = { baseMs: 5, maxMs: 200 };

export class CommandHandler {
  readonly #options: CommandHandlerOptions;
  readonly #now: () => Date;

  constructor(options: CommandHandlerOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  async load<State>(stream: string, decider: Decider<State>): Promise<LoadedStream<State>> {
    const events = await this.#options.store.readStream(stream);
    return foldStream(stream, events, decider);
  }

  async handle<State, Result, Event extends DecidedEvent>(spec: CommandSpec<State, Result, Event>): Promise<Result> {
    const maxAttempts = this.#options.maxAttempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const loaded = await Promise.all(spec.streams.map((stream) => this.load(stream, spec.decider)));
      const target = loaded[0] as LoadedStream<State>;
      const now = this.#now();
      const replay = spec.findReplay?.(loaded);
      if (replay) {
        await this.#awaitApplied(replay.checkpoint, spec.resource);
        return spec.result(replay.streams, { replayed: true, originalAt: replay.originalAt, checkpoint: replay.checkpoint, now });
      }
      // If-Match guards the state the decision is made on (a missing stream is decide's 404).
      if (spec.expectedRevision !== undefined && target.revision !== -1 && target.revision !== spec.expectedRevision) {
        throw preconditionFailed(spec.expectedRevision, target.revision);
      }
      const writes = spec.decide(loaded, now).filter((write) => write.events.length > 0);
      if (writes.length === 0) return spec.result(loaded, { replayed: false, originalAt: null, checkpoint: null, now });
      try {
        const { written, checkpoint, replayed } = await this.#append(spec, loaded, writes, now);
        if (replayed) {
          // A concurrent identical request stored these very events first: answer as its replay,
          // which the next round finds in the streams (findReplay), at the state right after them.
          if (attempt >= maxAttempts || !spec.findReplay) throw conflict(`${target.stream}: the same request was written concurrently; retry`);
          continue;
        }
        await this.#awaitApplied(checkpoint, spec.resource);
        const after = loaded.map((stream) => {
          const mine = written.get(stream.stream);
          return mine ? foldStream(stream.stream, [...stream.events, ...mine], spec.decider, stream) : stream;
        });
        return spec.result(after, { replayed: false, originalAt: null, checkpoint, now });
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
        if (spec.expectedRevision !== undefined && error.stream === target.stream) {
          throw preconditionFailed(spec.expectedRevision, error.actual);
        }
        if (attempt >= maxAttempts) {
          throw conflict(`${error.stream} kept changing concurrently; gave up after ${attempt} attempts, retry later`);
        }
        await (this.#options.sleep ?? delay)(this.#backoff(attempt));
      }
    }
  }

  #backoff(attempt: number): number {
    const { baseMs, maxMs } = this.#options.backoff ?? DEFAULT_BACKOFF;
    const ceiling = Math.min(maxMs, baseMs * 2 ** (attempt - 1));
    // Half fixed, half random: writers that collided do not collide again in lock step.
    return ceiling / 2 + (this.#options.random ?? Math.random)() * (ceiling / 2);
  }

  async #append<State, Event extends DecidedEvent>(
    spec: CommandSpec<State, unknown, Event>,
    loaded: LoadedStream<State>[],
    writes: StreamWrite<Event>[],
    now: Date,
  ): Promise<{ written: Map<string, RecordedEvent[]>; checkpoint: string; replayed: boolean }> {
    const ids = writes.map((write, w) => write.events.map((_, index) => spec.eventId?.({ write: w, index }) ?? randomUUID()));
    const appends = writes.map((write, w) => {
      const stream = loaded.find((s) => s.stream === write.stream);
      if (!stream) throw new Error(`decision writes to ${write.stream}, which the command did not load`);
      const expectedRevision: ExpectedRevision = stream.revision === -1 ? 'no_stream' : stream.revision;
      const events: NewEvent[] = write.events.map((event, index) => ({
        id: (ids[w] as string[])[index],
        type: event.type,
        data: event.data,
        metadata: spec.metadata(event, { write: w, index, ids }, now),
      }));
      return { stream: write.stream, events, expectedRevision };
    });
    const store = this.#options.store;
    if (appends.length === 1) {
      const [only] = appends as [(typeof appends)[number]];
      const result = await store.appendToStream(only.stream, only.events, { expectedRevision: only.expectedRevision });
      return { written: new Map([[only.stream, result.events]]), checkpoint: result.checkpoint, replayed: result.replayed };
    }
    const result = await store.appendToStreams(appends);
    return {
      written: new Map(appends.map((append, i) => [append.stream, result.streams[i]?.events ?? []])),
      checkpoint: result.checkpoint,
      replayed: result.streams.every((stream) => stream.replayed),
    };
  }

  async #awaitApplied(checkpoint: string, resource: string): Promise<void> {
    const timeoutMs = this.#options.applyTimeoutMs ?? 5000;
    if (!(await this.#options.waitForApplied(checkpoint, timeoutMs))) throw notYetApplied(checkpoint, resource, timeoutMs);
  }
}

/** Folds `events` (the whole stream) into state; `from` lets a caller skip events it already folded. */
export function foldStream<State>(
  stream: string,
  events: RecordedEvent[],
  decider: Decider<State>,
  from?: LoadedStream<State>,
): LoadedStream<State> {
  let state = from ? from.state : decider.initialState();
  for (const event of events.slice(from ? from.events.length : 0)) state = decider.evolve(state, event);
  return { stream, events, state, revision: events.length === 0 ? -1 : (events[events.length - 1] as RecordedEvent).revision };
}

/** When an event happened: its recorded `occurredAt`, else when it was stored. */
export function recordedTime(event: RecordedEvent | undefined): Date | null {
  if (!event) return null;
  const occurredAt = (event.metadata as { occurredAt?: unknown }).occurredAt;
  return typeof occurredAt === 'string' ? new Date(occurredAt) : event.recordedAt;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
