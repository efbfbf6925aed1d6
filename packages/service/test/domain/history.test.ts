import { eventSchemas, type KeyEvent } from '@keyledger/schemas';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { describeChange, describeRecordedChange } from '../../src/domain/keys/index.js';
import { DIGEST, issued, reinstated, revoked, rotated, scoped, SUCCESSOR_ID, suspended, throttled } from './fixtures.js';

describe('describeChange', () => {
  it('KeyIssued: the initial settings, without the digest or the key id', () => {
    const changes = describeChange(issued({ expiresAt: '2031-01-01T00:00:00.000Z' }));
    expect(changes).toEqual({
      kind: 'consumer',
      consumerId: 'acme',
      planId: 'gold',
      name: 'checkout backend',
      environment: 'live',
      hint: 'kl_live_…Wx9z',
      scopes: ['orders:read'],
      endpoints: ['GET /orders/*'],
      permissions: [],
      expiresAt: '2031-01-01T00:00:00.000Z',
      meta: { team: 'payments' },
      rateLimit: { limit: 100, windowSeconds: 60 },
      quota: { limit: 10_000, period: 'day' },
      rotatedFrom: null,
      networks: [],
    });
    expect(JSON.stringify(changes)).not.toContain(DIGEST);
  });

  it('KeyScoped: what was added and removed', () => {
    const added = { scopes: ['a:b'], endpoints: [] };
    const removed = { scopes: ['orders:read'], endpoints: ['GET /orders/*'] };
    expect(describeChange(scoped({ scopes: ['a:b'], endpoints: [], added, removed }))).toEqual({ added, removed });
  });

  it('KeyThrottled: the new limits, a removed one as null', () => {
    expect(describeChange(throttled({ rateLimit: { limit: 1, windowSeconds: 2 }, quota: null }))).toEqual({
      rateLimit: { limit: 1, windowSeconds: 2 },
      quota: null,
    });
  });

  it('KeySuspended / KeyReinstated / KeyRevoked: the new flag and the reason', () => {
    expect(describeChange(suspended('fraud'))).toEqual({ suspended: true, reason: 'fraud' });
    expect(describeChange(reinstated(null))).toEqual({ suspended: false, reason: null });
    expect(describeChange(revoked('leaked'))).toEqual({ revoked: true, reason: 'leaked' });
  });

  it('KeyRotated: the successor, its hint, the grace period and when the old key stops', () => {
    expect(describeChange(rotated({ gracePeriodSeconds: 60, validUntil: '2030-06-01T12:01:00.000Z' }))).toEqual({
      rotatedTo: SUCCESSOR_ID,
      successorHint: 'kl_live_…Nw3q',
      gracePeriodSeconds: 60,
      validUntil: '2030-06-01T12:01:00.000Z',
    });
  });

  it('every description is JSON that survives a round trip unchanged', () => {
    const events: KeyEvent[] = [issued(), scoped({ scopes: [], endpoints: [], added: { scopes: [], endpoints: [] }, removed: { scopes: ['orders:read'], endpoints: [] } }), throttled({ rateLimit: null, quota: null }), suspended(), reinstated(), rotated(), revoked()];
    for (const event of events) {
      expect(eventSchemas[event.type].safeParse(event.data).success, event.type).toBe(true);
      const changes = describeChange(event);
      expect(z.record(z.string(), z.json()).parse(changes)).toEqual(changes);
      expect(JSON.parse(JSON.stringify(changes))).toEqual(changes);
    }
  });
});

describe('describeRecordedChange', () => {
  it('given a known event at the current version, then it is described field by field, as describeChange does', () => {
    const event = suspended('fraud');
    expect(describeRecordedChange(event.type, 1, event.data)).toEqual(describeChange(event));
  });

  it('given a type this version does not know, then its data is shown as stored, minus any digest', () => {
    expect(describeRecordedChange('KeyFrozen', 1, { keyId: 'key_x', until: '2031-01-01T00:00:00Z', digest: DIGEST })).toEqual({ keyId: 'key_x', until: '2031-01-01T00:00:00Z' });
  });

  it('given a known type at a newer schema version, then it is shown as stored instead of being misread', () => {
    expect(describeRecordedChange('KeyRevoked', 2, { keyId: 'key_x', reason: 'r', cause: { kind: 'leak' } })).toEqual({ keyId: 'key_x', reason: 'r', cause: { kind: 'leak' } });
  });

  it('given data that is not an object, then it is wrapped rather than thrown on', () => {
    expect(describeRecordedChange('KeyFrozen', 1, 'text')).toEqual({ data: 'text' });
    expect(describeRecordedChange('KeyFrozen', 1, null)).toEqual({ data: null });
  });
});
