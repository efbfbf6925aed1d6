/**
 * The PostgreSQL event store: several service instances share one schema. Appends go through the
 * kl_append function (one round trip); global reads are gap-free behind a snapshot fence (see
 * read.ts); waiters are woken by LISTEN/NOTIFY (announcer.ts, listener.ts, wait-for-events.ts).
 */

import pg from 'pg';
import { StoreClosedError } from '../errors.js';
import type {
  AppendOptions,
  AppendResult,
  EventStore,
  EventValidator,
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
import { prepareAppend, prepareMultiAppend } from '../prepare-append.js';
import { prepareImport } from '../prepare-import.js';
import { importEventsPg } from './import.js';
import { CommitAnnouncer } from './announcer.js';
import { appendEvents, appendEventsToStreams, appendStatements, type AppendStatements } from './append.js';
import { compareCheckpoints, LOG_START, parseCheckpoint } from './checkpoint.js';
import { NotificationListener } from './listener.js';
import { runMigrations } from './migrations.js';
import { schemaNames, type SchemaNames } from './naming.js';
import { toStoreError } from './pg-errors.js';
import { hasEventsAfter, readAll, readStatements, readStream, type ReadStatements } from './read.js';
import { DEFAULT_WAIT_TUNING, waitUntilReady, type WaitTuning } from './wait-for-events.js';
import { WakeSignal } from './wake-signal.js';

export interface PostgresEventStoreOptions {
  connectionString: string;
  /** Schema holding the kl_ tables; created if missing. Default 'public'. */
  schema?: string;
  validate?: EventValidator;
  /** Pool connections (default 10). The listener uses one more, outside the pool. */
  poolSize?: number;
  /** Server-side statement_timeout for every statement (default 30 s). */
  statementTimeoutMs?: number;
  /** How long to wait for a connection, new or from the pool, before StoreUnavailableError (default 5 s). */
  connectTimeoutMs?: number;
  /** Server-side idle_in_transaction_session_timeout (default 60 s). */
  idleInTransactionTimeoutMs?: number;
  /** Safety poll of waitForEvents when no notification arrives (default 1000 ms). */
  pollIntervalMs?: number;
}

export async function openPostgresEventStore(options: PostgresEventStoreOptions): Promise<EventStore> {
  const names = schemaNames(options.schema ?? 'public');
  const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 60_000,
    application_name: `keyledger:${names.schema}`.slice(0, 63),
    keepAlive: true,
  });
  // An idle pooled connection that dies emits 'error' on the pool; without a listener that would
  // crash the process. The pool already discards the connection; the next query opens a new one.
  pool.on('error', () => undefined);
  const wake = new WakeSignal();
  const listener = new NotificationListener({
    connectionString: options.connectionString,
    channel: names.channel,
    connectTimeoutMs,
    onWake: () => wake.wake(),
  });
  try {
    await runMigrations(pool, names);
    await listener.start();
  } catch (error) {
    await listener.close();
    await pool.end().catch(() => undefined);
    throw toStoreError(error);
  }
  const tuning: WaitTuning = { ...DEFAULT_WAIT_TUNING, safetyPollMs: options.pollIntervalMs ?? DEFAULT_WAIT_TUNING.safetyPollMs };
  const announcer = new CommitAnnouncer(async () => {
    if (!(await listener.notify().catch(() => false))) await pool.query('select pg_notify($1, \'\')', [names.channel]);
  });
  return new PostgresEventStore(pool, listener, announcer, wake, names, tuning, options.validate);
}

class PostgresEventStore implements EventStore {
  readonly backend = 'postgres' as const;
  #closed = false;
  readonly #appendStatements: AppendStatements;
  readonly #readStatements: ReadStatements;

  constructor(
    private readonly pool: pg.Pool,
    private readonly listener: NotificationListener,
    private readonly announcer: CommitAnnouncer,
    private readonly wake: WakeSignal,
    private readonly names: SchemaNames,
    private readonly tuning: WaitTuning,
    private readonly validate: EventValidator | undefined,
  ) {
    this.#appendStatements = appendStatements(names);
    this.#readStatements = readStatements(names);
  }

  async appendToStream(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    this.#assertOpen();
    const prepared = prepareAppend(stream, events, options, this.validate);
    const result = await this.#run(() => appendEvents(this.pool, this.names, this.#appendStatements, prepared));
    if (!result.replayed) {
      // Local waiters need not wait for the NOTIFY to travel back through the listener.
      this.wake.wake();
      this.announcer.announce();
    }
    return result;
  }

  async appendToStreams(appends: readonly StreamAppend[]): Promise<MultiStreamAppendResult> {
    this.#assertOpen();
    const prepared = prepareMultiAppend(appends, this.validate);
    const result = await this.#run(() => appendEventsToStreams(this.pool, this.names, this.#appendStatements, prepared));
    if (!result.streams.every((stream) => stream.replayed)) {
      this.wake.wake();
      this.announcer.announce();
    }
    return result;
  }

  async importEvents(events: readonly ImportedEvent[]): Promise<ImportResult> {
    this.#assertOpen();
    const prepared = prepareImport(events, this.validate);
    const result = await this.#run(() => importEventsPg(this.pool, this.names, prepared));
    this.wake.wake();
    this.announcer.announce();
    return result;
  }

  async countEvents(): Promise<number> {
    this.#assertOpen();
    return this.#run(async () => Number((await this.pool.query<{ n: string }>(`select count(*)::text as n from ${this.names.quoted}.kl_events`)).rows[0]?.n ?? 0));
  }

  async readStream(stream: string, options?: ReadStreamOptions): Promise<RecordedEvent[]> {
    this.#assertOpen();
    return this.#run(() => readStream(this.pool, this.names, this.#readStatements, stream, options));
  }

  async readAll(options?: ReadAllOptions): Promise<ReadAllResult> {
    this.#assertOpen();
    return this.#run(() => readAll(this.pool, this.names, this.#readStatements, options));
  }

  async waitForEvents(after: string | undefined, options?: WaitOptions): Promise<void> {
    this.#assertOpen();
    const from = after === undefined ? LOG_START : parseCheckpoint(after);
    await waitUntilReady(
      async () => {
        try {
          return await this.#run(() => hasEventsAfter(this.pool, this.names, this.#readStatements, from));
        } catch (error) {
          // Closing settles pending waits; it does not fail them.
          if (error instanceof StoreClosedError) return true;
          throw error;
        }
      },
      () => this.#closed,
      this.wake,
      this.tuning,
      options,
    );
  }

  compareCheckpoints(a: string | undefined, b: string | undefined): number {
    return compareCheckpoints(a, b);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.announcer.close();
    this.wake.wake();
    await this.listener.close();
    await this.pool.end();
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }

  async #run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (this.#closed) throw new StoreClosedError();
      throw toStoreError(error);
    }
  }
}
