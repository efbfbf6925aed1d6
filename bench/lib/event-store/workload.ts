/**
 * The measured workloads: timed appends by concurrent writers, each on its own streams with
 * expected revisions, and timed full reads of the global log. Events are generated before the
 * clock starts, so only the store is measured.
 */

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { benchEvents, type BenchEvent } from './payload.js';
import type { BenchTarget, StreamPosition } from './target.js';

export interface AppendWorkload {
  /** Row label, e.g. `append 1 event, 8 writers`. */
  name: string;
  eventsPerAppend: number;
  writers: number;
  appendsPerWriter: number;
  /** A writer moves to a fresh stream after this many appends, as aggregates stay short. */
  appendsPerStream: number;
}

export interface Measurement {
  workload: string;
  /** Appends (or page reads) completed. */
  operations: number;
  events: number;
  seconds: number;
  opsPerSecond: number;
  eventsPerSecond: number;
  /** Latency of one append, milliseconds (null for reads, timed per whole pass). */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Set when something about the run deserves a reader's attention (e.g. events missing). */
  note?: string;
}

interface PlannedAppend {
  stream: string;
  /** True for the first append to `stream`. */
  fresh: boolean;
  events: BenchEvent[];
}

function plan(workload: AppendWorkload): PlannedAppend[][] {
  return Array.from({ length: workload.writers }, () => {
    const appends: PlannedAppend[] = [];
    let stream = '';
    for (let i = 0; i < workload.appendsPerWriter; i++) {
      const fresh = i % workload.appendsPerStream === 0;
      if (fresh) stream = `key-${randomUUID()}`;
      appends.push({ stream, fresh, events: benchEvents(stream, workload.eventsPerAppend) });
    }
    return appends;
  });
}

export async function measureAppends(target: BenchTarget, workload: AppendWorkload): Promise<Measurement> {
  const writers = plan(workload);
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    writers.map(async (appends) => {
      let expected: StreamPosition | undefined;
      for (const append of appends) {
        if (append.fresh) expected = undefined;
        const t0 = performance.now();
        expected = await target.append(append.stream, append.events, expected);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const operations = workload.writers * workload.appendsPerWriter;
  return summarise(workload.name, operations, operations * workload.eventsPerAppend, seconds, latencies);
}

/** How often a pass cut short by another transaction in the cluster is tried again. */
const MAX_REPEATS = 5;

/**
 * Reads the whole log `passes` times and keeps the median pass, so one pass disturbed by the
 * machine (autovacuum, a checkpoint) does not decide the figure.
 *
 * An untimed verification pass first checks what a full read returns: every appended event,
 * exactly once. Both PostgreSQL stores fence reads below the oldest transaction running anywhere
 * in the cluster, so another client's open transaction can cut a pass short; such a pass is
 * repeated (after a pause), not timed, and counted in the note.
 */
export async function measureReadAll(
  target: BenchTarget,
  pageSize: number,
  passes: number,
  appendedEvents: number,
): Promise<Measurement> {
  const notes: string[] = [];
  let repeats = 0;
  let ids: string[] = [];
  // Repeat until the count is complete or stable: a fenced pass grows once the other transaction
  // ends, while a reader that really skips events returns the same short count every time.
  for (let attempt = 0, previous = -1; attempt <= MAX_REPEATS; attempt++) {
    ids = [];
    await target.readAll(pageSize, ids);
    if (ids.length >= appendedEvents || ids.length === previous) break;
    if (previous >= 0) repeats++;
    previous = ids.length;
    await sleep(1000);
  }
  const distinct = new Set(ids).size;
  if (ids.length !== appendedEvents || distinct !== appendedEvents) {
    notes.push(
      `a full read returned ${ids.length} events, ${distinct} distinct, of ${appendedEvents} appended` +
        ` (${appendedEvents - distinct} skipped, ${ids.length - distinct} read twice)`,
    );
  }

  const runs: { seconds: number; events: number }[] = [];
  while (runs.length < passes) {
    const started = performance.now();
    const events = await target.readAll(pageSize);
    const seconds = (performance.now() - started) / 1000;
    if (events < ids.length && repeats < MAX_REPEATS * passes) {
      repeats++;
      await sleep(1000);
      continue;
    }
    runs.push({ seconds, events });
  }
  if (repeats > 0) notes.push(`${repeats} pass(es) cut short by another transaction in the cluster were repeated`);

  runs.sort((a, b) => a.seconds - b.seconds);
  const median = runs[Math.floor(runs.length / 2)]!;
  const pages = Math.floor(median.events / pageSize) + 1;
  const measurement = summarise(`read all, pages of ${pageSize}`, pages, median.events, median.seconds, []);
  if (notes.length > 0) measurement.note = notes.join('; ');
  return measurement;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function summarise(workload: string, operations: number, events: number, seconds: number, latencies: number[]): Measurement {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    workload,
    operations,
    events,
    seconds: round(seconds, 3),
    opsPerSecond: round(operations / seconds, 0),
    eventsPerSecond: round(events / seconds, 0),
    p50Ms: sorted.length > 0 ? round(percentile(sorted, 0.5), 2) : null,
    p99Ms: sorted.length > 0 ? round(percentile(sorted, 0.99), 2) : null,
  };
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0;
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
