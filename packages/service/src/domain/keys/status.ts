/**
 * A key's status is a function of its state and the instant asked about: expiry and the end of
 * a rotation's grace period are points in time on the key, never scheduled events.
 */
import type { KeyStatus } from '@keyledger/schemas';
import type { KeyState } from './state.js';

export function keyStatusAt(state: KeyState, now: Date | number): KeyStatus {
  if (state.revoked) return 'revoked';
  const t = typeof now === 'number' ? now : now.getTime();
  if (state.expiresAt !== null && Date.parse(state.expiresAt) <= t) return 'expired';
  if (state.validUntil !== null && Date.parse(state.validUntil) <= t) return 'expired';
  if (state.suspended) return 'suspended';
  return 'active';
}
