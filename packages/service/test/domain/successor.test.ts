import { describe, expect, it } from 'vitest';
import { decide, successorIssue } from '../../src/domain/keys/index.js';
import { issued, KEY_ID, scoped, SUCCESSOR_ID, throttled, WRITER } from './fixtures.js';
import { foldHistory, given, NOW } from './given.js';

const successor = { keyId: SUCCESSOR_ID, digest: 'cd'.repeat(32), hint: 'kl_live_…Nw3q' };

describe('successorIssue', () => {
  it('inherits every grant and setting of the latest state, with a new id, digest and hint, and links back', () => {
    const previous = foldHistory([
      issued({ meta: { team: 'payments' }, expiresAt: '2031-01-01T00:00:00.000Z', environment: 'test' }),
      scoped({ scopes: ['a:b'], endpoints: ['* /x/**'], added: { scopes: ['a:b'], endpoints: ['* /x/**'] }, removed: { scopes: ['orders:read'], endpoints: ['GET /orders/*'] } }),
      throttled({ rateLimit: null, quota: { limit: 5, period: 'hour' } }),
    ])!;
    expect(successorIssue(previous, successor, WRITER)).toEqual({
      type: 'IssueKey',
      authority: WRITER,
      keyId: SUCCESSOR_ID,
      kind: 'consumer',
      consumerId: 'acme',
      planId: 'gold',
      name: 'checkout backend',
      environment: 'test',
      digest: successor.digest,
      hint: successor.hint,
      scopes: ['a:b'],
      endpoints: ['* /x/**'],
      permissions: [],
      expiresAt: '2031-01-01T00:00:00.000Z',
      meta: { team: 'payments' },
      rateLimit: null,
      quota: { limit: 5, period: 'hour' },
      rotatedFrom: KEY_ID,
      networks: [],
    });
  });

  it('shares no mutable data with the previous state', () => {
    const previous = foldHistory([issued()])!;
    const command = successorIssue(previous, successor, WRITER);
    command.scopes.push('x:y');
    (command.meta as Record<string, unknown>).team = 'other';
    command.rateLimit!.limit = 1;
    expect(previous.scopes).toEqual(['orders:read']);
    expect(previous.meta).toEqual({ team: 'payments' });
    expect(previous.rateLimit).toEqual({ limit: 100, windowSeconds: 60 });
  });

  it('is accepted by decide on an empty successor stream', () => {
    const previous = foldHistory([issued()])!;
    const events = decide(successorIssue(previous, successor, WRITER), null, NOW);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'KeyIssued', data: { keyId: SUCCESSOR_ID, rotatedFrom: KEY_ID } });
    given([]).when(successorIssue(previous, successor, WRITER)).then(events);
  });
});
