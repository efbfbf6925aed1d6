/** The plan commands (define, revise, retire), one stream each, decided by domain/plans. */
import type { DefinePlanRequest, Plan } from '@keyledger/schemas';
import { randomBase62 } from '../domain/key-material.js';
import { decidePlan, type PlanCommand, type PlanState, type ProposedTerms, toPlanView, versionAt } from '../domain/plans/index.js';
import type { RecordedEvent } from '../store/port.js';
import type { CommandContext } from './command-context.js';
import type { CommandRunner } from './command-runner.js';
import type { AggregateResult } from './consumer-commands.js';
import { notFound } from './errors.js';
import { aggregateId } from './ids.js';
import { existingState, stateOf, streamOf } from './ledger-decider.js';

export const planResource = (id: string) => `/v1/plans/${id}`;

/** The terms of a definition or revision as the API sends them (absent optional parts are none). */
export function proposedTerms(request: Omit<DefinePlanRequest, 'id'>): ProposedTerms {
  return {
    name: request.name,
    rateLimits: request.rateLimits,
    quota: request.quota ?? null,
    credits: request.credits ?? null,
    scopes: request.scopes,
    endpoints: request.endpoints,
    networks: request.networks,
    approvalRequired: request.approvalRequired,
    price: request.price ?? null,
    leakAction: request.leakAction ?? null,
  };
}

export class PlanCommands {
  constructor(private readonly runner: CommandRunner) {}

  define(request: DefinePlanRequest, ctx: CommandContext): Promise<AggregateResult<Plan>> {
    const id =
      request.id ?? aggregateId('plan', () => randomBase62(16), ...(ctx.idempotencyKey ? ['define', ctx.actor.id, ctx.idempotencyKey] : []));
    return this.#decide(id, ctx, { type: 'DefinePlan', planId: id, terms: proposedTerms(request) }, true);
  }

  revise(id: string, request: Omit<DefinePlanRequest, 'id'>, ctx: CommandContext) {
    return this.#decide(id, ctx, { type: 'RevisePlan', terms: proposedTerms(request) });
  }

  retire(id: string, reason: string | null, ctx: CommandContext) {
    return this.#decide(id, ctx, { type: 'RetirePlan', reason });
  }

  /** The plan as of an instant: the version in force then. */
  async stateAt(id: string, at: Date): Promise<Plan> {
    const state = stateOf<PlanState>(await this.runner.loadAt(streamOf.plan(id), at));
    if (!state) throw notFound(`plan ${id} did not exist at ${at.toISOString()}`);
    return toPlanView(state, versionAt(state, at.getTime()));
  }

  history(id: string): Promise<RecordedEvent[]> {
    return this.runner.history(streamOf.plan(id), `plan ${id}`);
  }

  #decide(id: string, ctx: CommandContext, command: PlanCommand, creates = false): Promise<AggregateResult<Plan>> {
    const stream = streamOf.plan(id);
    return this.runner.run(ctx, {
      streams: [stream],
      resource: planResource(id),
      ...(creates ? {} : { expectedRevision: ctx.expectedRevision }),
      decide: ([target]) => {
        const state = stateOf<PlanState>(target);
        if (!creates && state === null) throw notFound(`plan ${id} not found`);
        return [{ stream, events: decidePlan(command, state) }];
      },
      result: ([target], outcome) => ({
        view: toPlanView(existingState<PlanState>(target, `plan ${id}`)),
        replayed: outcome.replayed,
        appliedCheckpoint: this.runner.appliedCheckpoint,
      }),
    });
  }
}
