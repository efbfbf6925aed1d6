/**
 * One digest over the state of every read model: SHA-256 over the RFC 8785 canonical JSON of each
 * item of each model's canonical dump (its `snapshot()`, the dump the snapshot tests compare), one
 * item per line, section by section. Two sets of projections with equal digests answer every read
 * and verify alike. Hashed item by item, never as one string: a million keys would not fit in one.
 * Parked events count by (projection, event id) only: when an event was parked is wall time.
 */
import { createHash, type Hash } from 'node:crypto';
import { canonicalJson } from '@keyledger/schemas';
import type { KeyProjection } from './key-projection.js';
import type { ParkedEvents } from './parked-events.js';
import type { QuotaUsageProjection } from '../verify/usage-projection.js';

/** Every read model of a ProjectionSet (projection-set.ts): the service's, a rebuild's and a migration's alike. */
export interface DigestibleProjections {
  keys: KeyProjection;
  quotaUsage: QuotaUsageProjection;
  parked: ParkedEvents;
  consumers: { snapshot(): unknown };
  plans: { snapshot(): unknown };
  keyRequests: { snapshot(): unknown };
  creditLedger: { snapshot(): unknown };
}

export function projectionsDigest(projections: DigestibleProjections): string {
  const { keys, quotaUsage, parked } = projections;
  const hash = createHash('sha256');
  const { total, items } = parked.list();
  const others = (['consumers', 'plans', 'keyRequests', 'creditLedger'] as const).map((name) => [name, projections[name].snapshot()] as [string, unknown]);
  const sections: [string, unknown][] = [
    ...Object.entries(keys.snapshot() as Record<string, unknown>).map(([name, value]) => [`keys.${name}`, value] as [string, unknown]),
    ['quotaUsage', quotaUsage.snapshot()],
    ...others,
    ['parked', [total, ...items.map((item) => [item.projection, item.eventId])]],
  ];
  for (const [name, value] of sections) section(hash, name, value);
  return hash.digest('hex');
}

function section(hash: Hash, name: string, value: unknown): void {
  hash.update(`#${name}\n`);
  if (!Array.isArray(value)) {
    hash.update(canonicalJson(value)).update('\n');
    return;
  }
  for (const item of value) hash.update(canonicalJson(item)).update('\n');
}
