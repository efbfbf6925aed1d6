/**
 * The checks every write-path fault trial ends with, through the public API of the recovered
 * service: every acknowledged command is in the ledger exactly once, the projection equals the
 * test's own fold of the ledger, and no key is half-rotated.
 */
import { foldKeys, projectionMismatches, readLedger, rotationProblems } from './ledger.js';
import type { LedgerCheck, MixedLoad } from './mixed-load.js';

export interface Audit extends LedgerCheck {
  events: number;
  keys: number;
  projection: string[];
  rotations: string[];
}

export async function auditLedger(baseUrl: string, token: string, load: MixedLoad): Promise<Audit> {
  const events = await readLedger(baseUrl, token);
  const check = load.checkAgainstLedger(events);
  const folded = foldKeys(events);
  return {
    ...check,
    events: events.length,
    keys: folded.size,
    projection: await projectionMismatches(baseUrl, token, folded),
    // Say which command left each half-rotated key (the rotate it got, and what its client saw).
    rotations: rotationProblems(events).map((problem) => {
      const keyId = /^key (\S+) /.exec(problem)?.[1];
      const sent = keyId ? load.rotationsOf(keyId) : [];
      return sent.length > 0 ? `${problem}; sent: ${sent.join(' | ')}` : problem;
    }),
  };
}
