/**
 * What every aggregate's commands share: one CommandHandler (load, decide, append, retry, wait
 * until applied), made idempotent by the Idempotency-Key of the request, folding every stream with
 * the ledger decider, and recording the same metadata on every event. The command modules
 * (keys, consumers, plans, key requests) only say which streams, what to decide and how to answer.
 */
import type { EventType } from '@keyledger/schemas';
import type { ProjectionRunner } from '../projections/runner.js';
import { type EventStore, occurredAtOf, type RecordedEvent } from '../store/port.js';
import { type CommandContext, eventMetadata } from './command-context.js';
import { CommandHandler, type CommandSpec, type DecidedEvent, foldStream } from './command-handler.js';
import { notFound } from './errors.js';
import { handleIdempotently, type IdempotencyContext } from './idempotency.js';
import { type AggregateState, type AggregateStream, ledgerDecider } from './ledger-decider.js';

export interface CommandRunnerOptions {
  store: EventStore;
  runner: Pick<ProjectionRunner, 'waitFor' | 'checkpoint'>;
  /** How long a command waits for this instance to apply its events before answering 503. Default 5000. */
  applyTimeoutMs?: number | undefined;
  now?: (() => Date) | undefined;
  maxAttempts?: number | undefined;
}

export type RunSpec<Result> = Omit<CommandSpec<AggregateState | null, Result, DecidedEvent>, 'decider' | 'metadata'> & {
  /** Metadata beyond the defaults (e.g. a causation id); the defaults come from the context. */
  causationOf?: (place: { write: number; index: number; ids: readonly (readonly string[])[] }) => string | null | undefined;
};

export class CommandRunner {
  readonly handler: CommandHandler;
  readonly now: () => Date;

  constructor(private readonly options: CommandRunnerOptions) {
    this.now = options.now ?? (() => new Date());
    this.handler = new CommandHandler({
      store: options.store,
      waitForApplied: (checkpoint, timeoutMs) => options.runner.waitFor(checkpoint, timeoutMs),
      applyTimeoutMs: options.applyTimeoutMs,
      now: this.now,
      maxAttempts: options.maxAttempts,
    });
  }

  /** The checkpoint this instance has applied (at least a command's own events once it returned). */
  get appliedCheckpoint(): string | null {
    return this.options.runner.checkpoint ?? null;
  }

  run<Result>(ctx: CommandContext, spec: RunSpec<Result>): Promise<Result> {
    const idem: IdempotencyContext | undefined = ctx.idempotencyKey
      ? { key: ctx.idempotencyKey, actorId: ctx.actor.id, requestHash: ctx.requestHash }
      : undefined;
    const { causationOf, ...rest } = spec;
    return handleIdempotently(
      this.handler,
      {
        ...rest,
        decider: ledgerDecider,
        metadata: (event, place, now) => eventMetadata(event.type as EventType, ctx, now, causationOf?.(place)),
      },
      idem,
    );
  }

  async load(stream: string): Promise<AggregateStream> {
    return this.handler.load(stream, ledgerDecider);
  }

  /** A stream folded up to an instant (by each event's occurredAt), for `?at=` reads. */
  async loadAt(stream: string, at: Date): Promise<AggregateStream> {
    const { events } = await this.load(stream);
    const upTo = events.filter((event) => Date.parse(occurredAtOf(event)) <= at.getTime());
    return foldStream(stream, upTo, ledgerDecider);
  }

  /**
   * A stream's events as stored, for its history: not folded, so events this version cannot fold
   * (a newer version's types) are shown too. `what` names the aggregate in the 404.
   */
  async history(stream: string, what: string): Promise<RecordedEvent[]> {
    const events = await this.options.store.readStream(stream);
    if (events.length === 0) throw notFound(`${what} not found`);
    return events;
  }
}
