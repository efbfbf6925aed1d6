/**
 * A key's status is a function of its state and the instant asked about: expiry and the end of
 * a rotation's grace period are points in time on the key, never scheduled events.
 */
import { isExpiredAt, type KeyStatus } from '@keyledger/schemas';
import type { KeyState } from './state.js';

export function keyStatusAt(state: KeyState, now: Date | number): KeyStatus {
  if (state.revoked) return 'revoked';
  if (isExpiredAt(state, typeof now === 'number' ? now : now.getTime())) return 'expired';
  if (state.suspended) return 'suspended';
  return 'active';
}
