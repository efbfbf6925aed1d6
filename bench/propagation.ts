/**
 * Revocation propagation across instances: two service processes on one PostgreSQL database, a
 * gateway verifier following instance B with the key cached, and 200 revocations made through
 * instance A. For each: the time from A's revoke response to the first REVOKED answer from the
 * verifier, which verifies the key in a tight loop (cached answers, no network). p50 and p99;
 * goal p99 <= 50 ms. Env: KEYLEDGER_BENCH_PG_URL (admin URL; a scratch database is created and
 * dropped). Results: bench/results/propagation.{json,md}.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createClient, createVerifier } from '@keyledger/sdk';
import { startService, type ServiceProcess } from '../test/support/service-process.js';
import { createScratchDatabase } from './lib/pg-database.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));
const REVOCATIONS = Number(process.env.KEYLEDGER_BENCH_REVOCATIONS ?? 200);
const adminUrl = process.env.KEYLEDGER_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

const database = await createScratchDatabase(adminUrl, 'kl_bench_propagation');
const services: ServiceProcess[] = [];
try {
  const env = { KEYLEDGER_DATABASE_URL: database.connectionString };
  const a = await startService({ env });
  services.push(a);
  const b = await startService({ env, rootKey: a.rootKey });
  services.push(b);
  const clientA = createClient({ baseUrl: a.url, token: a.rootKey });
  const clientB = createClient({ baseUrl: b.url, token: a.rootKey });
  const verifier = createVerifier({ client: clientB });
  await verifier.ready();

  const samples: number[] = [];
  for (let i = 0; i < REVOCATIONS; i++) {
    const issued = await clientA.keys.issue({ consumerId: `bench_${i % 10}` });
    const secret = issued.secret as string; // a fresh issue always carries its secret
    // Wait until B answers for the key from the cache.
    for (let tries = 0; verifier.peek(secret)?.code !== 'VALID'; tries++) {
      if (tries > 2_000) throw new Error(`key ${i} never reached the cache`);
      await verifier.verify(secret);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await clientA.keys.revoke(issued.id, {});
    const answered = performance.now();
    // Verify in a tight loop, yielding to the event loop so the feed can deliver.
    for (;;) {
      const result = await verifier.verify(secret);
      if (result.code === 'REVOKED') break;
      if (performance.now() - answered > 10_000) throw new Error(`revocation ${i} did not propagate within 10 s`);
      await tick();
    }
    samples.push(performance.now() - answered);
  }
  await verifier.close();
  await clientA.close();
  await clientB.close();

  const sorted = [...samples].sort((x, y) => x - y);
  const round = (ms: number) => Math.round(ms * 100) / 100;
  const result = {
    benchmark: 'propagation',
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    postgres: database.serverVersion,
    revocations: samples.length,
    goalP99Ms: 50,
    ms: { p50: round(percentile(sorted, 50)), p90: round(percentile(sorted, 90)), p99: round(percentile(sorted, 99)), max: round(sorted.at(-1)!), min: round(sorted[0]!) },
  };
  const md = `# Revocation propagation (PostgreSQL, two instances)\n\n${result.date}, Node ${result.node}, ${result.cpu} x${result.cores}, PostgreSQL ${result.postgres}.\n` +
    `Time from the revoke response on instance A to the first REVOKED from a verifier following instance B, over ${result.revocations} revocations. Goal: p99 <= 50 ms.\n\n` +
    `| p50 | p90 | p99 | max |\n|---:|---:|---:|---:|\n| ${result.ms.p50} ms | ${result.ms.p90} ms | ${result.ms.p99} ms | ${result.ms.max} ms |\n`;
  console.log(md);
  writeFileSync(`${RESULTS_DIR}propagation.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${RESULTS_DIR}propagation.md`, md);
} finally {
  for (const service of services.reverse()) await service.stop();
  await database.drop();
}
