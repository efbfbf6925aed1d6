/**
 * Folds key events into state. Pure: the same events always give the same state. `occurredAt`
 * and `revision` come from the recorded event (its metadata and stream position), not from the
 * event data, so the data holds only what the command decided.
 */
import type { KeyEvent } from '@keyledger/schemas';
import type { KeyState } from './state.js';

export interface RecordedAt {
  occurredAt: string;
  revision: number;
}

/** The stream breaks an invariant decide guarantees (e.g. a change before the key's issue). */
export class KeyStreamError extends Error {
  override name = 'KeyStreamError';
}

export function evolve(state: KeyState | null, event: KeyEvent, recorded: RecordedAt): KeyState {
  if (event.type === 'KeyIssued') {
    if (state !== null) {
      throw new KeyStreamError(`KeyIssued for ${event.data.keyId} at revision ${recorded.revision}, but the key was already issued`);
    }
    // Every field by name (the schema is strict, so these are all there are), not a spread of
    // the data plus eleven more: that builds each state in V8's slow dictionary mode, about 15 µs
    // a key in a rebuild (measured, bench/README.md), where a literal takes well under one.
    const d = event.data;
    return {
      kind: d.kind,
      consumerId: d.consumerId,
      planId: d.planId,
      name: d.name,
      environment: d.environment,
      digest: d.digest,
      hint: d.hint,
      scopes: d.scopes,
      endpoints: d.endpoints,
      permissions: d.permissions,
      expiresAt: d.expiresAt,
      meta: d.meta,
      rateLimit: d.rateLimit,
      quota: d.quota,
      rotatedFrom: d.rotatedFrom,
      networks: d.networks,
      id: d.keyId,
      rotatedTo: null,
      validUntil: null,
      suspended: false,
      suspendedReason: null,
      revoked: false,
      revokedAt: null,
      revokedReason: null,
      createdAt: recorded.occurredAt,
      updatedAt: recorded.occurredAt,
      revision: recorded.revision,
    };
  }
  if (state === null) {
    throw new KeyStreamError(`${event.type} for ${event.data.keyId} at revision ${recorded.revision}, before the key was issued`);
  }
  if (event.data.keyId !== state.id) {
    throw new KeyStreamError(`${event.type} for ${event.data.keyId} applied to key ${state.id}`);
  }
  const next: KeyState = { ...state, updatedAt: recorded.occurredAt, revision: recorded.revision };
  switch (event.type) {
    case 'KeyScoped':
      return { ...next, scopes: event.data.scopes, endpoints: event.data.endpoints };
    case 'KeyThrottled':
      return { ...next, rateLimit: event.data.rateLimit, quota: event.data.quota };
    case 'KeySuspended':
      return { ...next, suspended: true, suspendedReason: event.data.reason };
    case 'KeyReinstated':
      return { ...next, suspended: false, suspendedReason: null };
    case 'KeyRotated':
      return { ...next, rotatedTo: event.data.successorId, validUntil: event.data.validUntil };
    case 'KeyRevoked':
      return { ...next, revoked: true, revokedAt: recorded.occurredAt, revokedReason: event.data.reason };
    case 'KeyCreditsAdded':
      // The balance lives in the limiter (credit-ledger.ts hands top-ups to it); the key only moves on.
      return next;
    default:
      return unknownEvent(event);
  }
}

function unknownEvent(event: never): never {
  throw new KeyStreamError(`unknown key event type '${(event as { type: string }).type}'`);
}

/** The state after all events of one key stream, in order; null for an empty stream. */
export function foldKey(events: readonly ({ event: KeyEvent } & RecordedAt)[]): KeyState | null {
  let state: KeyState | null = null;
  for (const { event, ...recorded } of events) state = evolve(state, event, recorded);
  return state;
}
