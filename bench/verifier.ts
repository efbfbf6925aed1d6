/**
 * Cached verify, in process, on one core: a gateway verifier with the key's facts cached (the
 * feed live), then `verify(key)` in a tight loop. Each call checks the key's format and
 * checksum, digests it with SHA-256, looks it up in the LRU and evaluates status, scope and
 * endpoint. Baseline row: SHA-256 plus a Map lookup alone (and the same awaited, which is what a
 * Promise-returning API costs at the least). Rounds: every row once per round, median of 3.
 * Goals (issue 12): cached with scope + endpoint >= 0.6x the SHA-256 + Map baseline, without >= 0.8x.
 *
 * Starts a real (SQLite) service only to fill the cache; the timed loop makes no network call
 * (the run fails if it did). Results: bench/results/verifier.{json,md}.
 */
import { createHash, hash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createClient, createVerifier } from '@keyledger/sdk';
import { startService } from '../test/support/service-process.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const DURATION_MS = Number(process.env.KEYLEDGER_BENCH_DURATION_MS ?? 2_000);
const ROUNDS = Number(process.env.KEYLEDGER_BENCH_ROUNDS ?? 3);

/** Counts calls over DURATION_MS after a warm-up, reading the clock every 1024 calls. */
async function measure(name: string, step: () => unknown, awaitEach: boolean): Promise<{ name: string; opsPerSecond: number }> {
  const run = async (n: number) => {
    // The verifier's API is a promise, so its loop awaits each call; the baseline does not.
    if (awaitEach) for (let i = 0; i < n; i++) await step();
    else for (let i = 0; i < n; i++) step();
  };
  await run(100_000);
  let ops = 0;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < DURATION_MS) {
    await run(1024);
    ops += 1024;
    elapsed = performance.now() - started;
  }
  return { name, opsPerSecond: Math.round((ops / elapsed) * 1000) };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const service = await startService();
const client = createClient({ baseUrl: service.url, token: service.rootKey });
const verifier = createVerifier({ client });
try {
  await verifier.ready();
  const issued = await client.keys.issue({ consumerId: 'bench', scopes: ['orders:read'], endpoints: ['GET /orders/*'] });
  const context = { scopes: ['orders:read'], endpoint: { method: 'GET', path: '/orders/42' } };
  const secret = issued.secret as string; // a fresh issue always carries its secret
  for (let i = 0; i < 500 && verifier.peek(secret, context)?.code !== 'VALID'; i++) {
    await verifier.verify(secret, context);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (verifier.peek(secret, context)?.code !== 'VALID') throw new Error('the key never reached the cache');

  const map = new Map([[hash('sha256', secret, 'base64'), 1]]);
  const cases: [string, () => unknown, boolean][] = [
    ['baseline: SHA-256 (crypto.hash) + Map lookup', () => map.get(hash('sha256', secret, 'base64')), false],
    ['baseline: SHA-256 (crypto.hash) + Map lookup, awaited', () => map.get(hash('sha256', secret, 'base64')), true],
    ['baseline: SHA-256 (createHash) + Map lookup', () => map.get(createHash('sha256').update(secret).digest('base64')), false],
    ['verifier.verify(key) cached, no scope check', () => verifier.verify(secret), true],
    ['verifier.verify(key, { scopes, endpoint }) cached', () => verifier.verify(secret, context), true],
  ];
  const remoteBefore = verifier.stats().remote;
  const samples = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, step, awaitEach] of cases) samples.get(name)!.push((await measure(name, step, awaitEach)).opsPerSecond);
  }
  if (verifier.stats().remote !== remoteBefore) throw new Error('a timed call went to the service: the numbers would be meaningless');
  const baseline = median(samples.get(cases[0]![0])!);
  const rows = cases.map(([name]) => {
    const opsPerSecond = median(samples.get(name)!);
    return { name, opsPerSecond, ratio: Number((opsPerSecond / baseline).toFixed(2)), range: [Math.min(...samples.get(name)!), Math.max(...samples.get(name)!)] };
  });

  const result = {
    benchmark: 'verifier',
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    durationMs: DURATION_MS,
    rounds: ROUNDS,
    goals: 'cached with scope + endpoint >= 0.6x the SHA-256 (crypto.hash) + Map baseline, without >= 0.8x',
    rows,
  };
  const table = rows.map((r) => `| ${r.name} | ${r.opsPerSecond.toLocaleString('en-US')} | ${r.range[0]!.toLocaleString('en-US')}-${r.range[1]!.toLocaleString('en-US')} | ${r.ratio.toFixed(2)} |`).join('\n');
  const md = `# Cached verify, in process, one core\n\n${result.date}, Node ${result.node}, ${result.cpu}; load average ${loadavg()[0]?.toFixed(1)} (2 cores shared with other work). Median of ${ROUNDS} rounds of ${DURATION_MS} ms per row, rows taking turns.\n\n| case | ops/s | range | x baseline |\n|---|---:|---:|---:|\n${table}\n\nGoals (issue 12): ${result.goals}. The verifier's API returns a promise and the loop awaits each call; the awaited baseline row is the ceiling any Promise-returning API reaches here.\n`;
  console.log(md);
  writeFileSync(`${RESULTS_DIR}verifier.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${RESULTS_DIR}verifier.md`, md);
} finally {
  await verifier.close();
  await client.close();
  await service.stop();
}
