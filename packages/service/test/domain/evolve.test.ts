import { describe, expect, it } from 'vitest';
import { evolve, foldKey, KeyStreamError } from '../../src/domain/keys/index.js';
import { DIGEST, HINT, issued, KEY_ID, reinstated, revoked, rotated, scoped, SUCCESSOR_ID, suspended, throttled } from './fixtures.js';
import { foldHistory, recordedAt } from './given.js';

describe('evolve / foldKey', () => {
  it('folds an empty stream to null', () => {
    expect(foldKey([])).toBeNull();
  });

  it('KeyIssued creates the state with every setting, not suspended, not revoked, at revision 0', () => {
    expect(foldHistory([issued()])).toEqual({
      id: KEY_ID,
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
      rotatedTo: null,
      validUntil: null,
      suspended: false,
      suspendedReason: null,
      revoked: false,
      revokedAt: null,
      revokedReason: null,
      createdAt: recordedAt(0),
      updatedAt: recordedAt(0),
      revision: 0,
    });
  });

  it('every later event moves updatedAt and revision but keeps createdAt', () => {
    const state = foldHistory([issued(), suspended(), reinstated()]);
    expect(state).toMatchObject({ createdAt: recordedAt(0), updatedAt: recordedAt(2), revision: 2 });
  });

  it('KeyScoped sets the resulting lists', () => {
    const state = foldHistory([
      issued(),
      scoped({ scopes: ['a:b'], endpoints: ['* /x/**'], added: { scopes: ['a:b'], endpoints: ['* /x/**'] }, removed: { scopes: ['orders:read'], endpoints: ['GET /orders/*'] } }),
    ]);
    expect(state).toMatchObject({ scopes: ['a:b'], endpoints: ['* /x/**'] });
  });

  it('KeyThrottled replaces both limits, null removing one', () => {
    const state = foldHistory([issued(), throttled({ rateLimit: { limit: 1, windowSeconds: 2, burst: 3 }, quota: null })]);
    expect(state).toMatchObject({ rateLimit: { limit: 1, windowSeconds: 2, burst: 3 }, quota: null });
  });

  it('KeySuspended and KeyReinstated toggle the flag and the reason', () => {
    expect(foldHistory([issued(), suspended('fraud')])).toMatchObject({ suspended: true, suspendedReason: 'fraud' });
    expect(foldHistory([issued(), suspended('fraud'), reinstated('ok')])).toMatchObject({ suspended: false, suspendedReason: null });
  });

  it('KeyRotated records the successor and the end of the grace period', () => {
    const state = foldHistory([issued(), rotated({ validUntil: '2031-01-01T00:00:00.000Z' })]);
    expect(state).toMatchObject({ rotatedTo: SUCCESSOR_ID, validUntil: '2031-01-01T00:00:00.000Z' });
  });

  it('KeyRevoked records when (the recorded instant) and why', () => {
    const state = foldHistory([issued(), suspended(), revoked('leaked')]);
    expect(state).toMatchObject({ revoked: true, revokedAt: recordedAt(2), revokedReason: 'leaked', suspended: true });
  });

  it('does not modify the state it is given', () => {
    const before = foldHistory([issued()])!;
    const copy = structuredClone(before);
    evolve(before, suspended(), { occurredAt: recordedAt(1), revision: 1 });
    expect(before).toEqual(copy);
  });

  it('refuses a change before the key was issued', () => {
    expect(() => foldHistory([suspended()])).toThrow(KeyStreamError);
    expect(() => foldHistory([suspended()])).toThrow(/before the key was issued/);
  });

  it('refuses a second KeyIssued', () => {
    expect(() => foldHistory([issued(), issued()])).toThrow(/already issued/);
  });

  it('refuses an event of another key', () => {
    const other = { type: 'KeyRevoked', data: { keyId: 'key_SomeoneElse0000000', reason: null } } as const;
    expect(() => foldHistory([issued(), other])).toThrow(/applied to key/);
  });
});
