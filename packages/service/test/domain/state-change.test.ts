/** diffStates and the timeline fold (audit/timeline.ts): given events, when folded, then each entry says what changed. */
import { describe, expect, it } from 'vitest';
import { diffStates, formatFieldChange } from '../../src/domain/state-change.js';
import { buildTimeline, candidateKinds, stateAt, type StreamEvent } from '../../src/audit/timeline.js';
import { keyIssued, keyRevoked, keySuspended, meta } from '../projections/ledger.js';

const at = (iso: string) => new Date(iso);
function recorded(revision: number, event: { type: string; data: unknown; metadata?: unknown }): StreamEvent {
  return { revision, type: event.type, data: event.data, metadata: event.metadata, recordedAt: at('2030-06-01T12:00:00.000Z') };
}

describe('diffStates', () => {
  it('given two states, then only fields whose JSON differs are listed, sorted, bookkeeping and digest left out', () => {
    const before = { a: 1, scopes: ['x', 'y'], meta: { p: 1, q: 2 }, revision: 1, updatedAt: 'then', digest: 'd1' };
    const after = { a: 2, scopes: ['x', 'y'], meta: { q: 2, p: 1 }, revision: 2, updatedAt: 'now', digest: 'd2', added: true };
    expect(diffStates(before, after)).toEqual([
      { field: 'a', before: 1, after: 2 },
      { field: 'added', before: undefined, after: true },
    ]);
  });

  it('given no state before, then every field is a creation', () => {
    expect(diffStates(null, { name: 'k' })).toEqual([{ field: 'name', before: undefined, after: 'k' }]);
    expect(formatFieldChange({ field: 'name', before: undefined, after: 'k' })).toBe('name: "k"');
    expect(formatFieldChange({ field: 'suspended', before: false, after: true })).toBe('suspended: false -> true');
  });
});

describe('key timeline', () => {
  const events = [
    recorded(0, keyIssued(1)),
    recorded(1, { ...keySuspended(1), metadata: { ...meta('2030-06-01T13:30:00.000Z'), actor: { kind: 'key', id: 'key_admin' }, sourceAddress: '10.0.0.7' } }),
    recorded(2, keyRevoked(1)),
  ];

  it('given issue, suspend and revoke, then each entry names who, when, where and the state change', () => {
    const timeline = buildTimeline('key', events);
    expect(timeline.map((entry) => entry.type)).toEqual(['KeyIssued', 'KeySuspended', 'KeyRevoked']);
    expect(timeline[0]?.changes.every((change) => change.before === undefined)).toBe(true);
    expect(timeline[0]?.changes.map((change) => change.field)).not.toContain('digest');
    expect(timeline[1]).toMatchObject({
      actor: { kind: 'key', id: 'key_admin' },
      sourceAddress: '10.0.0.7',
      occurredAt: '2030-06-01T13:30:00.000Z',
      changes: [
        { field: 'suspended', before: false, after: true },
        { field: 'suspendedReason', before: null, after: 'fraud check' },
      ],
    });
    expect(timeline[2]?.changes).toEqual([
      { field: 'revoked', before: false, after: true },
      { field: 'revokedAt', before: null, after: '2030-06-01T13:00:00.000Z' },
      { field: 'revokedReason', before: null, after: 'leaked' },
    ]);
  });

  it('given an event of a type this version does not know, then it shows what it carried and changes nothing', () => {
    const timeline = buildTimeline('key', [...events.slice(0, 1), recorded(1, { type: 'KeyTeleported', data: { keyId: 'x', to: 'mars', digest: 'secret' }, metadata: meta() })]);
    expect(timeline[1]).toMatchObject({ type: 'KeyTeleported', changes: [], carried: { keyId: 'x', to: 'mars' } });
    expect(timeline[1]?.carried).not.toHaveProperty('digest');
  });

  it('stateAt folds the events that occurred by the instant, and hides the digest', () => {
    expect(stateAt('key', events, at('2030-01-01T00:00:00.000Z'))).toEqual({ state: null, revision: null });
    const issued = stateAt('key', events, at('2030-06-01T12:00:00.000Z'));
    expect(issued.revision).toBe(0);
    expect(issued.state).toMatchObject({ suspended: false, revoked: false });
    expect(issued.state).not.toHaveProperty('digest');
    // Events are folded in stream order up to the first one after the instant.
    expect(stateAt('key', events, at('2030-06-01T13:45:00.000Z')).state).toMatchObject({ suspended: true });
  });

  it('key ids name keys; other ids are tried as consumer, then plan', () => {
    expect(candidateKinds('key_0123456789abcdefghij')).toEqual(['key']);
    expect(candidateKinds('acme')).toEqual(['consumer', 'plan']);
    expect(candidateKinds('acme', 'plan')).toEqual(['plan']);
  });
});
