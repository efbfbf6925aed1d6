/** Folds consumer events into state. Pure: the same events always give the same state. */
import type { ConsumerEvent } from '@keyledger/schemas';
import type { RecordedAt } from '../keys/evolve.js';
import type { ConsumerState } from './state.js';

export class ConsumerStreamError extends Error {
  override name = 'ConsumerStreamError';
}

export function evolveConsumer(state: ConsumerState | null, event: ConsumerEvent, recorded: RecordedAt): ConsumerState {
  if (event.type === 'ConsumerRegistered') {
    if (state !== null) throw new ConsumerStreamError(`ConsumerRegistered for ${event.data.consumerId} twice`);
    const { consumerId, ...profile } = event.data;
    return {
      ...profile,
      id: consumerId,
      status: 'pending',
      checks: [],
      decidedBy: null,
      decisionReason: null,
      suspendedReason: null,
      closedReason: null,
      createdAt: recorded.occurredAt,
      updatedAt: recorded.occurredAt,
      revision: recorded.revision,
    };
  }
  if (state === null) throw new ConsumerStreamError(`${event.type} for ${event.data.consumerId} before it was registered`);
  const next: ConsumerState = { ...state, updatedAt: recorded.occurredAt, revision: recorded.revision };
  switch (event.type) {
    case 'ConsumerCheckRecorded': {
      const { consumerId: _id, ...check } = event.data;
      return { ...next, checks: [...state.checks, { ...check, recordedAt: recorded.occurredAt }] };
    }
    case 'ConsumerApproved':
      return { ...next, status: 'approved', decidedBy: event.data.reviewer, decisionReason: event.data.reason };
    case 'ConsumerRejected':
      return { ...next, status: 'rejected', decidedBy: event.data.reviewer, decisionReason: event.data.reason };
    case 'ConsumerSuspended':
      return { ...next, status: 'suspended', suspendedReason: event.data.reason };
    case 'ConsumerReinstated':
      return { ...next, status: 'approved', suspendedReason: null };
    case 'ConsumerClosed':
      return { ...next, status: 'closed', closedReason: event.data.reason };
    default:
      // A newer version's event: the fold keeps what it knows (projections skip and count these).
      return state;
  }
}

export function foldConsumer(events: readonly ({ event: ConsumerEvent } & RecordedAt)[]): ConsumerState | null {
  let state: ConsumerState | null = null;
  for (const { event, ...recorded } of events) state = evolveConsumer(state, event, recorded);
  return state;
}

/** The latest result of each check, by name. */
export function latestChecks(state: ConsumerState): Map<string, ConsumerState['checks'][number]> {
  const latest = new Map<string, ConsumerState['checks'][number]>();
  for (const check of state.checks) latest.set(check.check, check);
  return latest;
}
