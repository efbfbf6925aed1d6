/**
 * What atomic rotation costs: one `appendToStreams` (old key + successor, one transaction)
 * against the baseline it replaced, two `appendToStream` calls one after the other (old key
 * first, then the successor: two transactions, two commits).
 *
 *   npx tsx bench/multi-append.ts [--pairs 2000] [--rounds 3] [--concurrency 1,16]
 *
 * SQLite: a temp file with the product defaults (WAL, synchronous=FULL). PostgreSQL: a fresh
 * schema in KEYLEDGER_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres),
 * dropped at the end. Each row is the median round by pairs/s; ratios are against the baseline
 * of the same backend and concurrency. Results go to bench/results/multi-append.{json,md}.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type EventStore, openPostgresEventStore, openSqliteEventStore } from '@keyledger/service';

const { values } = parseArgs({
  options: { pairs: { type: 'string' }, rounds: { type: 'string' }, concurrency: { type: 'string' } },
  strict: true,
});
const PAIRS = Number(values.pairs ?? 2000);
const ROUNDS = Number(values.rounds ?? 3);
const CONCURRENCY = (values.concurrency ?? '1,16').split(',').map(Number);
const PG_URL = process.env.KEYLEDGER_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

const pg = createRequire(import.meta.url)('pg') as {
  Client: new (config: { connectionString: string }) => { connect(): Promise<void>; query(sql: string): Promise<unknown>; end(): Promise<void> };
};

type Mode = 'two appends (baseline)' | 'appendToStreams';
interface Row {
  backend: string;
  mode: Mode;
  concurrency: number;
  pairsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  ratio?: number;
}

const data = (i: number) => ({ keyId: `key_${i}`, scopes: ['orders:read', 'orders:write'], note: 'x'.repeat(200) });

async function rotate(store: EventStore, mode: Mode, old: string, i: number): Promise<void> {
  const successor = `key-${randomUUID()}`;
  if (mode === 'appendToStreams') {
    await store.appendToStreams([
      { stream: old, events: [{ type: 'KeyRotated', data: data(i) }], expectedRevision: 0 },
      { stream: successor, events: [{ type: 'KeyIssued', data: data(i) }], expectedRevision: 'no_stream' },
    ]);
  } else {
    await store.appendToStream(old, [{ type: 'KeyRotated', data: data(i) }], { expectedRevision: 0 });
    await store.appendToStream(successor, [{ type: 'KeyIssued', data: data(i) }], { expectedRevision: 'no_stream' });
  }
}

async function measure(store: EventStore, mode: Mode, concurrency: number): Promise<Omit<Row, 'backend'>> {
  // Untimed: the keys to rotate, each issued once.
  const olds = Array.from({ length: PAIRS }, () => `key-${randomUUID()}`);
  for (const [i, old] of olds.entries()) await store.appendToStream(old, [{ type: 'KeyIssued', data: data(i) }], { expectedRevision: 'no_stream' });
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < PAIRS) {
      const i = next++;
      const started = performance.now();
      await rotate(store, mode, olds[i] as string, i);
      latencies.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - started;
  const sorted = latencies.sort((a, b) => a - b);
  const at = (q: number) => Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2));
  return { mode, concurrency, pairsPerSecond: Math.round((PAIRS / wallMs) * 1000), p50Ms: at(0.5), p99Ms: at(0.99) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keyledger-bench-multi-'));
  const schema = `kl_bench_multi_${randomUUID().slice(0, 8)}`;
  const backends: [string, () => Promise<EventStore>][] = [
    ['sqlite', () => openSqliteEventStore({ file: join(dir, `${randomUUID()}.db`) })],
    ['postgres', () => openPostgresEventStore({ connectionString: PG_URL, schema })],
  ];
  const rows: Row[] = [];
  try {
    for (const [backend, open] of backends) {
      for (const concurrency of CONCURRENCY) {
        for (const mode of ['two appends (baseline)', 'appendToStreams'] as const) {
          const rounds: Omit<Row, 'backend'>[] = [];
          for (let r = 0; r < ROUNDS; r++) {
            const store = await open();
            try {
              rounds.push(await measure(store, mode, concurrency));
            } finally {
              await store.close();
            }
          }
          rounds.sort((a, b) => a.pairsPerSecond - b.pairsPerSecond);
          rows.push({ backend, ...(rounds[Math.floor(rounds.length / 2)] as Omit<Row, 'backend'>) });
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`drop schema if exists "${schema}" cascade`);
    await admin.end();
  }
  for (const row of rows) {
    const base = rows.find((r) => r.backend === row.backend && r.concurrency === row.concurrency && r.mode === 'two appends (baseline)');
    row.ratio = base ? Number((row.pairsPerSecond / base.pairsPerSecond).toFixed(2)) : undefined;
  }
  const header = '| backend | mode | concurrency | rotations/s | x baseline | p50 ms | p99 ms |\n|---|---|---:|---:|---:|---:|---:|';
  const lines = rows.map((r) => `| ${r.backend} | ${r.mode} | ${r.concurrency} | ${r.pairsPerSecond} | ${r.ratio} | ${r.p50Ms} | ${r.p99Ms} |`);
  const table = `${header}\n${lines.join('\n')}`;
  console.log(table);
  const meta = { date: new Date().toISOString(), pairs: PAIRS, rounds: ROUNDS, cpus: cpus().length, node: process.version };
  writeFileSync(join(RESULTS_DIR, 'multi-append.json'), `${JSON.stringify({ ...meta, rows }, null, 2)}\n`);
  writeFileSync(
    join(RESULTS_DIR, 'multi-append.md'),
    `# multi-append\n\nRotation step: one appendToStreams vs two appendToStream (baseline). ${PAIRS} pairs, median of ${ROUNDS} rounds, ${meta.cpus} cores, Node ${meta.node}, ${meta.date}.\n\n${table}\n`,
  );
}

await main();
