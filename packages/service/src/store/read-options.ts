/**
 * The read arguments of the port, checked once for every backend, so SQLite and PostgreSQL answer
 * the same call the same way (the contract suite proves it) and a bad call is an InvalidReadError
 * naming the argument, never a SQL error or a silently different page.
 */

import { InvalidReadError } from './errors.js';
import type { ReadStreamOptions } from './port.js';

/** readAll pages: the default size, and the cap a larger maxCount is cut to. */
export const DEFAULT_READ_ALL_COUNT = 1_000;
export const MAX_READ_ALL_COUNT = 10_000;

/** A stream read, normalised; `null` from parseStreamRead means the answer is [] without reading. */
export interface StreamRead {
  backwards: boolean;
  /** Inclusive first revision in read order (backwards: Number.MAX_SAFE_INTEGER for 'end'). */
  fromRevision: number;
  /** At most this many events; undefined: all of them. */
  maxCount: number | undefined;
}

/**
 * The readStream contract:
 * - every event by default (no page size: a stream is one aggregate's history, read whole);
 * - `maxCount` is an integer >= 0; 0 reads nothing; anything else (negative, fractional, NaN,
 *   Infinity, not a number) is an InvalidReadError;
 * - `fromRevision` is 'start', 'end' or an integer revision >= 0, inclusive; the default is 'start'
 *   forwards and 'end' backwards;
 * - forwards from 'end' or from past the last revision reads nothing; backwards from past the last
 *   revision starts at the last one; backwards from 'start' reads revision 0 only;
 * - a stream that does not exist reads as [].
 */
export function parseStreamRead(stream: unknown, options: ReadStreamOptions | undefined): StreamRead | null {
  if (typeof stream !== 'string') throw new InvalidReadError(`stream must be a string, got ${typeof stream}`);
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new InvalidReadError('read options must be an object');
  }
  const direction = options?.direction ?? 'forwards';
  if (direction !== 'forwards' && direction !== 'backwards') {
    throw new InvalidReadError(`direction must be 'forwards' or 'backwards', got ${JSON.stringify(direction)}`);
  }
  const backwards = direction === 'backwards';
  const from = options?.fromRevision ?? (backwards ? 'end' : 'start');
  if (from !== 'start' && from !== 'end' && !isCount(from)) {
    throw new InvalidReadError(`fromRevision must be 'start', 'end' or an integer revision >= 0, got ${JSON.stringify(from)}`);
  }
  const maxCount = options?.maxCount;
  if (maxCount !== undefined && !isCount(maxCount)) {
    throw new InvalidReadError(`maxCount must be an integer >= 0 (or omitted for every event), got ${describe(maxCount)}`);
  }
  if (maxCount === 0 || (!backwards && from === 'end')) return null;
  const fromRevision = from === 'start' ? 0 : from === 'end' ? Number.MAX_SAFE_INTEGER : from;
  return { backwards, fromRevision, maxCount };
}

/** readAll's page size: default 1000, capped at 10 000; it must be an integer >= 1 (an empty page means "caught up"). */
export function parseReadAllCount(maxCount: unknown): number {
  if (maxCount === undefined) return DEFAULT_READ_ALL_COUNT;
  if (!isCount(maxCount) || maxCount < 1) {
    throw new InvalidReadError(`maxCount must be an integer >= 1, got ${describe(maxCount)}`);
  }
  return Math.min(maxCount, MAX_READ_ALL_COUNT);
}

/** A readAll filter: undefined and [] both mean "no filter"; otherwise an array of strings. */
export function parseFilter(values: unknown, name: string): string[] | undefined {
  if (values === undefined) return undefined;
  if (!Array.isArray(values) || !values.every((value) => typeof value === 'string')) {
    throw new InvalidReadError(`${name} must be an array of strings`);
  }
  return values.length === 0 ? undefined : [...new Set(values as string[])];
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function describe(value: unknown): string {
  return typeof value === 'number' ? String(value) : JSON.stringify(value) ?? typeof value;
}
