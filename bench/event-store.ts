/**
 * Event store benchmark: keyledger's SQLite and PostgreSQL stores side by side with Emmett's
 * PostgreSQL event store, on the same PostgreSQL server and database. See bench/README.md.
 *
 *   npx tsx bench/event-store.ts [--backends sqlite,postgres,emmett-postgres] [--scale 0.1] [--rounds 3]
 *
 * Env: KEYLEDGER_BENCH_PG_URL, an admin connection the run creates (and drops) its own database
 * from (default postgres://postgres@127.0.0.1:5432/postgres).
 * Each row is the median of the rounds. Results go to bench/results/event-store.{json,md} only
 * for a full run (all backends, scale 1, at least 3 rounds).
 */

import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { typicalSizes } from './lib/event-store/payload.js';
import { markdown, medianRows, textTable, withRatios, type Results } from './lib/event-store/report.js';
import type { BackendName, WorkerReply, WorkerRequest } from './lib/event-store/worker.js';
import type { Measurement } from './lib/event-store/workload.js';
import { createScratchDatabase, type ScratchDatabase } from './lib/pg-database.js';

const ALL_BACKENDS: readonly BackendName[] = ['sqlite', 'postgres', 'emmett-postgres'];
const WORKER = fileURLToPath(new URL('./lib/event-store/worker.ts', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const OUR_SCHEMA = 'keyledger_bench';

function parseOptions(): { backends: BackendName[]; scale: number; rounds: number } {
  const { values } = parseArgs({
    options: { backends: { type: 'string' }, scale: { type: 'string' }, rounds: { type: 'string' } },
    strict: true,
  });
  const backends = (values.backends ?? ALL_BACKENDS.join(',')).split(',').map((b) => b.trim());
  for (const b of backends) {
    if (!ALL_BACKENDS.includes(b as BackendName)) {
      throw new Error(`unknown backend "${b}"; choose from ${ALL_BACKENDS.join(', ')}`);
    }
  }
  const scale = values.scale === undefined ? 1 : Number(values.scale);
  if (!(scale > 0 && scale <= 10)) throw new Error(`--scale must be a number in (0, 10], got ${values.scale}`);
  const rounds = values.rounds === undefined ? 3 : Number(values.rounds);
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20)) throw new Error(`--rounds must be 1-20, got ${values.rounds}`);
  return { backends: backends as BackendName[], scale, rounds };
}

/** Runs one backend's suite in a child process (inheriting tsx's loader) and returns its rows. */
function runWorker(request: WorkerRequest): Promise<Measurement[]> {
  return new Promise((resolve, reject) => {
    const child = fork(WORKER, [], {
      env: { ...process.env, BENCH_WORKER: JSON.stringify(request) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let reply: WorkerReply | undefined;
    child.on('message', (message) => {
      reply = message as WorkerReply;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (reply?.ok) resolve(reply.rows);
      else if (reply) reject(new Error(`${request.backend} failed:\n${reply.error}`));
      else reject(new Error(`${request.backend} worker exited (${signal ?? code}) without a result`));
    });
  });
}

function emmettVersion(): string | null {
  try {
    const require = createRequire(import.meta.url);
    const entry = require.resolve('@event-driven-io/emmett-postgresql');
    const manifest = join(entry.slice(0, entry.lastIndexOf('/dist/')), 'package.json');
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const { backends, scale, rounds: roundCount } = parseOptions();
  const needsPostgres = backends.some((b) => b !== 'sqlite');
  const adminUrl = process.env.KEYLEDGER_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  let serverVersion: string | null = null;
  // Every round runs each backend once on a fresh database and file, backends taking turns, so a
  // burst of other work on the machine lands on one round of one backend, not on all its rows.
  const rounds = new Map<BackendName, Measurement[][]>(backends.map((b) => [b, []]));
  for (let round = 1; round <= roundCount; round++) {
    const sqliteDir = mkdtempSync(join(tmpdir(), 'keyledger-bench-'));
      let database: ScratchDatabase | undefined;
    try {
      if (needsPostgres) {
        database = await createScratchDatabase(adminUrl, 'keyledger_bench');
        serverVersion = database.serverVersion;
        console.error(`round ${round}/${roundCount}: database ${database.name} (PostgreSQL ${serverVersion})`);
      }
      for (const backend of backends) {
        console.error(`round ${round}/${roundCount}: ${backend}`);
        const rows = await runWorker({
          backend,
          scale,
          sqliteFile: join(sqliteDir, 'events.db'),
          connectionString: database?.connectionString,
          schema: OUR_SCHEMA,
        });
        rounds.get(backend)!.push(rows);
      }
    } finally {
      await database?.drop().catch((error: unknown) => console.error(`could not drop ${database?.name}:`, error));
      rmSync(sqliteDir, { recursive: true, force: true });
    }
  }
  const byBackend = new Map([...rounds].map(([backend, runs]) => [backend, medianRows(runs)]));

  const cpuList = cpus();
  const results: Results = {
    environment: {
      date: new Date().toISOString(),
      node: process.version,
      platform: `${platform()} ${release()}`,
      cpus: cpuList.length,
      cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
      memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
      postgres: serverVersion,
      emmettPostgresql: emmettVersion(),
      payload: typicalSizes(),
      scale,
      rounds: roundCount,
    },
    rows: withRatios(byBackend),
  };

  console.log(textTable(results.rows));
  const fullRun = scale === 1 && roundCount >= 3 && ALL_BACKENDS.every((b) => backends.includes(b));
  if (fullRun) {
    writeFileSync(join(RESULTS_DIR, 'event-store.json'), `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(join(RESULTS_DIR, 'event-store.md'), markdown(results));
    console.error(`results written to ${join(RESULTS_DIR, 'event-store.{json,md}')}`);
  } else {
    console.error('partial run (some backends or --scale): results files left unchanged');
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
