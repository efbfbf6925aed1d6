/**
 * The event store benchmark's suite: warm-up, the append rows and the global read, run the same
 * way against every target. Counts are fixed per row (not time-boxed) so every backend writes
 * the same log and the full read covers the same events.
 */

import { measureAppends, measureReadAll, type AppendWorkload, type Measurement } from './workload.js';
import type { BenchTarget } from './target.js';

export const PAGE_SIZE = 1000;
const READ_PASSES = 3;

/** `scale` < 1 shrinks every count, for a quick smoke run of the harness. */
export function appendWorkloads(scale: number): AppendWorkload[] {
  const n = (count: number) => Math.max(1, Math.round(count * scale));
  const rows: AppendWorkload[] = [];
  for (const eventsPerAppend of [1, 10]) {
    const unit = eventsPerAppend === 1 ? 'event' : 'events';
    rows.push({
      name: `append ${eventsPerAppend} ${unit}, 1 writer`,
      eventsPerAppend,
      writers: 1,
      appendsPerWriter: n(2000),
      appendsPerStream: 10,
    });
    rows.push({
      name: `append ${eventsPerAppend} ${unit}, 8 writers`,
      eventsPerAppend,
      writers: 8,
      appendsPerWriter: n(500),
      appendsPerStream: 10,
    });
  }
  return rows;
}

/** Enough to open pools, prepare statements and let the JIT settle before the clock runs. */
const WARM_UP: AppendWorkload[] = [
  { name: 'warm-up 1', eventsPerAppend: 1, writers: 1, appendsPerWriter: 200, appendsPerStream: 10 },
  { name: 'warm-up 10', eventsPerAppend: 10, writers: 8, appendsPerWriter: 25, appendsPerStream: 10 },
];

export async function runSuite(target: BenchTarget, scale: number, log: (line: string) => void): Promise<Measurement[]> {
  let appended = 0;
  for (const workload of WARM_UP) {
    await measureAppends(target, workload);
    appended += workload.writers * workload.appendsPerWriter * workload.eventsPerAppend;
  }
  await target.readAll(PAGE_SIZE);
  log(`${target.name}: warmed up`);

  const results: Measurement[] = [];
  for (const workload of appendWorkloads(scale)) {
    const measurement = await measureAppends(target, workload);
    appended += measurement.events;
    results.push(measurement);
    log(`${target.name}: ${workload.name}: ${measurement.opsPerSecond} appends/s`);
  }
  const read = await measureReadAll(target, PAGE_SIZE, READ_PASSES, appended);
  results.push(read);
  log(`${target.name}: ${read.workload}: ${read.eventsPerSecond} events/s${read.note ? ` (${read.note})` : ''}`);
  return results;
}
