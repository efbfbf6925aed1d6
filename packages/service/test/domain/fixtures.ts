/** Example events and commands for the key domain tests; each builder takes overrides. */
import type { EventData, KeyEvent } from '@keyledger/schemas';
import type { Authority, IssueKey, RotateKey } from '../../src/domain/keys/index.js';

/** The callers of the scenarios: a plain writer (the default) and an admin. */
export const WRITER: Authority = { kind: 'key', permissions: ['keys:write'] };
export const ADMIN: Authority = { kind: 'key', permissions: ['admin'] };

export const KEY_ID = 'key_0123456789abcdefABCD';
export const SUCCESSOR_ID = 'key_SuccessorSuccessor1';
export const DIGEST = 'ab'.repeat(32);
export const HINT = 'kl_live_…Wx9z';

export function issueCommand(overrides: Partial<IssueKey> = {}): IssueKey {
  return {
    type: 'IssueKey',
    authority: WRITER,
    keyId: KEY_ID,
    kind: 'consumer',
    consumerId: 'acme',
    planId: 'gold',
    name: 'checkout backend',
    environment: 'live',
    digest: DIGEST,
    hint: HINT,
    scopes: ['orders:read'],
    endpoints: ['GET /orders/*'],
    permissions: [],
    expiresAt: null,
    meta: { team: 'payments' },
    rateLimit: { limit: 100, windowSeconds: 60 },
    quota: { limit: 10_000, period: 'day' },
    rotatedFrom: null,
    networks: [],
    ...overrides,
  };
}

export function issued(overrides: Partial<EventData<'KeyIssued'>> = {}): KeyEvent {
  const { type: _type, authority: _authority, ...data } = issueCommand(overrides);
  return { type: 'KeyIssued', data };
}

export function scoped(data: Omit<EventData<'KeyScoped'>, 'keyId'>): KeyEvent {
  return { type: 'KeyScoped', data: { keyId: KEY_ID, ...data } };
}

export function throttled(data: Omit<EventData<'KeyThrottled'>, 'keyId'>): KeyEvent {
  return { type: 'KeyThrottled', data: { keyId: KEY_ID, ...data } };
}

export function suspended(reason: string | null = 'suspicious traffic'): KeyEvent {
  return { type: 'KeySuspended', data: { keyId: KEY_ID, reason } };
}

export function reinstated(reason: string | null = 'all clear'): KeyEvent {
  return { type: 'KeyReinstated', data: { keyId: KEY_ID, reason } };
}

export function rotated(overrides: Partial<EventData<'KeyRotated'>> = {}): KeyEvent {
  return {
    type: 'KeyRotated',
    data: {
      keyId: KEY_ID,
      successorId: SUCCESSOR_ID,
      successorHint: 'kl_live_…Nw3q',
      gracePeriodSeconds: 3600,
      validUntil: '2030-06-01T13:00:00.000Z',
      ...overrides,
    },
  };
}

export function revoked(reason: string | null = 'leaked in a public repo'): KeyEvent {
  return { type: 'KeyRevoked', data: { keyId: KEY_ID, reason } };
}

export function rotateCommand(overrides: Partial<RotateKey> = {}): RotateKey {
  return {
    type: 'RotateKey',
    authority: WRITER,
    successorId: SUCCESSOR_ID,
    successorHint: 'kl_live_…Nw3q',
    gracePeriodSeconds: 3600,
    maxGracePeriodSeconds: 7 * 86_400,
    ...overrides,
  };
}

/** A management key as the root bootstrap issues it (admin permission, nothing a gateway checks). */
export function issuedManagement(overrides: Partial<EventData<'KeyIssued'>> = {}): KeyEvent {
  return issued({
    kind: 'management',
    permissions: ['admin'],
    planId: null,
    scopes: [],
    endpoints: [],
    rateLimit: null,
    quota: null,
    ...overrides,
  });
}
