/**
 * Events shaped like keyledger's own: a key lifecycle payload of about 300 bytes of JSON and the
 * metadata every event carries (actor, request, source address, time, correlation / causation).
 * Values vary per event so no backend benefits from compressing or caching identical rows.
 */

import { createHash, randomUUID } from 'node:crypto';

export interface BenchEvent {
  type: string;
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
}

const TYPES = ['KeyIssued', 'KeyScoped', 'KeyThrottled', 'KeySuspended', 'KeyReinstated', 'KeyRotated'] as const;
const SCOPES = ['orders:read', 'orders:write', 'invoices:read', 'customers:read', 'webhooks:manage'];

let sequence = 0;

function keyData(keyId: string, n: number): Record<string, unknown> {
  return {
    keyId,
    consumerId: `consumer-${(n % 97).toString().padStart(4, '0')}`,
    planId: n % 3 === 0 ? 'plan-enterprise' : 'plan-standard',
    digest: createHash('sha256').update(`${keyId}:${n}`).digest('hex'),
    hint: `kl_live_…${(n * 7919).toString(36).slice(-4).padStart(4, '0')}`,
    scopes: SCOPES.slice(0, 2 + (n % 3)),
    expiresAt: new Date(Date.UTC(2027, n % 12, 1 + (n % 28))).toISOString(),
  };
}

/** One event for `stream` whose payload serialises to roughly 300 bytes. */
export function benchEvent(stream: string): BenchEvent {
  const n = sequence++;
  const type = TYPES[n % TYPES.length]!;
  const requestId = randomUUID();
  return {
    type,
    data: keyData(stream, n),
    metadata: {
      schemaVersion: 1,
      actor: { kind: 'key', id: 'key-0b6f4d0e-root', name: 'ops-automation' },
      requestId,
      sourceAddress: `10.0.${n % 250}.${(n * 13) % 250}`,
      occurredAt: new Date().toISOString(),
      correlationId: requestId,
      causationId: requestId,
    },
  };
}

export function benchEvents(stream: string, count: number): BenchEvent[] {
  return Array.from({ length: count }, () => benchEvent(stream));
}

/** Size of a typical payload, printed with the results so readers know what was written. */
export function typicalSizes(): { dataBytes: number; metadataBytes: number } {
  const sample = benchEvent(`key-${randomUUID()}`);
  return {
    dataBytes: Buffer.byteLength(JSON.stringify(sample.data)),
    metadataBytes: Buffer.byteLength(JSON.stringify(sample.metadata)),
  };
}
