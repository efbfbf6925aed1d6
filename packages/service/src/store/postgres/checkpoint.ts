/**
 * Checkpoints of the PostgreSQL store: "<transaction id>.<position>", the sort key of the global
 * log. Events are read in (transaction id, position) order below the snapshot fence, so this pair
 * (not the position alone) is what a reader must remember to never skip a late commit.
 */

import { InvalidCheckpointError } from '../errors.js';

export interface LogPosition {
  /** xid8 of the writing transaction (64-bit, never wraps). */
  transactionId: bigint;
  position: bigint;
}

const FORMAT = /^(0|[1-9][0-9]{0,19})\.(0|[1-9][0-9]{0,18})$/;
const MAX_XID8 = (1n << 64n) - 1n;
const MAX_BIGINT = (1n << 63n) - 1n;

/** Where a reader without a checkpoint starts: before every event. */
export const LOG_START: LogPosition = { transactionId: 0n, position: 0n };

export function formatCheckpoint(transactionId: bigint | string, position: bigint | string): string {
  return `${transactionId}.${position}`;
}

export function parseCheckpoint(checkpoint: string): LogPosition {
  const match = typeof checkpoint === 'string' ? FORMAT.exec(checkpoint) : null;
  if (!match) throw new InvalidCheckpointError(String(checkpoint));
  const transactionId = BigInt(match[1]!);
  const position = BigInt(match[2]!);
  if (transactionId > MAX_XID8 || position > MAX_BIGINT) throw new InvalidCheckpointError(checkpoint);
  return { transactionId, position };
}

export function compareLogPositions(a: LogPosition, b: LogPosition): number {
  if (a.transactionId !== b.transactionId) return a.transactionId < b.transactionId ? -1 : 1;
  if (a.position !== b.position) return a.position < b.position ? -1 : 1;
  return 0;
}

/** Orders two checkpoints; undefined (the start of the log) sorts before every checkpoint. */
export function compareCheckpoints(a: string | undefined, b: string | undefined): number {
  const left = a === undefined ? LOG_START : parseCheckpoint(a);
  const right = b === undefined ? LOG_START : parseCheckpoint(b);
  return compareLogPositions(left, right);
}
