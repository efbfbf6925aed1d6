/**
 * The public order of ledger checkpoints, for clients that must compare them (the SDK verifier
 * asks "has the instance that answered applied at least what my feed has seen?"). Every backend
 * writes checkpoints as dot-separated decimal integers (SQLite `<position>`, PostgreSQL
 * `<transaction id>.<position>`) whose order is numeric, element by element. Checkpoints of
 * different backends are never compared: one ledger has one backend.
 */
const CHECKPOINT = /^(0|[1-9][0-9]{0,19})(\.(0|[1-9][0-9]{0,19}))*$/;

function parts(checkpoint: string): bigint[] | undefined {
  return CHECKPOINT.test(checkpoint) ? checkpoint.split('.').map(BigInt) : undefined;
}

/**
 * Orders two checkpoints: negative, zero or positive; undefined when either is not a checkpoint
 * or they have different shapes (so a caller can refuse rather than guess).
 */
export function compareLedgerCheckpoints(a: string, b: string): number | undefined {
  const left = parts(a);
  const right = parts(b);
  if (!left || !right || left.length !== right.length) return undefined;
  for (let i = 0; i < left.length; i++) {
    if (left[i] !== right[i]) return (left[i] as bigint) < (right[i] as bigint) ? -1 : 1;
  }
  return 0;
}

/** True only when `applied` is provably at or past `target`. No target: nothing to reach. */
export function checkpointReached(applied: string | null | undefined, target: string | undefined): boolean {
  if (target === undefined) return true;
  if (applied === null || applied === undefined) return false;
  const order = compareLedgerCheckpoints(applied, target);
  return order !== undefined && order >= 0;
}
