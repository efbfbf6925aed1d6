/**
 * The consumer commands (register, record a vetting check, approve, reject, suspend, reinstate,
 * close), each one stream, decided by domain/consumers and run by the shared CommandRunner.
 * Closing revokes the consumer's keys afterwards, through the process manager
 * (app/consumer-closure.ts), not here: one command writes one consumer event.
 */
import type { Consumer, RegisterConsumerRequest } from '@keyledger/schemas';
import { type ConsumerCommand, type ConsumerState, decideConsumer, toConsumerView } from '../domain/consumers/index.js';
import { randomBase62 } from '../domain/key-material.js';
import type { RecordedEvent } from '../store/port.js';
import type { CommandContext } from './command-context.js';
import type { CommandOutcome } from './command-handler.js';
import type { CommandRunner } from './command-runner.js';
import { notFound } from './errors.js';
import { aggregateId } from './ids.js';
import { type AggregateStream, existingState, stateOf, streamOf } from './ledger-decider.js';

export interface AggregateResult<View> {
  view: View;
  replayed: boolean;
  /** The checkpoint this instance has applied, at least the command's own events. */
  appliedCheckpoint: string | null;
}

export interface ConsumerCommandsOptions {
  /** Checks that must have passed before a consumer can be approved (KEYLEDGER_CONSUMER_REQUIRED_CHECKS). */
  requiredChecks: readonly string[];
}

export const consumerResource = (id: string) => `/v1/consumers/${id}`;

export class ConsumerCommands {
  constructor(
    private readonly runner: CommandRunner,
    private readonly options: ConsumerCommandsOptions,
  ) {}

  register(request: RegisterConsumerRequest, ctx: CommandContext): Promise<AggregateResult<Consumer>> {
    const id =
      request.id ??
      aggregateId('con', () => randomBase62(16), ...(ctx.idempotencyKey ? ['register', ctx.actor.id, ctx.idempotencyKey] : []));
    return this.#decide(id, ctx, () => ({
      type: 'RegisterConsumer',
      consumerId: id,
      name: request.name,
      email: request.email,
      organisation: request.organisation ?? null,
      intendedUse: request.intendedUse ?? null,
      externalId: request.externalId ?? null,
      allowedNetworks: request.allowedNetworks,
    }), { creates: true });
  }

  recordCheck(id: string, check: { check: string; passed: boolean; performedBy?: string | undefined; evidence: Record<string, unknown> }, ctx: CommandContext) {
    return this.#decide(id, ctx, () => ({
      type: 'RecordCheck',
      check: check.check,
      passed: check.passed,
      performedBy: check.performedBy ?? ctx.actor.id,
      evidence: check.evidence as never,
    }));
  }

  approve(id: string, reason: string | null, ctx: CommandContext) {
    return this.#decide(id, ctx, () => ({ type: 'ApproveConsumer', reviewer: ctx.actor.id, reason, requiredChecks: this.options.requiredChecks }));
  }

  reject(id: string, reason: string | null, ctx: CommandContext) {
    return this.#decide(id, ctx, () => ({ type: 'RejectConsumer', reviewer: ctx.actor.id, reason }));
  }

  suspend(id: string, reason: string | null, ctx: CommandContext) {
    return this.#decide(id, ctx, () => ({ type: 'SuspendConsumer', reason }));
  }

  reinstate(id: string, reason: string | null, ctx: CommandContext) {
    return this.#decide(id, ctx, () => ({ type: 'ReinstateConsumer', reason }));
  }

  close(id: string, reason: string | null, ctx: CommandContext) {
    return this.#decide(id, ctx, () => ({ type: 'CloseConsumer', reason }));
  }

  /** The consumer as of an instant, folded from the ledger. */
  async stateAt(id: string, at: Date): Promise<Consumer> {
    const state = stateOf<ConsumerState>(await this.runner.loadAt(streamOf.consumer(id), at));
    if (!state) throw notFound(`consumer ${id} did not exist at ${at.toISOString()}`);
    return toConsumerView(state);
  }

  history(id: string): Promise<RecordedEvent[]> {
    return this.runner.history(streamOf.consumer(id), `consumer ${id}`);
  }

  #decide(
    id: string,
    ctx: CommandContext,
    command: () => ConsumerCommand,
    options: { creates?: boolean } = {},
  ): Promise<AggregateResult<Consumer>> {
    const stream = streamOf.consumer(id);
    return this.runner.run(ctx, {
      streams: [stream],
      resource: consumerResource(id),
      ...(options.creates ? {} : { expectedRevision: ctx.expectedRevision }),
      decide: ([target]) => {
        const state = stateOf<ConsumerState>(target);
        if (!options.creates && state === null) throw notFound(`consumer ${id} not found`);
        return [{ stream, events: decideConsumer(command(), state) }];
      },
      result: ([target], outcome) => this.#result(target, outcome, id),
    });
  }

  #result(stream: AggregateStream | undefined, outcome: CommandOutcome, id: string): AggregateResult<Consumer> {
    return {
      view: toConsumerView(existingState<ConsumerState>(stream, `consumer ${id}`)),
      replayed: outcome.replayed,
      appliedCheckpoint: this.runner.appliedCheckpoint,
    };
  }
}
