/**
 * The embedded event store: one SQLite file in WAL mode, written by one process at a time.
 *
 * SQLite is the single-instance backend. Several processes on the same file stay correct (every
 * append is an IMMEDIATE transaction and positions follow commit order) but only appends made
 * through this store object wake its waiters at once; appends by other processes or other
 * store objects are noticed by a modest poll (`pollIntervalMs`), run only while someone waits.
 */

import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  CheckpointBeyondHeadError,
  DuplicateEventIdError,
  EventStoreError,
  StoreClosedError,
  StoreUnavailableError,
  WrongExpectedRevisionError,
} from '../errors.js';
import { EventWaiters, checkWaitOptions } from '../notifier.js';
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  EventValidator,
  ExpectedRevision,
  ImportedEvent,
  ImportResult,
  MultiStreamAppendResult,
  NewEvent,
  ReadAllOptions,
  ReadAllResult,
  ReadStreamOptions,
  RecordedEvent,
  StreamAppend,
  WaitOptions,
} from '../port.js';
import type { PreparedAppend } from '../prepare-append.js';
import { nextRevisions, type PreparedImportEvent, prepareImport } from '../prepare-import.js';
import { prepareAppend, prepareMultiAppend } from '../prepare-append.js';
import { lastCheckpoint, replayedResults } from '../replay.js';
import { compareCheckpoints, formatCheckpoint, parseCheckpoint } from './checkpoint.js';
import { parseFilter, parseReadAllCount, parseStreamRead } from '../read-options.js';
import type { EventRow } from './read-all.js';
import { EVENT_COLUMNS, prepareReadAllStatements, selectAll } from './read-all.js';
import { migrate } from './schema.js';

export interface SqliteEventStoreOptions {
  /** Path of the database file; its directory is created if missing. */
  file: string;
  validate?: EventValidator;
  /** FULL (default) fsyncs every commit: an acknowledged append survives power loss. */
  synchronous?: 'FULL' | 'NORMAL';
  /** How often a waiter checks for appends made by other processes; default 1000 ms. */
  pollIntervalMs?: number;
  /** How long an append waits for another process's write lock; default 5000 ms. */
  busyTimeoutMs?: number;
  /**
   * Group commit (default on): single-stream appends made in the same turn of the event loop
   * share one transaction, so one fsync acknowledges all of them. Each keeps its own outcome:
   * it runs in a savepoint of that transaction, so a conflict or replay of one rolls back only
   * itself, and a failed commit fails them all (none is written).
   */
  groupCommit?: boolean;
}

interface PendingAppend {
  append: PreparedAppend;
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}


/** Thrown inside the append transaction to roll it back when the batch may be a replay. */
class BatchIdsAlreadyStored extends Error {}

export async function openSqliteEventStore(options: SqliteEventStoreOptions): Promise<EventStore> {
  return SqliteEventStore.open(options);
}

export class SqliteEventStore implements EventStore {
  readonly backend = 'sqlite' as const;

  readonly #db: Database.Database;
  readonly #validate: EventValidator | undefined;
  readonly #pollIntervalMs: number;
  readonly #statements: ReturnType<typeof prepareStatements>;
  readonly #appendTransaction: Database.Transaction<(append: PreparedAppend, now: number) => WrittenAppend>;
  readonly #multiAppendTransaction: Database.Transaction<(appends: PreparedAppend[], now: number) => WrittenAppend[]>;
  readonly #importTransaction: Database.Transaction<(events: PreparedImportEvent[]) => number>;
  readonly #readAllTransaction: Database.Transaction<
    (after: number, limit: number, categories?: string[], types?: string[]) => { rows: EventRow[]; head: number } | undefined
  >;
  readonly #waiters: EventWaiters;
  #pollTimer: NodeJS.Timeout | undefined;
  /** The highest position this object knows to be committed; the poll wakes waiters past it. */
  #knownHead = 0;
  #closed = false;
  readonly #groupCommit: boolean;
  /** Appends waiting for the next group commit (see SqliteEventStoreOptions.groupCommit). */
  #pending: PendingAppend[] = [];
  readonly #groupTransaction: Database.Transaction<(batch: PendingAppend[], now: number, outcomes: (WrittenAppend | { error: unknown })[]) => void>;

  static open(options: SqliteEventStoreOptions): SqliteEventStore {
    const { file, synchronous = 'FULL', pollIntervalMs = 1000, busyTimeoutMs = 5000, groupCommit = true } = options;
    if (typeof file !== 'string' || file.length === 0) throw new EventStoreError('sqlite store needs a file path');
    if (synchronous !== 'FULL' && synchronous !== 'NORMAL') {
      throw new EventStoreError(`synchronous must be 'FULL' or 'NORMAL', got ${String(synchronous)}`);
    }
    for (const [name, value] of [['pollIntervalMs', pollIntervalMs], ['busyTimeoutMs', busyTimeoutMs]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new EventStoreError(`${name} must be a positive integer`);
    }
    let db: Database.Database | undefined;
    try {
      if (file !== ':memory:') prepareOwnerOnlyFiles(file);
      db = new Database(file);
      db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous}`);
      db.pragma('foreign_keys = ON');
      migrate(db);
      // WAL mode created the -wal and -shm files (with the database's mode); tighten older ones too.
      if (file !== ':memory:') restrictSidecarFiles(file);
      return new SqliteEventStore(db, options.validate, pollIntervalMs, groupCommit);
    } catch (error) {
      db?.close();
      if (error instanceof EventStoreError) throw error;
      // Missing permissions, a directory in the way, a file that is not a database...
      throw new StoreUnavailableError('sqlite', `cannot open ${file}: ${(error as Error).message}`, { cause: error });
    }
  }

  private constructor(db: Database.Database, validate: EventValidator | undefined, pollIntervalMs: number, groupCommit: boolean) {
    this.#db = db;
    this.#groupCommit = groupCommit;
    this.#validate = validate;
    this.#pollIntervalMs = pollIntervalMs;
    const statements = prepareStatements(db);
    this.#statements = statements;
    this.#appendTransaction = db.transaction((append: PreparedAppend, now: number) =>
      writeAppend(statements, append, now),
    );
    // Group commit: each append is a nested transaction (a SAVEPOINT): its failure rolls back
    // only itself and is recorded as its outcome; the others commit together.
    this.#groupTransaction = db.transaction((batch: PendingAppend[], now: number, outcomes: (WrittenAppend | { error: unknown })[]) => {
      for (const { append } of batch) {
        try {
          outcomes.push(this.#appendTransaction(append, now));
        } catch (error) {
          outcomes.push({ error });
        }
      }
    });
    // One IMMEDIATE transaction for every stream: a failure in any of them rolls back all.
    this.#multiAppendTransaction = db.transaction((appends: PreparedAppend[], now: number) =>
      appends.map((append) => writeAppend(statements, append, now)),
    );
    this.#importTransaction = db.transaction((events: PreparedImportEvent[]) => writeImport(statements, events));
    this.#readAllTransaction = db.transaction(
      (after: number, limit: number, categories?: string[], types?: string[]) => {
        // Same snapshot as the rows: nothing can commit between the two reads. Positions are
        // never reused and events never deleted, so the head only grows: a checkpoint past it
        // was not issued by this store (undefined tells the caller so).
        const head = (statements.head.get() as number | null) ?? 0;
        if (after > head) return undefined;
        return { rows: selectAll(statements, after, limit, categories, types), head };
      },
    );
    this.#waiters = new EventWaiters({ onActive: () => this.#startPolling(), onIdle: () => this.#stopPolling() });
  }

  async appendToStream(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    this.#assertOpen();
    const append = prepareAppend(stream, events, options, this.#validate);
    if (this.#groupCommit) {
      return new Promise<AppendResult>((resolve, reject) => {
        if (this.#pending.push({ append, resolve, reject }) === 1) setImmediate(() => this.#commitPending());
      });
    }
    return this.#appendOne(append);
  }

  #appendOne(append: PreparedAppend): AppendResult {
    const now = Date.now();
    let written: WrittenAppend;
    try {
      written = this.#appendTransaction.immediate(append, now);
    } catch (error) {
      if (error instanceof BatchIdsAlreadyStored || isEventIdViolation(error)) return this.#replayOrThrow(append);
      throw toStoreError(error, `append to '${append.stream}' failed`);
    }
    const result = recordedResult(append, written, now);
    this.#knownHead = Math.max(this.#knownHead, Number(result.checkpoint));
    this.#waiters.wakeAll();
    return result;
  }

  /** Commits every pending append in one IMMEDIATE transaction; each promise gets its own outcome. */
  #commitPending(): void {
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    if (this.#closed) {
      for (const item of batch) item.reject(new StoreClosedError());
      return;
    }
    if (batch.length === 1) {
      const item = batch[0] as PendingAppend;
      try {
        item.resolve(this.#appendOne(item.append));
      } catch (error) {
        item.reject(error);
      }
      return;
    }
    const now = Date.now();
    const outcomes: (WrittenAppend | { error: unknown })[] = [];
    try {
      this.#groupTransaction.immediate(batch, now, outcomes);
    } catch (error) {
      // The commit itself failed: nothing of the group is written.
      for (const item of batch) item.reject(toStoreError(error, `append to '${item.append.stream}' failed`));
      return;
    }
    let woke = false;
    batch.forEach((item, i) => {
      const outcome = outcomes[i] as WrittenAppend | { error: unknown };
      if ('error' in outcome) {
        const { error } = outcome;
        try {
          if (error instanceof BatchIdsAlreadyStored || isEventIdViolation(error)) item.resolve(this.#replayOrThrow(item.append));
          else item.reject(toStoreError(error, `append to '${item.append.stream}' failed`));
        } catch (replayError) {
          item.reject(replayError);
        }
        return;
      }
      const result = recordedResult(item.append, outcome, now);
      this.#knownHead = Math.max(this.#knownHead, Number(result.checkpoint));
      woke = true;
      item.resolve(result);
    });
    if (woke) this.#waiters.wakeAll();
  }

  async appendToStreams(appends: readonly StreamAppend[]): Promise<MultiStreamAppendResult> {
    this.#assertOpen();
    const prepared = prepareMultiAppend(appends, this.#validate);
    // Appends accepted earlier commit first: positions keep following the order of the calls.
    this.#commitPending();
    const now = Date.now();
    let written: WrittenAppend[];
    try {
      written = this.#multiAppendTransaction.immediate(prepared, now);
    } catch (error) {
      if (error instanceof BatchIdsAlreadyStored || isEventIdViolation(error)) {
        const ids = prepared.flatMap((append) => append.events.map((event) => event.id));
        const rows = this.#query(() => this.#statements.eventsByIds.all(JSON.stringify(ids)) as EventRow[]);
        const streams = replayedResults(prepared, new Map(rows.map((row) => [row.event_id, toRecordedEvent(row)])));
        if (!streams) throw new EventStoreError('multi-stream append hit an event id conflict that vanished on re-read');
        return { streams, checkpoint: lastCheckpoint(streams, compareCheckpoints) };
      }
      throw toStoreError(error, `append to ${prepared.map((a) => `'${a.stream}'`).join(', ')} failed`);
    }
    const streams = prepared.map((append, i) => recordedResult(append, written[i] as WrittenAppend, now));
    const checkpoint = lastCheckpoint(streams, compareCheckpoints);
    this.#knownHead = Math.max(this.#knownHead, Number(checkpoint));
    this.#waiters.wakeAll();
    return { streams, checkpoint };
  }

  async importEvents(events: readonly ImportedEvent[]): Promise<ImportResult> {
    this.#assertOpen();
    const prepared = prepareImport(events, this.#validate);
    let last: number;
    try {
      last = this.#importTransaction.immediate(prepared);
    } catch (error) {
      if (error instanceof EventStoreError) throw error;
      if (isEventIdViolation(error)) {
        const clash = prepared.find((event) => this.#statements.eventExists.get(event.id) !== undefined);
        throw new DuplicateEventIdError(clash?.id ?? '?', clash?.stream ?? '?');
      }
      throw toStoreError(error, 'import failed');
    }
    this.#knownHead = Math.max(this.#knownHead, last);
    this.#waiters.wakeAll();
    return { checkpoint: formatCheckpoint(last), imported: prepared.length };
  }

  async countEvents(): Promise<number> {
    this.#assertOpen();
    return this.#query(() => this.#statements.count.get() as number);
  }

  async readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    this.#assertOpen();
    const read = parseStreamRead(stream, options);
    if (read === null) return [];
    const statement = read.backwards ? this.#statements.streamBackwards : this.#statements.streamForwards;
    // LIMIT -1 is SQLite's "no limit".
    const rows = this.#query(() => statement.all(stream, read.fromRevision, read.maxCount ?? -1) as EventRow[]);
    return rows.map(toRecordedEvent);
  }

  async readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    this.#assertOpen();
    const after = parseCheckpoint(options.after);
    const limit = parseReadAllCount(options.maxCount);
    const categories = parseFilter(options.categories, 'categories');
    const types = parseFilter(options.types, 'types');
    const read = this.#query(() => this.#readAllTransaction(after, limit, categories, types));
    if (read === undefined) throw new CheckpointBeyondHeadError(options.after as string);
    const { rows, head } = read;
    const events = rows.map(toRecordedEvent);
    if (rows.length === limit) return { events, checkpoint: events[events.length - 1]?.checkpoint };
    // A short page means everything up to the head was scanned: resume from the head so a
    // filtered reader never rescans the events it skipped.
    const end = Math.max(head, after);
    return { events, checkpoint: end === 0 ? options.after : formatCheckpoint(end) };
  }

  async waitForEvents(after: string | undefined, options?: WaitOptions): Promise<void> {
    this.#assertOpen();
    const position = parseCheckpoint(after);
    checkWaitOptions(options);
    const head = this.#query(() => (this.#statements.head.get() as number | null) ?? 0);
    if (head > position) return;
    this.#knownHead = Math.max(this.#knownHead, head);
    await this.#waiters.wait(options);
  }

  compareCheckpoints(a: string | undefined, b: string | undefined): number {
    return compareCheckpoints(a, b);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Appends already accepted are committed (or fail) before the file closes.
    this.#commitPending();
    this.#closed = true;
    this.#stopPolling();
    this.#waiters.close();
    this.#db.close();
  }

  /**
   * Some id of the batch is stored already. An exact replay (every id stored in this stream at
   * consecutive revisions, in batch order) returns the original events; anything else is a
   * DuplicateEventIdError. Events are never deleted, so what we read here cannot go stale.
   */
  #replayOrThrow(append: PreparedAppend): AppendResult {
    const ids = append.events.map((event) => event.id);
    const rows = this.#query(() => this.#statements.eventsByIds.all(JSON.stringify(ids)) as EventRow[]);
    const byId = new Map(rows.map((row) => [row.event_id, row]));
    const stored = ids.map((id) => byId.get(id));
    const first = stored[0];
    const isReplay =
      first !== undefined &&
      stored.every(
        (row, i) => row !== undefined && row.stream_id === append.stream && row.stream_revision === first.stream_revision + i,
      );
    if (isReplay) {
      const events = (stored as EventRow[]).map(toRecordedEvent);
      const last = events[events.length - 1] as RecordedEvent;
      return { nextExpectedRevision: last.revision, checkpoint: last.checkpoint, events, replayed: true };
    }
    const duplicate = ids.find((id) => byId.has(id));
    if (duplicate === undefined) {
      throw new EventStoreError(`append to '${append.stream}' hit an event id conflict that vanished on re-read`);
    }
    throw new DuplicateEventIdError(duplicate, append.stream);
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }

  #query<T>(read: () => T): T {
    try {
      return read();
    } catch (error) {
      throw toStoreError(error, 'read failed');
    }
  }

  #startPolling(): void {
    if (this.#pollTimer !== undefined || this.#closed) return;
    this.#pollTimer = setInterval(() => this.#poll(), this.#pollIntervalMs);
  }

  #stopPolling(): void {
    if (this.#pollTimer === undefined) return;
    clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
  }

  /** Notices appends made by other processes on the same file. */
  #poll(): void {
    if (this.#closed) return;
    let head: number;
    try {
      head = (this.#statements.head.get() as number | null) ?? 0;
    } catch {
      return; // busy or briefly unreadable: the next tick retries, and waiters have their own timeouts
    }
    if (head > this.#knownHead) {
      this.#knownHead = head;
      this.#waiters.wakeAll();
    }
  }
}

function prepareStatements(db: Database.Database) {
  return {
    streamRevision: db.prepare('SELECT revision FROM streams WHERE stream_id = ?').pluck(),
    upsertStream: db.prepare(
      'INSERT INTO streams (stream_id, revision) VALUES (?, ?) ON CONFLICT (stream_id) DO UPDATE SET revision = excluded.revision',
    ),
    insertEvent: db.prepare(
      `INSERT INTO events (event_id, stream_id, stream_revision, category, event_type, data, metadata, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    eventExists: db.prepare('SELECT 1 FROM events WHERE event_id = ?').pluck(),
    eventsByIds: db.prepare(`SELECT ${EVENT_COLUMNS} FROM events WHERE event_id IN (SELECT value FROM json_each(?))`),
    streamForwards: db.prepare(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = ? AND stream_revision >= ? ORDER BY stream_revision LIMIT ?`,
    ),
    streamBackwards: db.prepare(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = ? AND stream_revision <= ? ORDER BY stream_revision DESC LIMIT ?`,
    ),
    head: db.prepare('SELECT max(position) FROM events').pluck(),
    count: db.prepare('SELECT count(*) FROM events').pluck(),
    ...prepareReadAllStatements(db),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

interface WrittenAppend {
  firstRevision: number;
  positions: number[];
}

/** Runs inside the IMMEDIATE transaction: one revision read, one stream upsert, one insert per event. */
function writeAppend(statements: Statements, append: PreparedAppend, now: number): WrittenAppend {
  const actual = (statements.streamRevision.get(append.stream) as number | undefined) ?? -1;
  if (!revisionMatches(append.expected, actual)) {
    // A retried command carries a stale expected revision: look for a replay before failing.
    // All ids of a replay are stored, so checking the first one is enough.
    if (statements.eventExists.get(append.events[0]?.id) !== undefined) throw new BatchIdsAlreadyStored();
    throw new WrongExpectedRevisionError(append.stream, append.expected, actual);
  }
  statements.upsertStream.run(append.stream, actual + append.events.length);
  const positions = append.events.map((event, i) => {
    const { lastInsertRowid } = statements.insertEvent.run(
      event.id,
      append.stream,
      actual + 1 + i,
      append.category,
      event.type,
      event.data,
      event.metadata,
      now,
    );
    return Number(lastInsertRowid);
  });
  return { firstRevision: actual + 1, positions };
}

/** Runs inside the IMMEDIATE transaction: every event must continue its stream; returns the last position. */
function writeImport(statements: Statements, events: PreparedImportEvent[]): number {
  const stored = new Map<string, number>();
  for (const stream of new Set(events.map((event) => event.stream))) {
    const revision = statements.streamRevision.get(stream) as number | undefined;
    if (revision !== undefined) stored.set(stream, revision);
  }
  const checked = nextRevisions(events, stored);
  if (!checked.ok) throw new WrongExpectedRevisionError(checked.stream, checked.expected, checked.actual);
  for (const [stream, revision] of checked.revisions) statements.upsertStream.run(stream, revision);
  let last = 0;
  for (const event of events) {
    const { lastInsertRowid } = statements.insertEvent.run(event.id, event.stream, event.revision, event.category, event.type, event.data, event.metadata, event.recordedAtMs);
    last = Number(lastInsertRowid);
  }
  return last;
}

function recordedResult(append: PreparedAppend, { firstRevision, positions }: WrittenAppend, now: number): AppendResult {
  const events = append.events.map(
    (event, i): RecordedEvent => ({
      id: event.id,
      stream: append.stream,
      category: append.category,
      revision: firstRevision + i,
      type: event.type,
      data: JSON.parse(event.data),
      metadata: JSON.parse(event.metadata),
      checkpoint: formatCheckpoint(positions[i] as number),
      recordedAt: new Date(now),
    }),
  );
  return {
    nextExpectedRevision: firstRevision + positions.length - 1,
    checkpoint: formatCheckpoint(positions[positions.length - 1] as number),
    events,
    replayed: false,
  };
}

function revisionMatches(expected: ExpectedRevision, actual: number): boolean {
  switch (expected) {
    case 'any':
      return true;
    case 'no_stream':
      return actual === -1;
    case 'stream_exists':
      return actual >= 0;
    default:
      return expected === actual;
  }
}

function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    id: row.event_id,
    stream: row.stream_id,
    category: row.category,
    revision: row.stream_revision,
    type: row.event_type,
    data: JSON.parse(row.data),
    metadata: JSON.parse(row.metadata),
    checkpoint: formatCheckpoint(row.position),
    recordedAt: new Date(row.created_at),
  };
}

function isEventIdViolation(error: unknown): boolean {
  return (
    error instanceof Database.SqliteError &&
    error.code === 'SQLITE_CONSTRAINT_UNIQUE' &&
    error.message.includes('events.event_id')
  );
}

/** Our own typed errors pass through; SQLite failures (locked, disk full, I/O, corrupt) become StoreUnavailableError. */
function toStoreError(error: unknown, context: string): unknown {
  if (error instanceof EventStoreError) return error;
  if (error instanceof Database.SqliteError) {
    const reason =
      error.code === 'SQLITE_BUSY' || error.code === 'SQLITE_LOCKED'
        ? 'the database is locked by another writer (busy timeout exceeded)'
        : `${error.code}: ${error.message}`;
    return new StoreUnavailableError('sqlite', `${context}: ${reason}`, { cause: error });
  }
  return error;
}

/**
 * The ledger holds key digests and audit data: the data directory is created owner-only (0700)
 * and the database file 0600 before SQLite opens it, since SQLite gives its -wal and -shm files
 * the database file's mode.
 */
function prepareOwnerOnlyFiles(file: string): void {
  mkdirSync(dirname(resolve(file)), { recursive: true, mode: 0o700 });
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
}

function restrictSidecarFiles(file: string): void {
  for (const sidecar of [`${file}-wal`, `${file}-shm`]) {
    if (existsSync(sidecar)) chmodSync(sidecar, 0o600);
  }
}
