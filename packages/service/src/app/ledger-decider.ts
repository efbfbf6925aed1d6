/**
 * One decider read side for every aggregate kind, chosen by the stream's category: a command
 * that reads a key, its consumer and its plan folds all three with it (the command handler folds
 * every stream a command loads with one decider). Events this version cannot apply stop the
 * command (503) instead of being skipped: a decision must not be made on half a stream.
 */
import type { ConsumerEvent, KeyRequestEvent, PlanEvent } from '@keyledger/schemas';
import { type ConsumerState, evolveConsumer } from '../domain/consumers/index.js';
import { evolveKeyRequest, type KeyRequestState } from '../domain/key-requests/decide.js';
import { evolve as evolveKey, type KeyState, toKeyEvent } from '../domain/keys/index.js';
import { evolvePlan, type PlanState } from '../domain/plans/index.js';
import { classifyEvent } from '../projections/event-kinds.js';
import type { Decider, LoadedStream } from './command-handler.js';
import { notFound, writtenByNewerVersion } from './errors.js';

export type AggregateState = KeyState | ConsumerState | PlanState | KeyRequestState;
export type AggregateStream = LoadedStream<AggregateState | null>;

export const streamOf = {
  key: (id: string) => `key-${id}`,
  consumer: (id: string) => `consumer-${id}`,
  plan: (id: string) => `plan-${id}`,
  keyRequest: (id: string) => `keyrequest-${id}`,
} as const;

export const ledgerDecider: Decider<AggregateState | null> = {
  initialState: () => null,
  evolve: (state, recorded) => {
    const classified = classifyEvent(recorded);
    if (classified.kind === 'skip') throw writtenByNewerVersion(recorded.stream, recorded.type, classified.reason);
    const { event: domainEvent, ...at } = toKeyEvent(classified.event);
    switch (recorded.category) {
      case 'key':
        return evolveKey(state as KeyState | null, domainEvent, at);
      case 'consumer':
        return evolveConsumer(state as ConsumerState | null, domainEvent as unknown as ConsumerEvent, at);
      case 'plan':
        return evolvePlan(state as PlanState | null, domainEvent as unknown as PlanEvent, at);
      case 'keyrequest':
        return evolveKeyRequest(state as KeyRequestState | null, domainEvent as unknown as KeyRequestEvent, at);
      default:
        throw new Error(`no aggregate folds streams of category '${recorded.category}' (${recorded.stream})`);
    }
  },
};

/** The state of a loaded stream of a known kind; null when the stream does not exist. */
export const stateOf = <S extends AggregateState>(stream: AggregateStream | undefined): S | null => (stream?.state ?? null) as S | null;

/** The state, or a 404 naming what was not found. */
export function existingState<S extends AggregateState>(stream: AggregateStream | undefined, what: string): S {
  const state = stateOf<S>(stream);
  if (state === null) throw notFound(`${what} not found`);
  return state;
}

