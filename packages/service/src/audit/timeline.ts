/**
 * A key's, consumer's or plan's timeline, folded from its stream: for every event who did it
 * (actor), when (occurredAt), from which address (sourceAddress), the event type and what it
 * changed as a change of state (before -> after, domain/state-change.ts); and the state at any
 * instant. Pure: the CLI hands it the stream it read (from the store, or over HTTP).
 */
import { upcastEvent, type Actor } from '@keyledger/schemas';
import type { ConsumerEvent, KeyEvent, PlanEvent } from '@keyledger/schemas';
import { evolveConsumer } from '../domain/consumers/index.js';
import { evolve as evolveKey } from '../domain/keys/evolve.js';
import { describeRecordedChange } from '../domain/keys/history.js';
import { evolvePlan } from '../domain/plans/index.js';
import { diffStates, type FieldChange } from '../domain/state-change.js';
import { occurredAtOf } from '../store/port.js';

export type AggregateKind = 'key' | 'consumer' | 'plan';

export const STREAM_PREFIX: Record<AggregateKind, string> = { key: 'key-', consumer: 'consumer-', plan: 'plan-' };

/** What a timeline needs of a stored event (a RecordedEvent, or one read over HTTP). */
export interface StreamEvent {
  revision: number;
  type: string;
  data: unknown;
  metadata: unknown;
  recordedAt: Date;
}

export interface TimelineEntry {
  revision: number;
  type: string;
  occurredAt: string;
  actor: Actor | null;
  sourceAddress: string | null;
  requestId: string | null;
  /** The state change this event made. */
  changes: FieldChange[];
  /** What the event itself carried (describeRecordedChange), for types the fold does not know. */
  carried: Record<string, unknown>;
}

interface Meta {
  schemaVersion?: number;
  occurredAt?: string;
  actor?: Actor;
  sourceAddress?: string | null;
  requestId?: string | null;
}

type State = object;
type Fold = (state: State | null, event: { type: string; data: unknown }, recorded: { occurredAt: string; revision: number }) => State;

const FOLDS: Record<AggregateKind, Fold> = {
  key: (state, event, recorded) => evolveKey(state as never, event as KeyEvent, recorded),
  consumer: (state, event, recorded) => evolveConsumer(state as never, event as ConsumerEvent, recorded),
  plan: (state, event, recorded) => evolvePlan(state as never, event as PlanEvent, recorded),
};

function metaOf(event: StreamEvent): Meta {
  return (event.metadata ?? {}) as Meta;
}

/**
 * Folds one event; an event the fold cannot apply (a newer version's type, a malformed one)
 * leaves the state as it was, so one odd event never hides the rest of the history.
 */
function step(kind: AggregateKind, state: State | null, event: StreamEvent): State | null {
  const meta = metaOf(event);
  try {
    return FOLDS[kind](state, { type: event.type, data: upcastEvent(event.type, meta.schemaVersion ?? 1, event.data) }, { occurredAt: occurredAtOf(event), revision: event.revision });
  } catch {
    return state;
  }
}

export function buildTimeline(kind: AggregateKind, events: readonly StreamEvent[]): TimelineEntry[] {
  let state: State | null = null;
  return events.map((event) => {
    const next = step(kind, state, event);
    const meta = metaOf(event);
    const entry: TimelineEntry = {
      revision: event.revision,
      type: event.type,
      occurredAt: occurredAtOf(event),
      actor: meta.actor ?? null,
      sourceAddress: meta.sourceAddress ?? null,
      requestId: meta.requestId ?? null,
      changes: diffStates(state, next),
      carried: describeRecordedChange(event.type, meta.schemaVersion ?? 1, event.data) as Record<string, unknown>,
    };
    state = next;
    return entry;
  });
}

/** The state after every event that occurred at or before `at`; null when none had. */
export function stateAt(kind: AggregateKind, events: readonly StreamEvent[], at: Date): { state: State | null; revision: number | null } {
  let state: State | null = null;
  let revision: number | null = null;
  const limit = at.getTime();
  for (const event of events) {
    if (Date.parse(occurredAtOf(event)) > limit) break;
    state = step(kind, state, event);
    revision = event.revision;
  }
  return { state: state === null ? null : hideSecrets(state), revision };
}

/** The digest identifies the key's secret: never printed. */
function hideSecrets(state: State): State {
  const { digest: _digest, ...rest } = state as Record<string, unknown>;
  return rest;
}

/** Which aggregate an id names: key ids have their own shape, others are tried as consumer, then plan. */
export function candidateKinds(id: string, kind?: AggregateKind): AggregateKind[] {
  if (kind) return [kind];
  return /^key_[0-9A-Za-z]{16,32}$/.test(id) ? ['key'] : ['consumer', 'plan'];
}
