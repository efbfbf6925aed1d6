/**
 * Follows the global log from a checkpoint and feeds every event to the read models, in order,
 * exactly once per process. Read models are only ever written here: data flows one way, from
 * the ledger to the projections.
 */
import type { EventStore, RecordedEvent } from '../store/port.js';

export interface Projection {
  readonly name: string;
  apply(event: RecordedEvent): void;
}

export type BatchListener = (events: readonly RecordedEvent[], checkpoint: string | undefined) => void;

export interface ProjectionRunnerOptions {
  batchSize?: number;
  /** Upper bound on one wait for new events; the store wakes us earlier when something is appended. */
  idleWaitMs?: number;
  onError?: (error: unknown) => void;
}

export class ProjectionRunner {
  #checkpoint: string | undefined;
  #lastEventAt = 0;
  #running = false;
  #loop: Promise<void> | undefined;
  readonly #abort = new AbortController();
  readonly #waiters = new Set<{ target: string; resolve: (ok: boolean) => void }>();
  readonly #listeners = new Set<BatchListener>();
  /** Set while paused: the follow loop waits on it before reading the next page. */
  #gate: { promise: Promise<void>; open: () => void } | undefined;
  #inFlight: Promise<boolean> | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly projections: readonly Projection[],
    private readonly options: ProjectionRunnerOptions = {},
  ) {}

  get checkpoint(): string | undefined {
    return this.#checkpoint;
  }

  /** Seconds since the newest applied event was recorded (0 when idle and caught up). */
  get lagSeconds(): number {
    return this.#lastEventAt === 0 ? 0 : Math.max(0, (Date.now() - this.#lastEventAt) / 1000);
  }

  /** Catches up with the whole log, then keeps following it in the background. */
  async start(): Promise<void> {
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
          this.#lastEventAt = 0;
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

  /** Reads and applies one page; true when it applied at least one event. */
  async #pollOnce(): Promise<boolean> {
    const { events, checkpoint } = await this.store.readAll({
      after: this.#checkpoint,
      maxCount: this.options.batchSize ?? 1000,
    });
    for (const event of events) {
      for (const projection of this.projections) projection.apply(event);
    }
    const moved = checkpoint !== undefined && this.store.compareCheckpoints(checkpoint, this.#checkpoint) > 0;
    if (moved) this.#checkpoint = checkpoint;
    const last = events.at(-1);
    if (last) this.#lastEventAt = last.recordedAt.getTime();
    if (events.length > 0) for (const listener of this.#listeners) listener(events, this.#checkpoint);
    if (moved) {
      for (const waiter of this.#waiters) {
        if (this.store.compareCheckpoints(this.#checkpoint, waiter.target) >= 0) waiter.resolve(true);
      }
    }
    return events.length > 0;
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
