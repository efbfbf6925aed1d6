/**
 * What the event store benchmark drives: the few operations it measures, so keyledger's stores
 * and Emmett's run the very same workload code.
 */

import type { BenchEvent } from './payload.js';

/** A stream's position as the backend reports it after an append, passed back on the next one. */
export type StreamPosition = number | bigint;

export interface BenchTarget {
  /** Row label: `sqlite`, `postgres` or `emmett-postgres`. */
  readonly name: string;
  /**
   * Appends `events` to `stream` with optimistic concurrency: `expected` is undefined for a new
   * stream (the backend's "no stream" expectation), else what the previous append returned.
   */
  append(stream: string, events: readonly BenchEvent[], expected: StreamPosition | undefined): Promise<StreamPosition>;
  /**
   * Reads the global log from the start in pages of `pageSize` until a page comes back short;
   * returns how many events were read. With `ids`, pushes each event's id (verification passes).
   */
  readAll(pageSize: number, ids?: string[]): Promise<number>;
  close(): Promise<void>;
}
