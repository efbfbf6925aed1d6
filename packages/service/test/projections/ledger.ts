/** Writes realistic key and usage events straight to a real event store (no HTTP), for projection tests. */
import { createHash } from 'node:crypto';
import type { EventData } from '@keyledger/schemas';
import type { EventStore, NewEvent } from '../../src/store/port.js';

export const keyIdOf = (i: number) => `key_${String(i).padStart(20, '0')}`;
export const digestOf = (i: number) => createHash('sha256').update(`key ${i}`).digest('hex');

export function meta(occurredAt = '2030-06-01T12:00:00.000Z', schemaVersion = 1): Record<string, unknown> {
  return { schemaVersion, actor: { kind: 'system', id: 'test' }, requestId: null, sourceAddress: null, occurredAt, correlationId: null, causationId: null };
}

export function keyIssued(i: number, overrides: Partial<EventData<'KeyIssued'>> = {}): NewEvent {
  const data: EventData<'KeyIssued'> = {
    keyId: keyIdOf(i),
    consumerId: `consumer-${i % 7}`,
    planId: i % 2 === 0 ? 'gold' : null,
    name: i % 3 === 0 ? `key number ${i}` : null,
    environment: i % 5 === 0 ? 'test' : 'live',
    digest: digestOf(i),
    hint: `kl_live_…${String(i).padStart(4, '0')}`,
    scopes: i % 2 === 0 ? ['orders:read'] : [],
    endpoints: [],
    permissions: [],
    expiresAt: i % 4 === 0 ? '2031-01-01T00:00:00.000Z' : null,
    meta: { tier: i % 3 },
    rateLimit: i % 2 === 0 ? { limit: 100, windowSeconds: 60 } : null,
    quota: i % 2 === 0 ? { limit: 10_000, period: 'day' } : null,
    rotatedFrom: null,
    networks: [],
    ...overrides,
    kind: overrides.kind ?? 'consumer',
  };
  return { type: 'KeyIssued', data, metadata: meta() };
}

export const keyRevoked = (i: number, reason: string | null = 'leaked'): NewEvent => ({ type: 'KeyRevoked', data: { keyId: keyIdOf(i), reason }, metadata: meta('2030-06-01T13:00:00.000Z') });
export const keySuspended = (i: number): NewEvent => ({ type: 'KeySuspended', data: { keyId: keyIdOf(i), reason: 'fraud check' }, metadata: meta('2030-06-01T13:30:00.000Z') });

/** Issues keys `from..to-1`, each on its own stream. */
export async function issueKeys(store: EventStore, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++) await store.appendToStream(`key-${keyIdOf(i)}`, [keyIssued(i)]);
}

export function usageBatch(keys: number[], at: string, windowStart = '2030-06-01T00:00:00.000Z'): NewEvent {
  const data: EventData<'UsageBatchRecorded'> = {
    from: new Date(Date.parse(at) - 10_000).toISOString(),
    to: at,
    instanceId: 'i1',
    windows: [{ period: 'day', start: windowStart }],
    entries: keys.map((i) => ({ keyId: keyIdOf(i), counts: { VALID: 2 }, units: 2, window: i % 2 === 0 ? 0 : null })),
  };
  return { type: 'UsageBatchRecorded', data, metadata: meta(at) };
}
