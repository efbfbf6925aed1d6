/** The consumer, plan and key request read models, each an AggregateReadModel with its own fold. */
import type { ConsumerEvent, KeyRequestEvent, PlanEvent } from '@keyledger/schemas';
import { type ConsumerState, evolveConsumer } from '../domain/consumers/index.js';
import { evolveKeyRequest, type KeyRequestState } from '../domain/key-requests/decide.js';
import { evolvePlan, type PlanState } from '../domain/plans/index.js';
import type { RecordedEvent } from '../store/port.js';
import { AggregateReadModel, type AggregateReadModelOptions } from './aggregate-projection.js';

const asEvent = <E>(recorded: RecordedEvent) => ({ type: recorded.type, data: recorded.data }) as E;

export type ConsumerReadModel = AggregateReadModel<ConsumerState, ConsumerEvent>;
export type PlanReadModel = AggregateReadModel<PlanState, PlanEvent>;
export type KeyRequestReadModel = AggregateReadModel<KeyRequestState, KeyRequestEvent>;

/** Every aggregate state here has an id and a creation time; only the fold and the status differ. */
function readModel<State extends { id: string; createdAt: string }, Event>(
  name: string,
  category: string,
  evolve: AggregateReadModelOptions<State, Event>['evolve'],
  statusOf: (state: State) => string,
) {
  return new AggregateReadModel<State, Event>({ name, category, toEvent: asEvent, evolve, statusOf, idOf: (s) => s.id, createdAtOf: (s) => s.createdAt });
}

export const createConsumerReadModel = (): ConsumerReadModel =>
  readModel<ConsumerState, ConsumerEvent>('consumers', 'consumer', evolveConsumer, (state) => state.status);

export const createPlanReadModel = (): PlanReadModel =>
  readModel<PlanState, PlanEvent>('plans', 'plan', evolvePlan, (state) => (state.retired ? 'retired' : 'active'));

export const createKeyRequestReadModel = (): KeyRequestReadModel =>
  readModel<KeyRequestState, KeyRequestEvent>('key-requests', 'keyrequest', evolveKeyRequest, (state) => state.status);
