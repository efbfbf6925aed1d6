/**
 * Where `projections rebuild` spends its time: seeds the projection-rebuild benchmark's ledger
 * (or reuses one given with --file), then CPU-profiles one raw ordered scan and one replay of the
 * whole log into the service's read models (createProjectionSet through the ProjectionRunner: the
 * part of the rebuild the benchmark times), each in-process with the inspector after a warm-up
 * replay, and prints their self time by function. A helper for bench/README.md's profile
 * section, not one of `pnpm bench`'s benchmarks.
 *
 *   npx tsx bench/profile-rebuild.ts [--events 200000] [--file /tmp/ledger.db] [--out file.md]
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { validateEventData } from '@keyledger/schemas';
import { appliedProjections, createProjectionSet } from '../packages/service/src/projections/projection-set.js';
import { ProjectionRunner } from '../packages/service/src/projections/runner.js';
import { openSqliteEventStore } from '../packages/service/src/store/sqlite/index.js';
import type { StreamAppend } from '../packages/service/src/store/port.js';
import { keyIdOf, keyIssued, keySuspended } from '../packages/service/test/projections/ledger.js';
import { summariseProfile } from './lib/cpu-profile.js';

const { values } = parseArgs({ options: { events: { type: 'string' }, file: { type: 'string' }, out: { type: 'string' } }, strict: true });
const EVENTS = Number(values.events ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), 'kl-prof-rebuild-'));
const file = values.file ?? join(dir, 'keyledger.db');
const seed = !existsSync(file);
const store = await openSqliteEventStore({ file, validate: validateEventData, synchronous: 'NORMAL' });
if (seed) {
  // The same ledger as bench/projection-rebuild.ts: 80% KeyIssued, 20% KeySuspended.
  const keys = Math.round(EVENTS * 0.8);
  const batch = (from: number, to: number, make: typeof keyIssued): StreamAppend[] =>
    Array.from({ length: to - from }, (_, k) => ({ stream: `key-${keyIdOf(from + k)}`, events: [make(from + k)] }));
  for (let i = 0; i < keys; i += 1000) await store.appendToStreams(batch(i, Math.min(keys, i + 1000), keyIssued));
  for (let i = 0; i < EVENTS - keys; i += 1000) await store.appendToStreams(batch(i, Math.min(EVENTS - keys, i + 1000), keySuspended));
}
const replay = async () => {
  const set = createProjectionSet();
  const runner = new ProjectionRunner(store, appliedProjections(set), { parked: set.parked });
  await runner.start();
  await runner.stop();
  return runner.appliedCount;
};
await replay(); // warm-up: the JIT and the page cache

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 200 });
const profile = async (name: string, work: () => Promise<number>) => {
  await session.post('Profiler.start');
  const started = performance.now();
  const events = await work();
  const ms = performance.now() - started;
  const { profile: result } = await session.post('Profiler.stop');
  const path = join(dir, `${name}.cpuprofile`);
  writeFileSync(path, JSON.stringify(result));
  const summary = summariseProfile(path, 25);
  return [
    `### ${name}: ${events.toLocaleString('en')} events in ${Math.round(ms)} ms (${Math.round(events / (ms / 1000)).toLocaleString('en')} events/s)`,
    '',
    '| self time | function | where |',
    '|---|---|---|',
    ...summary.functions.map((f) => `| ${f.share}% | ${f.name} | ${f.where.replace(/^.*\/wt-[^/]+\//, '')} |`),
    '',
  ];
};
const scan = async () => {
  let after: string | undefined;
  let read = 0;
  for (;;) {
    const page = await store.readAll({ ...(after !== undefined ? { after } : {}), maxCount: 1000 });
    read += page.events.length;
    if (page.events.length < 1000) return read;
    after = page.checkpoint;
  }
};
const lines = [
  ...(await profile('raw ordered scan', scan)),
  ...(await profile('replay into every read model', replay)),
];
console.log(lines.join('\n'));
if (values.out) writeFileSync(values.out, lines.join('\n'));
session.disconnect();
await store.close();
if (!values.file) rmSync(dir, { recursive: true, force: true });
