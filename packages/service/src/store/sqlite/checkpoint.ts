/**
 * SQLite checkpoints are the decimal global position of an event. Positions are assigned under
 * SQLite's single write lock, so they grow in commit order and "position > checkpoint" never
 * skips an event. Position 0 (or no checkpoint) is the start of the log.
 */

import { InvalidCheckpointError } from '../errors.js';

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

export function parseCheckpoint(checkpoint: string | undefined): number {
  if (checkpoint === undefined) return 0;
  if (typeof checkpoint !== 'string' || !DECIMAL.test(checkpoint)) {
    throw new InvalidCheckpointError(String(checkpoint));
  }
  const position = Number(checkpoint);
  if (!Number.isSafeInteger(position)) throw new InvalidCheckpointError(checkpoint);
  return position;
}

export function formatCheckpoint(position: number): string {
  return String(position);
}

export function compareCheckpoints(a: string | undefined, b: string | undefined): number {
  return Math.sign(parseCheckpoint(a) - parseCheckpoint(b));
}
