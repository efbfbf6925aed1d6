/** Checks of read arguments, so a bad call gets a typed error naming the problem, not a SQL error. */

import { EventStoreError } from '../errors.js';
import type { ReadStreamOptions } from '../port.js';

export const DEFAULT_MAX_COUNT = 1000;
/** Reads run synchronously on the event loop: a cap keeps one read from stalling the process. */
export const MAX_MAX_COUNT = 10_000;

export function parseMaxCount(maxCount: unknown): number {
  if (maxCount === undefined) return DEFAULT_MAX_COUNT;
  if (typeof maxCount !== 'number' || !Number.isInteger(maxCount) || maxCount < 1) {
    throw new EventStoreError(`maxCount must be a positive integer, got ${String(maxCount)}`);
  }
  return Math.min(maxCount, MAX_MAX_COUNT);
}

export interface StreamRange {
  backwards: boolean;
  /** Inclusive starting revision; undefined when reading forwards from 'end' (always empty). */
  from: number | undefined;
  limit: number;
}

export function parseStreamRange(stream: unknown, options: ReadStreamOptions | undefined): StreamRange {
  if (typeof stream !== 'string') throw new EventStoreError(`stream must be a string, got ${typeof stream}`);
  const direction = options?.direction ?? 'forwards';
  if (direction !== 'forwards' && direction !== 'backwards') {
    throw new EventStoreError(`direction must be 'forwards' or 'backwards', got ${String(direction)}`);
  }
  const backwards = direction === 'backwards';
  const fromRevision = options?.fromRevision ?? (backwards ? 'end' : 'start');
  const limit = parseMaxCount(options?.maxCount);
  if (fromRevision === 'start') return { backwards, from: 0, limit };
  if (fromRevision === 'end') return { backwards, from: backwards ? Number.MAX_SAFE_INTEGER : undefined, limit };
  if (typeof fromRevision !== 'number' || !Number.isSafeInteger(fromRevision) || fromRevision < 0) {
    throw new EventStoreError(`fromRevision must be 'start', 'end' or a revision >= 0, got ${String(fromRevision)}`);
  }
  return { backwards, from: fromRevision, limit };
}

/** A filter list; undefined and [] both mean "no filter". */
export function parseFilter(values: unknown, name: string): string[] | undefined {
  if (values === undefined) return undefined;
  if (!Array.isArray(values) || !values.every((value) => typeof value === 'string')) {
    throw new EventStoreError(`${name} must be an array of strings`);
  }
  return values.length === 0 ? undefined : values;
}
