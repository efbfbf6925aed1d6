import { describe, expect, it } from 'vitest';
import { classifyEvent, type SchemaKnowledge } from '../../src/projections/event-kinds.js';
import type { RecordedEvent } from '../../src/store/port.js';

const recorded = (type: string, schemaVersion: number | undefined, data: unknown = { keyId: 'key_0123456789abcdef' }): RecordedEvent => ({
  id: '00000000-0000-4000-8000-000000000001',
  stream: 'key-key_0123456789abcdef',
  category: 'key',
  revision: 0,
  type,
  data,
  metadata: schemaVersion === undefined ? {} : { schemaVersion },
  checkpoint: '1',
  recordedAt: new Date('2030-01-01T00:00:00Z'),
});

// A schema world where KeyRenamed is at version 2 and v1 had `label` instead of `name`.
const schemas: SchemaKnowledge = {
  currentVersion: (type) => (type === 'KeyRenamed' ? 2 : type === 'KeyRevoked' ? 1 : undefined),
  upcast: (type, version, data) => {
    if (type === 'KeyRenamed' && version === 1) {
      const { label, ...rest } = data as { label: string };
      return { ...rest, name: label };
    }
    return data;
  },
};

describe('classifyEvent', () => {
  it('given an event of the current version, when classified, then it is applied unchanged', () => {
    const event = recorded('KeyRevoked', 1);
    expect(classifyEvent(event, schemas)).toEqual({ kind: 'apply', event });
  });

  it('given an event without a schema version, when classified, then it is read as version 1', () => {
    const event = recorded('KeyRevoked', undefined);
    expect(classifyEvent(event, schemas)).toEqual({ kind: 'apply', event });
    expect(classifyEvent(recorded('KeyRenamed', undefined, { label: 'x' }), schemas)).toMatchObject({ kind: 'apply', event: { data: { name: 'x' } } });
  });

  it('given an older schema version, when classified, then it is upcast and tagged with the current version', () => {
    const result = classifyEvent(recorded('KeyRenamed', 1, { keyId: 'key_0123456789abcdef', label: 'checkout' }), schemas);
    expect(result).toMatchObject({ kind: 'apply', event: { data: { keyId: 'key_0123456789abcdef', name: 'checkout' }, metadata: { schemaVersion: 2 } } });
  });

  it('given a type this version does not know (a newer version wrote it), when classified, then it is skipped as unknown_type', () => {
    expect(classifyEvent(recorded('KeyFrozen', 1), schemas)).toEqual({ kind: 'skip', reason: 'unknown_type', schemaVersion: 1 });
  });

  it('given a known type at a newer schema version, when classified, then it is skipped as newer_version', () => {
    expect(classifyEvent(recorded('KeyRevoked', 3), schemas)).toEqual({ kind: 'skip', reason: 'newer_version', schemaVersion: 3 });
  });

  it('given the real schemas, when a current KeyRevoked and an unknown type are classified, then one applies and one skips', () => {
    expect(classifyEvent(recorded('KeyRevoked', 1)).kind).toBe('apply');
    expect(classifyEvent(recorded('KeyRevoked', 2)).kind).toBe('skip');
    expect(classifyEvent(recorded('SomethingNew', 1)).kind).toBe('skip');
  });
});
