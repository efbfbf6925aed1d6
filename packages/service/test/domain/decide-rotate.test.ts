import { describe, it } from 'vitest';
import { issued, reinstated, rotateCommand, rotated, suspended, SUCCESSOR_ID } from './fixtures.js';
import { given, NOW } from './given.js';

const at = (offsetSeconds: number) => new Date(NOW.getTime() + offsetSeconds * 1000).toISOString();

describe('RotateKey', () => {
  it('given an active key, when rotated, then KeyRotated names the successor and ends the old key after the grace period', () => {
    given([issued()])
      .when(rotateCommand({ gracePeriodSeconds: 3600 }))
      .then([rotated({ gracePeriodSeconds: 3600, validUntil: at(3600) })]);
  });

  it('given an active key, when rotated with no grace period, then the old key stops now', () => {
    given([issued()])
      .when(rotateCommand({ gracePeriodSeconds: 0 }))
      .then([rotated({ gracePeriodSeconds: 0, validUntil: at(0) })]);
  });

  it('given a key expiring before the grace period ends, when rotated, then validUntil is capped at the expiry', () => {
    const expiresAt = at(600);
    given([issued({ expiresAt })])
      .when(rotateCommand({ gracePeriodSeconds: 3600 }))
      .then([rotated({ gracePeriodSeconds: 3600, validUntil: expiresAt })]);
  });

  it('given a key expiring after the grace period, when rotated, then validUntil is now + grace', () => {
    given([issued({ expiresAt: at(86_400) })])
      .when(rotateCommand({ gracePeriodSeconds: 60 }))
      .then([rotated({ gracePeriodSeconds: 60, validUntil: at(60) })]);
  });

  it('given an active key, when the grace period equals the maximum, then it is accepted', () => {
    given([issued()])
      .when(rotateCommand({ gracePeriodSeconds: 100, maxGracePeriodSeconds: 100 }))
      .then([rotated({ gracePeriodSeconds: 100, validUntil: at(100) })]);
  });

  it('given an active key, when the grace period exceeds the maximum, then INVALID_ARGUMENT names the maximum', () => {
    given([issued()])
      .when(rotateCommand({ gracePeriodSeconds: 101, maxGracePeriodSeconds: 100 }))
      .thenThrows('INVALID_ARGUMENT', /exceeds the maximum of 100 seconds/);
  });

  it('given an active key, when the grace period is negative or fractional, then INVALID_ARGUMENT', () => {
    given([issued()]).when(rotateCommand({ gracePeriodSeconds: -1 })).thenThrows('INVALID_ARGUMENT', /gracePeriodSeconds/);
    given([issued()]).when(rotateCommand({ gracePeriodSeconds: 1.5 })).thenThrows('INVALID_ARGUMENT', /gracePeriodSeconds/);
  });

  it('given an active key, when rotated to itself, then INVALID_ARGUMENT', () => {
    given([issued()])
      .when(rotateCommand({ successorId: issued().data.keyId }))
      .thenThrows('INVALID_ARGUMENT', /its own successor/);
  });

  it('given a rotated key, when rotated again, then INVALID_TRANSITION names the successor', () => {
    given([issued(), rotated()])
      .when(rotateCommand({ successorId: 'key_AnotherSuccessor000' }))
      .thenThrows('INVALID_TRANSITION', new RegExp(`already rotated to ${SUCCESSOR_ID}`));
  });

  it('given a rotated key whose grace period is over, when rotated again, then INVALID_TRANSITION (already rotated)', () => {
    given([issued(), rotated({ validUntil: at(-60) })])
      .when(rotateCommand())
      .thenThrows('INVALID_TRANSITION', /already rotated/);
  });

  it('given an expired key, when rotated, then INVALID_TRANSITION says it expired', () => {
    given([issued({ expiresAt: at(-1) })])
      .when(rotateCommand())
      .thenThrows('INVALID_TRANSITION', new RegExp(`expired at ${at(-1).replace(/\./g, '\\.')}`));
  });

  it('given a key expiring exactly now, when rotated, then INVALID_TRANSITION (expiry is inclusive)', () => {
    given([issued({ expiresAt: at(0) })]).when(rotateCommand()).thenThrows('INVALID_TRANSITION', /expired/);
  });

  it('given a suspended key, when rotated, then INVALID_TRANSITION says to reinstate first', () => {
    given([issued(), suspended()]).when(rotateCommand()).thenThrows('INVALID_TRANSITION', /suspended; reinstate it/);
  });

  it('given a suspended and reinstated key, when rotated, then KeyRotated', () => {
    given([issued(), suspended(), reinstated()])
      .when(rotateCommand({ gracePeriodSeconds: 5 }))
      .then([rotated({ gracePeriodSeconds: 5, validUntil: at(5) })]);
  });
});
