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

/**
 * Reads the whole log `passes` times and keeps the median pass, so one pass disturbed by the
 * machine (autovacuum, a checkpoint) does not decide the figure.
 */
export async function measureReadAll(
  target: BenchTarget,
  pageSize: number,
  passes: number,
  expectedEvents: number,
): Promise<Measurement> {
  const runs: { seconds: number; events: number }[] = [];
  for (let i = 0; i < passes; i++) {
    const started = performance.now();
    const events = await target.readAll(pageSize);
    runs.push({ seconds: (performance.now() - started) / 1000, events });
  }
  runs.sort((a, b) => a.seconds - b.seconds);
  const median = runs[Math.floor(runs.length / 2)]!;
  const pages = Math.floor(median.events / pageSize) + 1;
  const measurement = summarise(`read all, pages of ${pageSize}`, pages, median.events, median.seconds, []);
  // A full read must return every appended event exactly once; report (not hide) any difference.
  const counts = [...new Set(runs.map((run) => run.events))];
  if (counts.length !== 1 || counts[0] !== expectedEvents) {
    measurement.note = `full reads returned ${counts.join(' / ')} events; ${expectedEvents} were appended`;
  }
  return measurement;
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
