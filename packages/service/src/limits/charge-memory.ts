/**
 * Remembers the decisions of charged checks by chargeId for a retention window, in bounded memory:
 * at most `maxEntries`, the oldest dropped first (a retry that arrives after its entry was dropped
 * is charged again, which is why the bound should cover the retention window's traffic).
 */
import type { LimitDecision } from './limiter.js';

interface Entry {
  decision: LimitDecision;
  expiresMs: number;
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
  // Map iteration is insertion order, so the first entry is the oldest.
  const entries = new Map<string, Entry>();
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
      entries.delete(key);
      while (entries.size >= maxEntries) {
        const oldest = entries.keys().next();
        if (oldest.done === true) break;
        entries.delete(oldest.value);
      }
      entries.set(key, { decision, expiresMs: nowMs + retentionMs });
    },
    sweep(nowMs) {
      for (const [key, entry] of entries) if (entry.expiresMs <= nowMs) entries.delete(key);
    },
    get size() {
      return entries.size;
    },
    clear: () => entries.clear(),
  };
}
