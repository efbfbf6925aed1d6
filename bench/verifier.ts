/**
 * Cached verify, in process, on one core: a gateway verifier with the key's facts cached (the
 * feed live), then `verify(key)` in a tight loop. Each call checks the key's format and
 * checksum, digests it with SHA-256, looks it up in the LRU and evaluates status, scope and
 * endpoint. Baseline row: SHA-256 plus a Map lookup alone. Goal: >= 1M verifications/s.
 *
 * Starts a real (SQLite) service only to fill the cache; the timed loop makes no network call
 * (the run fails if it did). Results: bench/results/verifier.{json,md}.
 */
import { createHash, hash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createClient, createVerifier } from '@keyledger/sdk';
import { startService } from '../test/support/service-process.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const DURATION_MS = Number(process.env.KEYLEDGER_BENCH_DURATION_MS ?? 3_000);

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
  const rows = [];
  rows.push(await measure('baseline: SHA-256 (crypto.hash) + Map lookup', () => map.get(hash('sha256', secret, 'base64')), false));
  rows.push(await measure('baseline: SHA-256 (createHash) + Map lookup', () => map.get(createHash('sha256').update(secret).digest('base64')), false));
  const remoteBefore = verifier.stats().remote;
  rows.push(await measure('verifier.verify(key) cached, no scope check', () => verifier.verify(secret), true));
  rows.push(await measure('verifier.verify(key, { scopes, endpoint }) cached', () => verifier.verify(secret, context), true));
  if (verifier.stats().remote !== remoteBefore) throw new Error('a timed call went to the service: the numbers would be meaningless');

  const result = {
    benchmark: 'verifier',
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    durationMs: DURATION_MS,
    goalOpsPerSecond: 1_000_000,
    rows,
  };
  const table = rows.map((r) => `| ${r.name} | ${r.opsPerSecond.toLocaleString('en-US')} |`).join('\n');
  const md = `# Cached verify, in process, one core\n\n${result.date}, Node ${result.node}, ${result.cpu}. Goal: >= 1,000,000 ops/s.\n\n| case | ops/s |\n|---|---:|\n${table}\n`;
  console.log(md);
  writeFileSync(`${RESULTS_DIR}verifier.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${RESULTS_DIR}verifier.md`, md);
} finally {
  await verifier.close();
  await client.close();
  await service.stop();
}
