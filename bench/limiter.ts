/**
 * Limiter benchmark, in process: checks per second of the memory limiter and of the Redis limiter
 * for the single rate + quota a key carries today (the baseline) and for a plan's shape (two named
 * rate limits, a quota and credits), with and without a chargeId. Ratios are against the baseline
 * of the same limiter.
 *
 *   npx tsx bench/limiter.ts [--checks 200000] [--redis-checks 20000] [--concurrency 50]
 *
 * Env: KEYLEDGER_BENCH_REDIS_URL (default redis://127.0.0.1:6379/0); the Redis rows are skipped,
 * and say so, when Redis is not reachable. Keys go under a random prefix, deleted at the end.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createMemoryLimiter, createRedisLimiter, type LimitRequest, type Limiter } from '../packages/service/src/limits/index.js';

const { values } = parseArgs({
  options: { checks: { type: 'string' }, 'redis-checks': { type: 'string' }, concurrency: { type: 'string' } },
  strict: true,
});
const CHECKS = Number(values.checks ?? 200_000);
const REDIS_CHECKS = Number(values['redis-checks'] ?? 20_000);
const CONCURRENCY = Number(values.concurrency ?? 50);
const REDIS_URL = process.env.KEYLEDGER_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const SUBJECTS = 1000;

type Shape = 'single rate + quota (baseline)' | 'plan: 2 rates + quota + credits' | 'plan + chargeId';

/** Limits high enough that nothing is refused: the bench measures the charging path. */
function requestFor(shape: Shape, subject: string, n: number): LimitRequest {
  if (shape === 'single rate + quota (baseline)') {
    return { subject, rate: { limit: 1_000_000_000, windowSeconds: 3600 }, quota: { limit: 1_000_000_000_000, period: 'month' }, cost: 1 };
  }
  const request: LimitRequest = {
    subject,
    rates: [
      { name: 'burst', limit: 1_000_000, windowSeconds: 1 },
      { name: 'sustained', limit: 1_000_000_000, windowSeconds: 3600 },
    ],
    quota: { limit: 1_000_000_000_000, period: 'month' },
    credits: { initial: 1_000_000_000_000, refill: { amount: 1000, period: 'day', mode: 'add' } },
    cost: 1,
  };
  if (shape === 'plan + chargeId') request.chargeId = `c-${n}`;
  return request;
}

async function measure(limiter: Limiter, shape: Shape, checks: number, concurrency: number): Promise<number> {
  const subjects = Array.from({ length: SUBJECTS }, (_, i) => `key_bench_${i}`);
  let next = 0;
  async function worker(): Promise<void> {
    while (next < checks) {
      const n = next++;
      const decision = await limiter.check(requestFor(shape, subjects[n % SUBJECTS]!, n));
      if (!decision.allowed) throw new Error(`refused: ${decision.code}`);
    }
  }
  // Warm-up, then the measured run.
  next = 0;
  const warm = Math.min(2000, checks);
  const saved = checks;
  checks = warm;
  await Promise.all(Array.from({ length: concurrency }, worker));
  checks = saved;
  next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return checks / ((performance.now() - started) / 1000);
}

const SHAPES: Shape[] = ['single rate + quota (baseline)', 'plan: 2 rates + quota + credits', 'plan + chargeId'];
const rows: { limiter: string; shape: Shape; checksPerSec: number; ratio: number }[] = [];

for (const shape of SHAPES) {
  const limiter = createMemoryLimiter();
  const rate = await measure(limiter, shape, CHECKS, 1);
  await limiter.close();
  rows.push({ limiter: 'memory', shape, checksPerSec: Math.round(rate), ratio: 0 });
}

const prefix = `klbench:${randomUUID()}:`;
const admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
let redisUp = true;
try {
  await admin.connect();
} catch {
  redisUp = false;
  console.log(`Redis at ${REDIS_URL} unreachable: Redis rows skipped`);
}
if (redisUp) {
  for (const shape of SHAPES) {
    const limiter = createRedisLimiter({ url: REDIS_URL, keyPrefix: prefix, commandTimeoutMs: 2000 });
    const rate = await measure(limiter, shape, REDIS_CHECKS, CONCURRENCY);
    await limiter.close();
    rows.push({ limiter: `redis (${CONCURRENCY} in flight)`, shape, checksPerSec: Math.round(rate), ratio: 0 });
  }
  let cursor = '0';
  do {
    const [nextCursor, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = nextCursor;
  } while (cursor !== '0');
  await admin.quit();
}

for (const row of rows) {
  const baseline = rows.find((r) => r.limiter === row.limiter && r.shape === 'single rate + quota (baseline)')!;
  row.ratio = Math.round((row.checksPerSec / baseline.checksPerSec) * 100) / 100;
}

const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, load ${loadavg()[0]?.toFixed(2)}`;
const table = [
  '| limiter | shape | checks/s | vs baseline |',
  '|---|---|---:|---:|',
  ...rows.map((r) => `| ${r.limiter} | ${r.shape} | ${r.checksPerSec} | ${r.ratio} |`),
].join('\n');
console.log(`${machine}\n${table}`);
writeFileSync(`${RESULTS}limiter.json`, `${JSON.stringify({ machine, checks: CHECKS, redisChecks: REDIS_CHECKS, concurrency: CONCURRENCY, rows }, null, 2)}\n`);
writeFileSync(
  `${RESULTS}limiter.md`,
  `# Limiter checks per second\n\n\`npx tsx bench/limiter.ts\` on ${machine} (shared, noisy machine).\n\n${table}\n`,
);
