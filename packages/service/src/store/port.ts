/**
 * The event store port: the one interface every backend (SQLite, PostgreSQL, later KurrentDB)
 * implements and the shared contract suite proves. Revisions are 0-based per stream, as KurrentDB
 * counts them; the global log is addressed by opaque checkpoints that only the backend that
 * issued them can interpret.
 */

/** What the caller believes about the stream before appending. */
export type ExpectedRevision = 'any' | 'no_stream' | 'stream_exists' | number;

/** A JSON value as it will round-trip through the store unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type EventMetadata = { [key: string]: JsonValue };

/** An event the caller wants to append. `id` defaults to a random UUID. */
export interface NewEvent {
  id?: string;
  type: string;
  data: JsonValue | object;
  metadata?: EventMetadata | object;
}

/** An event as stored: immutable once written. */
export interface RecordedEvent<Data = unknown, Meta = EventMetadata> {
  id: string;
  stream: string;
  /** Stream category: the part of the stream name before the first '-'. */
  category: string;
  revision: number;
  type: string;
  data: Data;
  metadata: Meta;
  /** Opaque global position of this event; reading `after` it resumes with the next event. */
  checkpoint: string;
  recordedAt: Date;
}

/**
 * An event exactly as another store recorded it, carried over by import or migration: it keeps
 * its id, stream, revision, metadata and recording time (only the opaque checkpoint is new).
 */
export interface ImportedEvent {
  id: string;
  stream: string;
  revision: number;
  type: string;
  data: JsonValue | object;
  metadata: EventMetadata | object;
  recordedAt: Date;
}

export interface ImportResult {
  /** Checkpoint of the last event written. */
  checkpoint: string;
  imported: number;
}

export interface AppendOptions {
  expectedRevision?: ExpectedRevision;
}

export interface AppendResult {
  /** The stream's revision after the append: pass it as the next expected revision. */
  nextExpectedRevision: number;
  /** Checkpoint of the last event written by this append. */
  checkpoint: string;
  events: RecordedEvent[];
  /**
   * True when every event id was already stored as exactly this batch: nothing was written and the
   * original events are returned (a retried command never writes twice).
   *
   * The duplicate id rule: a batch whose ids are all stored in this stream, at consecutive
   * revisions, in the batch's order, is a replay, answered with the original events, checkpoint
   * and nextExpectedRevision even if the expected revision no longer matches. Any other batch
   * containing a stored id (some ids new, another stream, another order) throws
   * DuplicateEventIdError and writes nothing.
   */
  replayed: boolean;
}

/** One stream's part of an atomic multi-stream append. */
export interface StreamAppend {
  stream: string;
  events: readonly NewEvent[];
  expectedRevision?: ExpectedRevision;
}

export interface MultiStreamAppendResult {
  /** One result per stream, in the order the appends were given. */
  streams: AppendResult[];
  /** Checkpoint of the last event written (or replayed) by the whole append. */
  checkpoint: string;
}

/**
 * One contract for every backend (store/read-options.ts checks it, the contract suite proves it):
 * readStream returns every event of the stream unless `maxCount` says otherwise; a stream that
 * does not exist reads as []. Bad arguments throw InvalidReadError.
 */
export interface ReadStreamOptions {
  /**
   * Inclusive. Default 'start' forwards, 'end' backwards. Forwards from 'end' or past the last
   * revision reads nothing; backwards from past the last revision starts at the last one.
   */
  fromRevision?: number | 'start' | 'end';
  /** At most this many events, an integer >= 0 (0 reads nothing). Default: all of them. */
  maxCount?: number;
  direction?: 'forwards' | 'backwards';
}

export interface ReadAllOptions {
  /**
   * Read events strictly after this checkpoint; undefined reads from the beginning. A checkpoint
   * this store did not issue throws InvalidCheckpointError; a well-formed one past the head of
   * the log (from another store, or made up) throws CheckpointBeyondHeadError, never an empty page
   * that would skip everything up to it.
   */
  after?: string;
  /** Page size, an integer >= 1: default 1000, larger values are capped at 10 000. */
  maxCount?: number;
  /** Only events of these stream categories (e.g. `key`); [] means no filter. */
  categories?: readonly string[];
  /** Only events of these types (e.g. `KeyRevoked`); [] means no filter. */
  types?: readonly string[];
}

export interface ReadAllResult {
  events: RecordedEvent[];
  /**
   * Where to resume. It may be past the last returned event when filtered-out events were
   * scanned, so a filtered reader never rescans them.
   */
  checkpoint: string | undefined;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Give up and resolve after this long, even with nothing new. */
  timeoutMs?: number;
}

export interface EventStore {
  readonly backend: 'sqlite' | 'postgres';
  appendToStream(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  /**
   * Appends to several streams in one transaction, each with its own expected revision: all or
   * nothing. A stream not at its expected revision throws WrongExpectedRevisionError naming it.
   * The duplicate id rule holds for the whole call: when every stream's batch is stored exactly
   * as given, it is a replay (every result `replayed`, nothing written); any other stored id is a
   * DuplicateEventIdError. A stream may appear once per call (KurrentDB: multiStreamAppend).
   */
  appendToStreams(appends: readonly StreamAppend[]): Promise<MultiStreamAppendResult>;
  /**
   * Writes events recorded by another store (keyledger import / migrate), in the given order,
   * which becomes this log's order, in one transaction: all or nothing. Each event must be its
   * stream's next revision (else WrongExpectedRevisionError naming the stream) and its id new
   * (else DuplicateEventIdError): no idempotent replay, this is not a command path. Events are
   * checked against their schemas like any append.
   */
  importEvents(events: readonly ImportedEvent[]): Promise<ImportResult>;
  /** How many events the log holds (progress and verification of long reads). */
  countEvents(): Promise<number>;
  readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]>;
  readAll(options?: ReadAllOptions): Promise<ReadAllResult>;
  /**
   * Resolves once events after `after` may be readable (or on timeout / abort). Woken by appends
   * in this process and, on PostgreSQL, by LISTEN/NOTIFY from every instance; never busy-polls.
   */
  waitForEvents(after: string | undefined, options?: WaitOptions): Promise<void>;
  /** Orders two checkpoints issued by this store: negative, zero or positive. */
  compareCheckpoints(a: string | undefined, b: string | undefined): number;
  close(): Promise<void>;
}

/** Validates an event's payload against its schema before anything is written. */
export type EventValidator = (type: string, data: unknown) => void;

export function categoryOf(stream: string): string {
  const dash = stream.indexOf('-');
  return dash === -1 ? stream : stream.slice(0, dash);
}

/** When an event happened: the `occurredAt` its command recorded, else when the store recorded it. */
export function occurredAtOf(event: { metadata: unknown; recordedAt: Date }): string {
  return (event.metadata as { occurredAt?: string } | null)?.occurredAt ?? event.recordedAt.toISOString();
}
