/**
 * Remembers the decisions of charged checks by chargeId for a retention window, in bounded memory:
 * at most `maxEntries`, the oldest dropped first (a retry that arrives after its entry was dropped
 * is charged again, which is why the bound should cover the retention window's traffic).
 */
import type { LimitDecision } from './limiter.js';

interface Entry {
  decision: LimitDecision;
  expiresMs: number;
  /** Position in the eviction ring; a key charged again after expiry gets a new one. */
  slot: number;
}

export interface ChargeMemory {
  /** The first decision, marked replayed, or undefined when unknown or expired. */
  replay(subject: string, chargeId: string, nowMs: number): LimitDecision | undefined;
  remember(subject: string, chargeId: string, decision: LimitDecision, nowMs: number): void;
  sweep(nowMs: number): void;
  readonly size: number;
  clear(): void;
}

export function createChargeMemory(retentionMs: number, maxEntries: number): ChargeMemory {
  const entries = new Map<string, Entry>();
  // Insertion order in a fixed ring: evicting the oldest is O(1). (Deleting a Map's first entry
  // over and over and asking for the next first one degrades, as the deleted slots pile up.)
  const ring = new Array<string | undefined>(maxEntries);
  let written = 0;
  // A separator that cannot occur in a subject or a chargeId.
  const keyOf = (subject: string, chargeId: string) => `${subject}\n${chargeId}`;
  return {
    replay(subject, chargeId, nowMs) {
      const entry = entries.get(keyOf(subject, chargeId));
      if (entry === undefined || entry.expiresMs <= nowMs) return undefined;
      return { ...entry.decision, replayed: true };
    },
    remember(subject, chargeId, decision, nowMs) {
      const key = keyOf(subject, chargeId);
      const slot = written % maxEntries;
      const evicted = ring[slot];
      // The oldest key leaves unless it was charged again since (then it owns a newer slot).
      if (evicted !== undefined && entries.get(evicted)?.slot === slot) entries.delete(evicted);
      ring[slot] = key;
      written++;
      entries.set(key, { decision, expiresMs: nowMs + retentionMs, slot });
    },
    sweep(nowMs) {
      for (const [key, entry] of entries) {
        if (entry.expiresMs <= nowMs) {
          entries.delete(key);
          ring[entry.slot] = undefined;
        }
      }
    },
    get size() {
      return entries.size;
    },
    clear: () => {
      entries.clear();
      ring.fill(undefined);
    },
  };
}
