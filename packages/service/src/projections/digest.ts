/**
 * One digest over the state of every read model: SHA-256 of the RFC 8785 canonical JSON of each
 * model's canonical dump (its `snapshot()`, the same dump the snapshot tests compare). Two sets of
 * projections with equal digests answer every read and verify alike. Parked events count by
 * (projection, event id) only: when an event was parked is wall time, not state.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '@keyledger/schemas';
import type { KeyProjection } from './key-projection.js';
import type { ParkedEvents } from './parked-events.js';
import type { QuotaUsageProjection } from '../verify/usage-projection.js';

export interface DigestibleProjections {
  keys: KeyProjection;
  quotaUsage: QuotaUsageProjection;
  parked: ParkedEvents;
}

export function projectionsDigest({ keys, quotaUsage, parked }: DigestibleProjections): string {
  const { total, items } = parked.list();
  const dump = {
    keys: keys.snapshot(),
    quotaUsage: quotaUsage.snapshot(),
    parked: { total, items: items.map((item) => [item.projection, item.eventId]) },
  };
  return createHash('sha256').update(canonicalJson(dump)).digest('hex');
}
