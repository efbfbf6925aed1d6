/**
 * Projection rebuild benchmark: `keyledger projections rebuild` (rebuildProjections) over a large
 * SQLite ledger, in events/s, against a raw ordered scan of the same log (readAll page by page,
 * nothing applied). The bar: rebuild >= 0.5x the raw scan. The scan reads and decodes
 * exactly what the rebuild's runner reads (readAll, the same 1000-event pages, data and metadata
 * parsed, recordedAt a Date), so the ratio is the cost of applying the events to every read model
 * the service holds (createProjectionSet).
 *
 *   npx tsx bench/projection-rebuild.ts [--events 1000000]
 *
 * Events are written straight through the store (appendToStreams, 1000 key streams a transaction):
 * 80% KeyIssued, 20% KeySuspended. A snapshot is saved first, so the "live" side of the rebuild is a
 * restore plus an empty tail and the figure is the rebuild from the whole log. Results go to
 * bench/results/projection-rebuild.{json,md}.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { validateEventData } from '@keyledger/schemas';
import { rebuildProjections } from '../packages/service/src/projections/rebuild.js';
import { openSqliteEventStore } from '../packages/service/src/store/sqlite/index.js';
import { openSqliteSnapshotStore } from '../packages/service/src/store/snapshots/sqlite.js';
import type { StreamAppend } from '../packages/service/src/store/port.js';
import { keyIdOf, keyIssued, keySuspended } from '../packages/service/test/projections/ledger.js';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const { values } = parseArgs({ options: { events: { type: 'string' } }, strict: true });
const EVENTS = Number(values.events ?? 1_000_000);
const KEYS = Math.round(EVENTS * 0.8);
const SUSPENDED = EVENTS - KEYS;

const dir = mkdtempSync(join(tmpdir(), 'keyledger-bench-rebuild-'));
const file = join(dir, 'keyledger.db');
try {
  const store = await openSqliteEventStore({ file, validate: validateEventData, synchronous: 'NORMAL' });
  const seedStarted = performance.now();
  const batch = (from: number, to: number, make: typeof keyIssued): StreamAppend[] =>
    Array.from({ length: to - from }, (_, k) => ({ stream: `key-${keyIdOf(from + k)}`, events: [make(from + k)] }));
  for (let i = 0; i < KEYS; i += 1000) await store.appendToStreams(batch(i, Math.min(KEYS, i + 1000), keyIssued));
  for (let i = 0; i < SUSPENDED; i += 1000) await store.appendToStreams(batch(i, Math.min(SUSPENDED, i + 1000), keySuspended));
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  console.log(`seeded ${EVENTS} events in ${seedSeconds.toFixed(1)} s`);

  const scan = async () => {
    const started = performance.now();
    let after: string | undefined;
    let read = 0;
    for (;;) {
      const page = await store.readAll({ ...(after !== undefined ? { after } : {}), maxCount: 1000 });
      read += page.events.length;
      if (page.events.length < 1000) break;
      after = page.checkpoint;
    }
    return { read, seconds: (performance.now() - started) / 1000 };
  };
  const snapshots = openSqliteSnapshotStore({ file, compare: store.compareCheckpoints.bind(store) });
  // First rebuild saves the snapshot (the "live" side of later runs restores it); then measure.
  await rebuildProjections({ store, snapshots, instanceId: 'bench' });
  const scans: number[] = [];
  const rebuilds: number[] = [];
  let digestsEqual = true;
  for (let run = 0; run < 3; run++) {
    const raw = await scan();
    if (raw.read !== EVENTS) throw new Error(`scan read ${raw.read} of ${EVENTS}`);
    scans.push(raw.read / raw.seconds);
    const rebuilt = await rebuildProjections({ store, snapshots, instanceId: 'bench', save: 'never' });
    if (rebuilt.events !== EVENTS) throw new Error(`rebuild read ${rebuilt.events} of ${EVENTS}`);
    digestsEqual &&= rebuilt.equal;
    rebuilds.push(rebuilt.events / (rebuilt.ms / 1000));
    console.log(`run ${run + 1}: raw scan ${Math.round(raw.read / raw.seconds)} events/s, rebuild ${Math.round(rebuilt.events / (rebuilt.ms / 1000))} events/s, digests ${rebuilt.equal ? 'equal' : 'DIFFERENT'}`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  const result = {
    events: EVENTS,
    backend: 'sqlite',
    rawScanEventsPerSecond: Math.round(median(scans)),
    rebuildEventsPerSecond: Math.round(median(rebuilds)),
    ratio: Number((median(rebuilds) / median(scans)).toFixed(2)),
    digestsEqual,
    seedSeconds: Number(seedSeconds.toFixed(1)),
    machine: { platform: `${platform()} ${release()}`, cpus: cpus().length, cpu: cpus()[0]?.model, loadavg: loadavg().map((x) => Number(x.toFixed(2))) },
    at: new Date().toISOString(),
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(join(RESULTS, 'projection-rebuild.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(
    join(RESULTS, 'projection-rebuild.md'),
    [
      `# Projection rebuild (${EVENTS.toLocaleString('en')} events, SQLite)`,
      '',
      '`npx tsx bench/projection-rebuild.ts` (median of 3 runs)',
      '',
      '| raw ordered scan | rebuild (every read model: keys, quota usage, consumers, plans, key requests, credit ledger, parked) | ratio (bar: >= 0.5) | rebuilt digest = live |',
      '|---|---|---|---|',
      `| ${result.rawScanEventsPerSecond.toLocaleString('en')} events/s | ${result.rebuildEventsPerSecond.toLocaleString('en')} events/s | ${result.ratio} | ${digestsEqual ? 'yes' : 'NO'} |`,
      '',
      `${result.machine.cpus} × ${result.machine.cpu}, load ${result.machine.loadavg.join(' ')}, ${result.at}`,
      '',
    ].join('\n'),
  );
  await snapshots.close();
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
