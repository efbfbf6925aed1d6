/**
 * Startup benchmark: how long a keyledger instance takes to become ready with a large ledger,
 * from the whole log (cold: no snapshot) and from a snapshot plus the tail (warm), on SQLite and
 * PostgreSQL; and how fast usage grows the ledger with batched vs per-key usage events.
 *
 *   npx tsx bench/startup.ts [--keys 1000000] [--backends sqlite,postgres] [--tail 10000] [--active 100000]
 *
 * Keys are written straight through the event store (appendToStream, one stream per key), not
 * over HTTP. "Ready" is the time from spawning the real built service (node dist/cli/main.js
 * serve) until it logs `keyledger listening`, which it does after its projections caught up.
 * Memory is the service's own resident set and V8 heap, read from /metrics right after ready.
 * Verify answers of the cold and the warm instance are compared for a sample of keys.
 * Env: KEYLEDGER_BENCH_PG_URL (admin connection; default postgres://postgres@127.0.0.1:5432/postgres).
 * Results go to bench/results/startup.{json,md} for a run at 1,000,000 keys (a run of one backend
 * replaces that backend's row and keeps the other's).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CURRENT_SCHEMA_VERSION } from '@keyledger/schemas';
import type { EventStore, NewEvent } from '../packages/service/src/store/port.js';
import { openSqliteEventStore } from '../packages/service/src/store/sqlite/index.js';
import { openPostgresEventStore } from '../packages/service/src/store/postgres/index.js';
import { UsageRecorder } from '../packages/service/src/verify/usage-recorder.js';
import { createLogger } from '../packages/service/src/logging.js';
import { deterministicUuid } from '../packages/service/src/app/ids.js';
import { keyNumber, metadata } from './lib/bench-keys.js';
import { makeTestKey, startService, type ServiceProcess } from '../test/support/service-process.js';
import { createScratchDatabase, type ScratchDatabase } from './lib/pg-database.js';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const FLUSH_SECONDS = 10;

const { values } = parseArgs({
  options: { keys: { type: 'string' }, backends: { type: 'string' }, tail: { type: 'string' }, active: { type: 'string' } },
  strict: true,
});
const KEYS = Number(values.keys ?? 1_000_000);
const TAIL = Number(values.tail ?? 10_000);
const ACTIVE = Number(values.active ?? 100_000);
/** `--backends ''` measures only the ledger growth and keeps the startup rows already in the results. */
const BACKENDS = (values.backends ?? 'sqlite,postgres').split(',').map((b) => b.trim()).filter((b) => b !== '') as ('sqlite' | 'postgres')[];
for (const backend of BACKENDS) if (backend !== 'sqlite' && backend !== 'postgres') throw new Error(`unknown backend ${backend}: sqlite or postgres`);
const PG_ADMIN = process.env.KEYLEDGER_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function populate(store: EventStore, from: number, to: number, concurrency: number): Promise<number> {
  const started = performance.now();
  let next = from;
  const at = new Date().toISOString();
  const worker = async () => {
    while (next < to) {
      const i = next++;
      const { data } = keyNumber(i);
      await store.appendToStream(`key-${data.keyId}`, [{ type: 'KeyIssued', data, metadata: metadata(at) }], { expectedRevision: 'no_stream' });
      if (i % 100_000 === 0 && i > from) console.error(`  ${i} keys written (${Math.round((i - from) / ((performance.now() - started) / 1000))}/s)`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return (performance.now() - started) / 1000;
}

/** The tail written between the cold and the warm start: half revocations, half new keys. */
async function writeTail(store: EventStore): Promise<void> {
  const at = new Date().toISOString();
  for (let n = 0; n < TAIL / 2; n++) {
    const { data } = keyNumber((n * 7919) % KEYS);
    await store.appendToStream(`key-${data.keyId}`, [{ type: 'KeyRevoked', data: { keyId: data.keyId, reason: 'bench tail' }, metadata: metadata(at) }]);
  }
  await populate(store, KEYS, KEYS + TAIL / 2, 4);
}

async function metric(service: ServiceProcess, name: string): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
}

/** Spawns the real service and measures spawn -> listening (after catch-up). */
async function timedStart(env: Record<string, string>, dataDir: string, rootKey: string) {
  const started = performance.now();
  const service = await startService({ env: { ...env, KEYLEDGER_LOG_LEVEL: 'info' }, dataDir, rootKey, timeoutMs: 30 * 60_000 });
  const readyMs = performance.now() - started;
  const rss = await metric(service, 'process_resident_memory_bytes');
  const heap = await metric(service, 'nodejs_heap_size_used_bytes');
  const line = service.output().split('\n').find((l) => l.includes('projections restored') || l.includes('projections rebuilt')) ?? '';
  const startLog = line ? (JSON.parse(line) as { snapshot: string; keys: number; tailEvents: number; ms: number; processCpuMs?: number }) : undefined;
  return { service, readyMs, rss, heap, startLog };
}

async function waitForSnapshot(service: ServiceProcess, timeoutMs = 10 * 60_000): Promise<{ bytes: number; encodeMs: number; totalMs: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = service.output().split('\n').find((l) => l.includes('projection snapshot saved'));
    if (line) return JSON.parse(line) as { bytes: number; encodeMs: number; totalMs: number };
    if (Date.now() > deadline) throw new Error('no snapshot saved');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function sampleVerify(service: ServiceProcess, rootKey: string): Promise<unknown[]> {
  const answers: unknown[] = [];
  for (let n = 0; n < 200; n++) {
    const { plaintext } = keyNumber((n * 4999) % KEYS);
    const response = await fetch(`${service.url}/v1/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rootKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key: plaintext, cost: 0 }),
    });
    const body = (await response.json()) as { limits: { rate: { limit: number } | null; quota: { limit: number } | null } };
    // Remaining counts move with every call; the limits and everything else must be identical.
    answers.push({ ...body, limits: { rate: body.limits.rate?.limit ?? null, quota: body.limits.quota?.limit ?? null } });
  }
  return answers;
}

interface StartupRow {
  backend: string;
  keys: number;
  populateSeconds: number;
  cold: { readyMs: number; cpuMs: number | undefined; rssMb: number; heapMb: number; snapshotBytes: number; snapshotSaveMs: number };
  warm: { readyMs: number; cpuMs: number | undefined; rssMb: number; heapMb: number; restoreMs: number | undefined; tailEvents: number | undefined };
  /** 1-minute load average of the machine when the warm start began (2 cores shared with other agents). */
  loadAverage: number;
  verifyIdentical: boolean;
}

async function runBackend(backend: 'sqlite' | 'postgres'): Promise<StartupRow> {
  const dataDir = mkdtempSync(join(tmpdir(), `keyledger-startup-${backend}-`));
  let scratch: ScratchDatabase | undefined;
  let store: EventStore;
  const env: Record<string, string> = { KEYLEDGER_SNAPSHOT_INTERVAL_SECONDS: '0', KEYLEDGER_SQLITE_SYNCHRONOUS: 'NORMAL' };
  if (backend === 'postgres') {
    scratch = await createScratchDatabase(PG_ADMIN, 'keyledger_startup');
    env.KEYLEDGER_DATABASE_URL = scratch.connectionString;
    env.KEYLEDGER_DATABASE_SCHEMA = 'keyledger';
    store = await openPostgresEventStore({ connectionString: scratch.connectionString, schema: 'keyledger', poolSize: 16 });
  } else {
    store = await openSqliteEventStore({ file: join(dataDir, 'keyledger.db'), synchronous: 'NORMAL' });
  }
  const rootKey = makeTestKey();
  try {
    console.error(`${backend}: writing ${KEYS} keys through the store`);
    const populateSeconds = await populate(store, 0, KEYS, backend === 'postgres' ? 16 : 1);
    console.error(`${backend}: ${KEYS} keys in ${populateSeconds.toFixed(1)} s; cold start (no snapshot)`);
    const cold = await timedStart(env, dataDir, rootKey);
    const saved = await waitForSnapshot(cold.service);
    const coldAnswers = await sampleVerify(cold.service, rootKey);
    await cold.service.stop();
    console.error(`${backend}: cold ready in ${(cold.readyMs / 1000).toFixed(1)} s, snapshot ${(saved.bytes / 1e6).toFixed(1)} MB; writing a tail of ${TAIL}`);
    await writeTail(store);
    const loadAverage = loadavg()[0] ?? 0;
    const warm = await timedStart(env, dataDir, rootKey);
    const warmAnswers = await sampleVerify(warm.service, rootKey);
    // The tail revoked some sampled keys: compare against a cold answer adjusted for it only by code.
    const identical = coldAnswers.every((answer, n) => {
      const after = warmAnswers[n] as { code: string };
      const revokedInTail = Array.from({ length: TAIL / 2 }, (_, t) => (t * 7919) % KEYS).includes((n * 4999) % KEYS);
      return revokedInTail ? after.code === 'REVOKED' : JSON.stringify(answer) === JSON.stringify(after);
    });
    await warm.service.stop();
    console.error(`${backend}: warm ready in ${(warm.readyMs / 1000).toFixed(2)} s (${warm.startLog?.snapshot}, tail ${warm.startLog?.tailEvents})`);
    return {
      backend,
      keys: KEYS,
      populateSeconds,
      cold: { readyMs: cold.readyMs, cpuMs: cold.startLog?.processCpuMs, rssMb: cold.rss / 1e6, heapMb: cold.heap / 1e6, snapshotBytes: saved.bytes, snapshotSaveMs: saved.totalMs },
      warm: { readyMs: warm.readyMs, cpuMs: warm.startLog?.processCpuMs, rssMb: warm.rss / 1e6, heapMb: warm.heap / 1e6, restoreMs: warm.startLog?.ms, tailEvents: warm.startLog?.tailEvents },
      loadAverage,
      verifyIdentical: identical && warm.startLog?.snapshot === 'restored',
    };
  } finally {
    await store.close();
    await scratch?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

interface GrowthRow {
  format: 'batched (UsageBatchRecorded)' | 'per-key (UsageRecorded)';
  eventsPerFlush: number;
  bytesPerFlush: number;
  eventsPerHourPerInstance: number;
  bytesPerHourPerInstance: number;
  bytesPerHourThreeInstances: number;
}

/** Ledger growth of one flush with ACTIVE keys active, on a SQLite file (logical rows + file growth). */
async function measureGrowth(): Promise<GrowthRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'keyledger-growth-'));
  const rows: GrowthRow[] = [];
  const flushesPerHour = 3600 / FLUSH_SECONDS;
  try {
    for (const format of ['batched (UsageBatchRecorded)', 'per-key (UsageRecorded)'] as const) {
      const file = join(dir, `${format.slice(0, 5)}.db`);
      // File sizes with the store closed: closing the last connection folds the WAL into the file.
      const fileBytes = () => statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
      await (await openSqliteEventStore({ file, synchronous: 'NORMAL' })).close();
      const before = fileBytes();
      const store = await openSqliteEventStore({ file, synchronous: 'NORMAL' });
      const windowStart = new Date(Date.UTC(2030, 5, 1));
      const keyIds = Array.from({ length: ACTIVE }, (_, i) => keyNumber(i).data.keyId);
      if (format.startsWith('batched')) {
        const recorder = new UsageRecorder(store, { intervalMs: 3_600_000, instanceId: 'bench-1', logger: createLogger('silent') });
        keyIds.forEach((keyId, i) => {
          for (let n = 0; n < 1 + (i % 5); n++) recorder.record(keyId, 'VALID', 1, i % 3 === 2 ? undefined : { windowStart, period: i % 3 === 0 ? 'day' : 'month' });
        });
        await recorder.flush();
      } else {
        // The shape the recorder wrote before batches: one event per key per flush on usage-<keyId>.
        const from = new Date(Date.now() - FLUSH_SECONDS * 1000).toISOString();
        const to = new Date().toISOString();
        for (const [i, keyId] of keyIds.entries()) {
          const event: NewEvent = {
            id: deterministicUuid('usage', 'bench-1', keyId, from),
            type: 'UsageRecorded',
            data: { keyId, from, to, counts: { VALID: 1 + (i % 5) }, units: 1 + (i % 5), quotaWindowStart: i % 3 === 2 ? null : windowStart.toISOString(), quotaPeriod: i % 3 === 2 ? null : i % 3 === 0 ? 'day' : 'month', instanceId: 'bench-1' },
            metadata: { ...metadata(to), schemaVersion: CURRENT_SCHEMA_VERSION.UsageRecorded, actor: { kind: 'system', id: 'usage:bench-1' } },
          };
          await store.appendToStream(`usage-${keyId}`, [event]);
        }
      }
      let events = 0;
      let after: string | undefined;
      for (;;) {
        const page = await store.readAll({ ...(after === undefined ? {} : { after }), maxCount: 1000, categories: ['usage'] });
        events += page.events.length;
        if (page.events.length === 0 || page.checkpoint === undefined) break;
        after = page.checkpoint;
      }
      await store.close();
      const bytes = fileBytes() - before;
      rows.push({
        format,
        eventsPerFlush: events,
        bytesPerFlush: bytes,
        eventsPerHourPerInstance: events * flushesPerHour,
        bytesPerHourPerInstance: bytes * flushesPerHour,
        bytesPerHourThreeInstances: bytes * flushesPerHour * 3,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(2)} GB`;

const fresh: StartupRow[] = [];
for (const backend of BACKENDS) fresh.push(await runBackend(backend));
console.error(`growth: one flush with ${ACTIVE} active keys, batched and per-key`);
const growth = await measureGrowth();

// A run at full scale replaces its backends' rows in bench/results/startup.json and keeps the others'.
const full = KEYS >= 1_000_000;
const resultsFile = join(RESULTS, 'startup.json');
const previous = full && existsSync(resultsFile) ? (JSON.parse(readFileSync(resultsFile, 'utf8')) as { startup?: StartupRow[] }).startup ?? [] : [];
const startup = [...previous.filter((row) => !BACKENDS.includes(row.backend as 'sqlite' | 'postgres') && row.keys === KEYS), ...fresh];
const cpu = (ms: number | undefined) => (ms === undefined ? '?' : `${(ms / 1000).toFixed(1)} s`);

const machine = `${platform()} ${release()}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 1e9).toFixed(0)} GB, node ${process.version}`;
const startupTable = [
  '| backend | keys | cold ready (whole log) | cold CPU | cold RSS / heap | snapshot | snapshot save | warm ready (snapshot + tail) | warm CPU | restore + tail inside the service | tail events | warm RSS / heap | load avg at warm start | verify answers identical |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...startup.map((r) =>
    `| ${r.backend} | ${r.keys.toLocaleString('en')} | ${(r.cold.readyMs / 1000).toFixed(1)} s | ${cpu(r.cold.cpuMs)} | ${r.cold.rssMb.toFixed(0)} / ${r.cold.heapMb.toFixed(0)} MB | ${mb(r.cold.snapshotBytes)} | ${(r.cold.snapshotSaveMs / 1000).toFixed(1)} s | **${(r.warm.readyMs / 1000).toFixed(2)} s** | ${cpu(r.warm.cpuMs)} | ${r.warm.restoreMs ?? '?'} ms | ${r.warm.tailEvents ?? '?'} | ${r.warm.rssMb.toFixed(0)} / ${r.warm.heapMb.toFixed(0)} MB | ${r.loadAverage?.toFixed(1) ?? '?'} | ${r.verifyIdentical ? 'yes' : 'NO'} |`),
];
const growthTable = [
  `| usage format | events per flush | bytes per flush | events / hour / instance | bytes / hour / instance | bytes / hour, 3 instances |`,
  '|---|---|---|---|---|---|',
  ...growth.map((g) => `| ${g.format} | ${g.eventsPerFlush.toLocaleString('en')} | ${mb(g.bytesPerFlush)} | ${g.eventsPerHourPerInstance.toLocaleString('en')} | ${gb(g.bytesPerHourPerInstance)} | ${gb(g.bytesPerHourThreeInstances)} |`),
];
const text = [
  '# Startup and ledger growth',
  '',
  `\`npx tsx bench/startup.ts --keys ${KEYS} --tail ${TAIL} --active ${ACTIVE}\` (one \`--backends\` at a time is fine: rows merge; last run ${new Date().toISOString()}; ${machine}; shared with other agents, see the load average column).`,
  '',
  'Ready = spawn of the built service until it listens (after its projections caught up). Cold: no snapshot, the whole log is replayed. Warm: the snapshot the cold start saved, plus a tail of revocations and new keys written in between.',
  '',
  ...startupTable,
  '',
  `Ledger growth from usage with ${ACTIVE.toLocaleString('en')} active keys, one flush every ${FLUSH_SECONDS} s (${3600 / FLUSH_SECONDS} flushes/hour), measured as SQLite file growth for one flush:`,
  '',
  ...growthTable,
  '',
].join('\n');
console.log(text);
if (full) {
  writeFileSync(resultsFile, `${JSON.stringify({ machine, date: new Date().toISOString(), keys: KEYS, tail: TAIL, active: ACTIVE, startup, growth }, null, 2)}\n`);
  writeFileSync(join(RESULTS, 'startup.md'), `${text}\n`);
} else {
  console.error('(partial run: results not written; use --keys 1000000)');
}
