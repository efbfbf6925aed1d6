/** The consumer, plan and key request read models, each an AggregateReadModel with its own fold. */
import type { ConsumerEvent, KeyRequestEvent, PlanEvent } from '@keyledger/schemas';
import { type ConsumerState, evolveConsumer } from '../domain/consumers/index.js';
import { evolveKeyRequest, type KeyRequestState } from '../domain/key-requests/decide.js';
import { evolvePlan, type PlanState } from '../domain/plans/index.js';
import type { RecordedEvent } from '../store/port.js';
import { AggregateReadModel } from './aggregate-projection.js';

const asEvent = <E>(recorded: RecordedEvent) => ({ type: recorded.type, data: recorded.data }) as E;

export type ConsumerReadModel = AggregateReadModel<ConsumerState, ConsumerEvent>;
export type PlanReadModel = AggregateReadModel<PlanState, PlanEvent>;
export type KeyRequestReadModel = AggregateReadModel<KeyRequestState, KeyRequestEvent>;

export function createConsumerReadModel(): ConsumerReadModel {
  return new AggregateReadModel<ConsumerState, ConsumerEvent>({
    name: 'consumers',
    category: 'consumer',
    toEvent: asEvent,
    evolve: evolveConsumer,
    idOf: (state) => state.id,
    statusOf: (state) => state.status,
    createdAtOf: (state) => state.createdAt,
  });
}

export function createPlanReadModel(): PlanReadModel {
  return new AggregateReadModel<PlanState, PlanEvent>({
    name: 'plans',
    category: 'plan',
    toEvent: asEvent,
    evolve: evolvePlan,
    idOf: (state) => state.id,
    statusOf: (state) => (state.retired ? 'retired' : 'active'),
    createdAtOf: (state) => state.createdAt,
  });
}

export function createKeyRequestReadModel(): KeyRequestReadModel {
  return new AggregateReadModel<KeyRequestState, KeyRequestEvent>({
    name: 'key-requests',
    category: 'keyrequest',
    toEvent: asEvent,
    evolve: evolveKeyRequest,
    idOf: (state) => state.id,
    statusOf: (state) => state.status,
    createdAtOf: (state) => state.createdAt,
  });
}
