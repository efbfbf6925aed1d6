/** The API view of a key: its state minus the digest, with the status as of `now`. */
import type { Key } from '@keyledger/schemas';
import type { KeyState } from './state.js';
import { keyStatusAt } from './status.js';

export function toKeyView(state: KeyState, now: Date): Key {
  // Listed field by field so that a field added to the state is never exposed by accident.
  return {
    id: state.id,
    kind: state.kind,
    consumerId: state.consumerId,
    planId: state.planId,
    name: state.name,
    environment: state.environment,
    hint: state.hint,
    status: keyStatusAt(state, now),
    scopes: state.scopes,
    endpoints: state.endpoints,
    permissions: state.permissions,
    meta: state.meta,
    expiresAt: state.expiresAt,
    rateLimit: state.rateLimit,
    quota: state.quota,
    rotatedFrom: state.rotatedFrom,
    networks: state.networks,
    rotatedTo: state.rotatedTo,
    validUntil: state.validUntil,
    suspendedReason: state.suspendedReason,
    revokedAt: state.revokedAt,
    revokedReason: state.revokedReason,
    createdAt: state.createdAt,
    updatedAt: state.updatedAt,
    revision: state.revision,
  };
}
