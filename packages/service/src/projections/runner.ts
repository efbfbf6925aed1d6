/**
 * Follows the global log from a checkpoint and feeds every event to the read models, in order,
 * exactly once per process. Read models are only ever written here: data flows one way, from
 * the ledger to the projections.
 *
 * Nothing stops the log: an event of a type or schema version this keyledger does not know is
 * skipped (a newer version wrote it during a rolling deploy), and an event a projection throws
 * on is parked for that projection while the others still apply it. The checkpoint moves past
 * each event as soon as every projection has had it, so a failed read or a thrown handler never
 * makes the runner apply an event a second time.
 */
import type { EventStore, RecordedEvent } from '../store/port.js';
import { classifyEvent, knownSchemas, type SchemaKnowledge, type SkipReason } from './event-kinds.js';
import { ParkedEvents } from './parked-events.js';

export interface Projection {
  readonly name: string;
  /** Must leave the model unchanged when it throws (compute first, then write). */
  apply(event: RecordedEvent): void;
}

export type BatchListener = (events: readonly RecordedEvent[], checkpoint: string | undefined) => void;

export interface ProjectionRunnerOptions {
  batchSize?: number;
  /** Upper bound on one wait for new events; the store wakes us earlier when something is appended. */
  idleWaitMs?: number;
  onError?: (error: unknown) => void;
  /** An event no projection applies because this version does not know its type or schema version. */
  onSkip?: (event: RecordedEvent, reason: SkipReason) => void;
  /** An event a projection threw on; it was parked and the log moved on. */
  onPark?: (projection: string, event: RecordedEvent, error: unknown) => void;
  parked?: ParkedEvents;
  now?: () => number;
  /** Which types and versions exist and how to upcast them (the schemas package's, unless a test says otherwise). */
  schemas?: SchemaKnowledge;
}

export class ProjectionRunner {
  #checkpoint: string | undefined;
  #started = false;
  #running = false;
  #loop: Promise<void> | undefined;
  /** recordedAt (ms) of the oldest event known to exist and not yet applied; undefined when caught up. */
  #oldestUnappliedAt: number | undefined;
  /** Wall time of the last read that reached the head of the log. */
  #caughtUpAt: number | undefined;
  #readFailing = false;
  #applied = 0;
  readonly #abort = new AbortController();
  readonly #waiters = new Set<{ target: string; resolve: (ok: boolean) => void }>();
  readonly #listeners = new Set<BatchListener>();
  /** Set while paused: the follow loop waits on it before reading the next page. */
  #gate: { promise: Promise<void>; open: () => void } | undefined;
  #inFlight: Promise<boolean> | undefined;
  readonly parked: ParkedEvents;
  readonly #now: () => number;

  constructor(
    private readonly store: EventStore,
    private readonly projections: readonly Projection[],
    private readonly options: ProjectionRunnerOptions = {},
  ) {
    this.parked = options.parked ?? new ParkedEvents();
    this.#now = options.now ?? Date.now;
  }

  get checkpoint(): string | undefined {
    return this.#checkpoint;
  }

  /** Events applied by this process (skipped ones excluded). */
  get appliedCount(): number {
    return this.#applied;
  }

  /**
   * Age in seconds of the oldest event not yet applied: 0 only when the last read reached the
   * head of the log. While the store cannot be read, the time since the head was last reached.
   * Before the first catch-up it counts from the start.
   */
  get lagSeconds(): number {
    const now = this.#now();
    if (this.#oldestUnappliedAt !== undefined) return Math.max(0, (now - this.#oldestUnappliedAt) / 1000);
    if (this.#caughtUpAt === undefined || this.#readFailing) {
      const since = this.#caughtUpAt ?? this.#startedAt;
      return since === undefined ? 0 : Math.max(0, (now - since) / 1000);
    }
    return 0;
  }

  #startedAt: number | undefined;

  /**
   * Catches up with the whole log (after `from`, the checkpoint of a restored snapshot), then
   * keeps following it in the background.
   */
  async start(from?: string): Promise<void> {
    if (this.#started) throw new Error('projection runner already started');
    this.#started = true;
    this.#checkpoint = from;
    this.#startedAt = this.#now();
    while (await this.#pollOnce()) {
      /* keep reading until a page comes back empty */
    }
    this.#running = true;
    this.#loop = this.#follow();
  }

  /** Subscribes to every applied batch (live feed, verifier invalidation). */
  onBatch(listener: BatchListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves true once the projections have applied everything up to `checkpoint`. */
  waitFor(checkpoint: string, timeoutMs = 5000): Promise<boolean> {
    if (this.store.compareCheckpoints(this.#checkpoint, checkpoint) >= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        target: checkpoint,
        resolve: (ok: boolean) => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(ok);
        },
      };
      const timer = setTimeout(() => waiter.resolve(false), timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /**
   * Stops applying new events until resume(): this instance then lags the ledger, as one whose
   * database reads are slow would. For fault tests and operators; reads and verify keep answering
   * (and say the checkpoint they reflect), commands answer 503 once their wait times out.
   * Resolves once no page is being applied.
   */
  async pause(): Promise<void> {
    if (!this.#gate) {
      let open = () => {};
      const promise = new Promise<void>((resolve) => {
        open = resolve;
      });
      this.#gate = { promise, open };
    }
    await this.#inFlight?.catch(() => undefined);
  }

  resume(): void {
    const gate = this.#gate;
    this.#gate = undefined;
    gate?.open();
  }

  get paused(): boolean {
    return this.#gate !== undefined;
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.resume();
    this.#abort.abort();
    await this.#loop;
    for (const waiter of this.#waiters) waiter.resolve(false);
  }

  async #follow(): Promise<void> {
    let failures = 0;
    while (this.#running) {
      if (this.#gate) {
        await this.#gate.promise;
        continue;
      }
      try {
        this.#inFlight = this.#pollOnce();
        const progressed = await this.#inFlight;
        failures = 0;
        if (!progressed && this.#running) {
          await this.store.waitForEvents(this.#checkpoint, {
            signal: this.#abort.signal,
            timeoutMs: this.options.idleWaitMs ?? 1000,
          });
        }
      } catch (error) {
        if (!this.#running) return;
        this.options.onError?.(error);
        failures += 1;
        // Back off while the store is unreachable; the checkpoint is kept, so nothing is skipped.
        await delay(Math.min(50 * 2 ** failures, 2000), this.#abort.signal);
      }
    }
  }

  /** Reads and applies one page; true when it read at least one event. */
  async #pollOnce(): Promise<boolean> {
    const batchSize = this.options.batchSize ?? 1000;
    let page;
    try {
      page = await this.store.readAll({ after: this.#checkpoint, maxCount: batchSize });
      this.#readFailing = false;
    } catch (error) {
      this.#readFailing = true;
      throw error;
    }
    const { events, checkpoint } = page;
    // From here to the end of the page everything is synchronous: no reader of the projections
    // (or of the checkpoint, or a snapshot) ever sees half a page.
    for (const event of events) this.#applyOne(event);
    if (checkpoint !== undefined && this.store.compareCheckpoints(checkpoint, this.#checkpoint) > 0) this.#checkpoint = checkpoint;
    const last = events.at(-1);
    if (events.length < batchSize) {
      this.#oldestUnappliedAt = undefined;
      this.#caughtUpAt = this.#now();
    } else if (last) {
      // A full page: more may follow, recorded no earlier than the last one applied (an upper bound).
      this.#oldestUnappliedAt = last.recordedAt.getTime();
    }
    if (events.length > 0) {
      for (const listener of this.#listeners) {
        try {
          listener(events, this.#checkpoint);
        } catch (error) {
          this.options.onError?.(error);
        }
      }
      for (const waiter of this.#waiters) {
        if (this.store.compareCheckpoints(this.#checkpoint, waiter.target) >= 0) waiter.resolve(true);
      }
    }
    return events.length > 0;
  }

  #applyOne(recorded: RecordedEvent): void {
    let classified;
    try {
      classified = classifyEvent(recorded, this.options.schemas ?? knownSchemas);
    } catch (error) {
      // An upcaster that throws on malformed old data: parked once, for every projection.
      this.#park(UPCAST, recorded, error);
      this.#checkpoint = recorded.checkpoint;
      return;
    }
    if (classified.kind === 'skip') {
      notify(() => this.options.onSkip?.(recorded, classified.reason));
    } else {
      for (const projection of this.projections) {
        try {
          projection.apply(classified.event);
        } catch (error) {
          this.#park(projection.name, recorded, error);
        }
      }
      this.#applied += 1;
    }
    this.#checkpoint = recorded.checkpoint;
  }

  #park(projection: string, recorded: RecordedEvent, error: unknown): void {
    this.parked.park(projection, recorded, error, new Date(this.#now()));
    notify(() => this.options.onPark?.(projection, recorded, error));
  }
}

/** The name events are parked under when they cannot even be upcast for the projections. */
export const UPCAST = 'upcast';

/** Runs a reporting callback; its failure must never stop the log. */
function notify(callback: () => void): void {
  try {
    callback();
  } catch {
    /* a metric or a log line failed: the event is handled either way */
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
