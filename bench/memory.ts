/**
 * Memory per key and start-up time with many keys: keys are written straight through the event
 * store (SQLite, appendToStreams in batches; not over HTTP), then the real built service starts
 * on that ledger twice: cold (no snapshot: the whole log is replayed) and warm (from the snapshot
 * the cold start saved). Per key = (the service's RSS with N keys - its RSS with none) / N, read
 * from its /metrics once it listens (and for the cold start again after the snapshot save).
 * The SDK gateway verifier's cache is measured in process: N keys' facts stored in its cache
 * (KeyCache, what the verifier fills after remote answers), heap and RSS delta after a full GC.
 *
 *   pnpm build && npx tsx --expose-gc bench/memory.ts [--keys 100000,1000000]
 *
 * Goals (issue 12): <= 1 KB per active key in the service, <= 512 B per cached key in the SDK
 * verifier, at 1,000,000 keys. Results: bench/results/memory.{json,md} for a run that includes 1M.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { StreamAppend } from '../packages/service/src/store/port.js';
import { openSqliteEventStore } from '../packages/service/src/store/sqlite/index.js';
import { makeTestKey, startService, type ServiceProcess } from '../test/support/service-process.js';
import { keyNumber, metadata } from './lib/bench-keys.js';
import { measureVerifierCache } from './lib/verifier-cache-memory.js';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const { values } = parseArgs({ options: { keys: { type: 'string' }, 'skip-service': { type: 'boolean' } }, strict: true });
const COUNTS = (values.keys ?? '100000,1000000').split(',').map(Number);
const BATCH = 1000;

async function populate(file: string, count: number): Promise<number> {
  const store = await openSqliteEventStore({ file, synchronous: 'NORMAL' });
  const started = performance.now();
  const at = new Date().toISOString();
  try {
    for (let from = 0; from < count; from += BATCH) {
      const appends: StreamAppend[] = [];
      for (let i = from; i < Math.min(count, from + BATCH); i++) {
        const { data } = keyNumber(i);
        appends.push({ stream: `key-${data.keyId}`, events: [{ type: 'KeyIssued', data, metadata: metadata(at) }], expectedRevision: 'no_stream' });
      }
      await store.appendToStreams(appends);
    }
  } finally {
    await store.close();
  }
  return (performance.now() - started) / 1000;
}

async function metric(service: ServiceProcess, name: string): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${service.rootKey}` } })).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

async function memoryOf(service: ServiceProcess): Promise<{ rss: number; heap: number }> {
  return { rss: await metric(service, 'process_resident_memory_bytes'), heap: await metric(service, 'nodejs_heap_size_used_bytes') };
}

async function timedStart(dataDir: string, rootKey: string) {
  const started = performance.now();
  const service = await startService({ env: { KEYLEDGER_SNAPSHOT_INTERVAL_SECONDS: '0', KEYLEDGER_SQLITE_SYNCHRONOUS: 'NORMAL' }, dataDir, rootKey, timeoutMs: 30 * 60_000 });
  const readyMs = performance.now() - started;
  return { service, readyMs, memory: await memoryOf(service) };
}

async function waitForLine(service: ServiceProcess, text: string, timeoutMs = 10 * 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!service.output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`no '${text}' in the service's log`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interface ServiceRow {
  keys: number;
  populateSeconds: number;
  coldReadyMs: number;
  coldRss: number;
  coldHeap: number;
  afterSnapshotRss: number;
  warmReadyMs: number;
  warmRss: number;
  warmHeap: number;
}

async function measureService(count: number): Promise<ServiceRow> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-memory-'));
  const rootKey = makeTestKey();
  try {
    const populateSeconds = count > 0 ? await populate(join(dataDir, 'keyledger.db'), count) : 0;
    console.error(`${count} keys written in ${populateSeconds.toFixed(1)} s; cold start`);
    const cold = await timedStart(dataDir, rootKey);
    let afterSnapshotRss = cold.memory.rss;
    if (count > 0) {
      await waitForLine(cold.service, 'projection snapshot saved');
      afterSnapshotRss = (await memoryOf(cold.service)).rss;
    }
    await cold.service.stop();
    const warm = await timedStart(dataDir, rootKey);
    await warm.service.stop();
    console.error(`${count} keys: cold ready ${(cold.readyMs / 1000).toFixed(1)} s, RSS ${(cold.memory.rss / 1e6).toFixed(0)} MB; warm ready ${(warm.readyMs / 1000).toFixed(2)} s, RSS ${(warm.memory.rss / 1e6).toFixed(0)} MB`);
    return {
      keys: count,
      populateSeconds,
      coldReadyMs: cold.readyMs,
      coldRss: cold.memory.rss,
      coldHeap: cold.memory.heap,
      afterSnapshotRss,
      warmReadyMs: warm.readyMs,
      warmRss: warm.memory.rss,
      warmHeap: warm.memory.heap,
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const serviceRows: ServiceRow[] = [];
if (!values['skip-service']) {
  const base = await measureService(0);
  serviceRows.push(base);
  for (const count of COUNTS) serviceRows.push(await measureService(count));
}
const verifierRows = [];
for (const count of COUNTS) {
  const row = await measureVerifierCache(count);
  console.error(`verifier cache ${count} keys: ${row.heapPerKey.toFixed(0)} B heap/key, ${row.rssPerKey.toFixed(0)} B RSS/key`);
  verifierRows.push(row);
}

const base = serviceRows[0];
const perKey = (bytes: number, baseBytes: number, keys: number) => ((bytes - baseBytes) / keys).toFixed(0);
const machine = `${platform()} ${release()}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 1e9).toFixed(0)} GB, node ${process.version}`;
const md = [
  '# Memory per key and start-up with many keys',
  '',
  `\`npx tsx --expose-gc bench/memory.ts --keys ${COUNTS.join(',')}\`, ${new Date().toISOString()}, ${machine}, load average ${loadavg()[0]?.toFixed(1)} at the end (2 cores shared with other work).`,
  '',
  'Keys written straight through the SQLite store (appendToStreams, 1000 keys a transaction), shaped as in bench/lib/bench-keys.ts: 20k consumers, 3 plans (rate limit + quota on two), 8 scope sets, an endpoint rule on a quarter of the keys, meta per consumer, an expiry on a fifth. Per key = (service RSS with N keys - RSS with none) / N; heap is V8 heap used, same subtraction.',
  '',
  '| keys | cold ready (whole log) | cold RSS / key | cold heap / key | RSS / key after the snapshot save | warm ready (snapshot) | warm RSS / key | warm heap / key |',
  '|---|---|---|---|---|---|---|---|',
  ...(base
    ? serviceRows.slice(1).map((r) =>
        `| ${r.keys.toLocaleString('en')} | ${(r.coldReadyMs / 1000).toFixed(1)} s | ${perKey(r.coldRss, base.coldRss, r.keys)} B | ${perKey(r.coldHeap, base.coldHeap, r.keys)} B | ${perKey(r.afterSnapshotRss, base.coldRss, r.keys)} B | ${(r.warmReadyMs / 1000).toFixed(2)} s | ${perKey(r.warmRss, base.warmRss, r.keys)} B | ${perKey(r.warmHeap, base.warmHeap, r.keys)} B |`)
    : []),
  '',
  base ? `Service with no keys: RSS ${(base.coldRss / 1e6).toFixed(0)} MB, heap ${(base.coldHeap / 1e6).toFixed(0)} MB, ready in ${(base.coldReadyMs / 1000).toFixed(2)} s.` : '',
  '',
  'SDK gateway verifier cache (in process, after a full GC):',
  '',
  '| cached keys | heap / key | RSS / key | fill time |',
  '|---|---|---|---|',
  ...verifierRows.map((r) => `| ${r.keys.toLocaleString('en')} | ${r.heapPerKey.toFixed(0)} B | ${r.rssPerKey.toFixed(0)} B | ${(r.fillMs / 1000).toFixed(2)} s |`),
  '',
  'Goals (issue 12): <= 1 KB per active key in the service, <= 512 B per cached key in the SDK verifier, at 1,000,000 keys.',
  '',
].join('\n');
console.log(md);
if (COUNTS.includes(1_000_000) && !values['skip-service']) {
  writeFileSync(join(RESULTS, 'memory.json'), `${JSON.stringify({ machine, date: new Date().toISOString(), serviceRows, verifierRows }, null, 2)}\n`);
  writeFileSync(join(RESULTS, 'memory.md'), md);
} else console.error('(partial run: results not written)');
void existsSync;
