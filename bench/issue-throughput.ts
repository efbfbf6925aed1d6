/**
 * Issue throughput over HTTP against the raw append rate of the same store, in one run: the built
 * service on SQLite with the product default `synchronous=FULL` (every acknowledged append is
 * fsynced), 16 concurrent clients (autocannon, its own process) sending POST /v1/keys; then the
 * same kind of store (a fresh SQLite file, FULL) driven in process by 16 concurrent writers
 * appending one KeyIssued-sized event per append, no HTTP. Rounds alternate; medians reported.
 *
 *   pnpm build && npx tsx bench/issue-throughput.ts [--seconds 8] [--rounds 3] [--clients 16]
 *
 * Results: bench/results/issue-throughput.{json,md}.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openSqliteEventStore } from '../packages/service/src/store/sqlite/index.js';
import { startService } from '../test/support/service-process.js';
import { keyNumber, metadata } from './lib/bench-keys.js';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, rounds: { type: 'string' }, clients: { type: 'string' } }, strict: true });
const SECONDS = Number(values.seconds ?? 8);
const ROUNDS = Number(values.rounds ?? 3);
const CLIENTS = Number(values.clients ?? 16);
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const BENCH_DIR = fileURLToPath(new URL('./', import.meta.url));

const LOADER = `
import autocannon from 'autocannon';
const r = await autocannon(JSON.parse(process.argv[1]));
process.stdout.write(JSON.stringify({ perSecond: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx, total: r.requests.total }));
`;

interface Result {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

async function autocannon(options: object): Promise<Result> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', LOADER, JSON.stringify(options)], { cwd: BENCH_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`autocannon exited with ${code}`);
  return JSON.parse(out) as Result;
}

/** 16 writers, each appending one KeyIssued event to a fresh stream per append, for SECONDS. */
async function rawAppends(groupCommit: boolean): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'keyledger-issue-raw-'));
  const store = await openSqliteEventStore({ file: join(dir, 'keyledger.db'), synchronous: 'FULL', groupCommit });
  const at = new Date().toISOString();
  const latencies: number[] = [];
  let next = 0;
  try {
    const deadline = performance.now() + SECONDS * 1000;
    const writer = async () => {
      while (performance.now() < deadline) {
        const { data } = keyNumber(next++);
        const started = performance.now();
        await store.appendToStream(`key-${data.keyId}`, [{ type: 'KeyIssued', data, metadata: metadata(at) }], { expectedRevision: 'no_stream' });
        latencies.push(performance.now() - started);
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: CLIENTS }, writer));
    const elapsed = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const at99 = latencies[Math.floor(latencies.length * 0.99)] ?? 0;
    return { perSecond: latencies.length / elapsed, p50Ms: Number((latencies[Math.floor(latencies.length / 2)] ?? 0).toFixed(1)), p99Ms: Number(at99.toFixed(1)), errors: 0, non2xx: 0 };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const service = await startService({ env: { KEYLEDGER_SQLITE_SYNCHRONOUS: 'FULL' } });
const rows: { http: Result[]; raw: Result[]; rawSerial: Result[] } = { http: [], raw: [], rawSerial: [] };
try {
  const issue = (seconds: number) =>
    autocannon({
      url: `${service.url}/v1/keys`,
      method: 'POST',
      connections: CLIENTS,
      duration: seconds,
      headers: { authorization: `Bearer ${service.rootKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ consumerId: 'bench', scopes: ['orders:read'], rateLimit: { limit: 100, windowSeconds: 1 }, quota: { limit: 100_000, period: 'month' }, meta: { tier: 'pro' } }),
    });
  await issue(2);
  for (let round = 0; round < ROUNDS; round++) {
    const http = await issue(SECONDS);
    rows.http.push(http);
    const raw = await rawAppends(true);
    rows.raw.push(raw);
    const serial = await rawAppends(false);
    rows.rawSerial.push(serial);
    console.error(`round ${round + 1}: HTTP issue ${Math.round(http.perSecond)}/s (p99 ${http.p99Ms} ms, non-2xx ${http.non2xx}); raw append ${Math.round(raw.perSecond)}/s, without group commit ${Math.round(serial.perSecond)}/s`);
  }
} finally {
  await service.stop();
}
const median = (results: Result[]) => [...results].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(results.length / 2)]!;
const http = median(rows.http);
const raw = median(rows.raw);
const serial = median(rows.rawSerial);
const machine = `${platform()} ${release()}, ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}`;
const md = [
  '# Issue throughput: HTTP vs the raw append rate of the same store',
  '',
  `\`npx tsx bench/issue-throughput.ts --seconds ${SECONDS} --rounds ${ROUNDS} --clients ${CLIENTS}\`, ${new Date().toISOString()}, ${machine}, load average ${loadavg()[0]?.toFixed(1)} at the end (2 cores shared with other work). SQLite, \`synchronous=FULL\`, WAL; ${CLIENTS} concurrent clients; median of ${ROUNDS} rounds of ${SECONDS} s.`,
  '',
  '| path | per second | p50 ms | p99 ms | errors | non-2xx |',
  '|---|---:|---:|---:|---:|---:|',
  `| POST /v1/keys over HTTP (${CLIENTS} connections) | ${Math.round(http.perSecond)} | ${http.p50Ms} | ${http.p99Ms} | ${http.errors} | ${http.non2xx} |`,
  `| raw appendToStream, in process (${CLIENTS} writers), group commit (the product default) | ${Math.round(raw.perSecond)} | ${raw.p50Ms} | ${raw.p99Ms} | 0 | 0 |`,
  `| raw appendToStream, in process (${CLIENTS} writers), one transaction and fsync per append | ${Math.round(serial.perSecond)} | ${serial.p50Ms} | ${serial.p99Ms} | 0 | 0 |`,
  '',
  `HTTP issue / raw append (same store, group commit): **${(http.perSecond / raw.perSecond).toFixed(2)}x**; group commit / one fsync per append, raw: **${(raw.perSecond / serial.perSecond).toFixed(2)}x**.`,
  `The service under test is the built one (\`pnpm build\` first): ${process.env.KEYLEDGER_BENCH_LABEL ?? 'the current build'}.`,
  '',
].join('\n');
console.log(md);
if (SECONDS >= 8 && ROUNDS >= 3) {
  writeFileSync(join(RESULTS, 'issue-throughput.json'), `${JSON.stringify({ machine, date: new Date().toISOString(), clients: CLIENTS, seconds: SECONDS, rows }, null, 2)}\n`);
  writeFileSync(join(RESULTS, 'issue-throughput.md'), `${md}\n`);
}
