/**
 * Verify benchmark: autocannon (50 connections) against POST /v1/verify of the built service (a
 * real process, SQLite) with the memory limiter and with the Redis limiter, and in the same run
 * against a bare fastify route (its own process, same machine) that parses the same JSON body
 * and returns a small JSON object. Reports req/s, p50, p99 and verify/bare.
 *
 *   pnpm build && npx tsx bench/verify.ts [--seconds 10] [--connections 50]
 *
 * Env: KEYLEDGER_BENCH_REDIS_URL (default redis://127.0.0.1:6379/0); the Redis run is skipped,
 * and says so, when Redis is not reachable.
 * Goal from issue 4: verify >= 0.75x the bare route's req/s, p99 <= 5 ms.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { startService, type ServiceProcess } from '../test/support/service-process.js';


const { values } = parseArgs({ options: { seconds: { type: 'string' }, connections: { type: 'string' } }, strict: true });
const SECONDS = Number(values.seconds ?? 10);
const CONNECTIONS = Number(values.connections ?? 50);
const REDIS_URL = process.env.KEYLEDGER_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const BENCH_DIR = fileURLToPath(new URL('./', import.meta.url));

interface Row {
  target: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  ratio: number | null;
}

/** The bare route: same body parsing and a small JSON answer, nothing else. */
const BARE_SERVER = `
import Fastify from 'fastify';
const app = Fastify({ logger: false });
app.post('/bare', async (request) => ({ ok: true, code: 'VALID', length: request.body.key.length }));
await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write('port=' + app.server.address().port + '\\n');
`;

async function startBare(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', BARE_SERVER], { cwd: BENCH_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /port=(\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`bare server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/bare`, child };
}

async function issueKey(service: ServiceProcess): Promise<string> {
  const response = await fetch(`${service.url}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${service.rootKey}`, 'content-type': 'application/json' },
    // Limits that never bite during the run, so every call goes through the limiter and answers VALID.
    body: JSON.stringify({
      consumerId: 'bench',
      scopes: ['orders:*'],
      rateLimit: { limit: 1_000_000_000, windowSeconds: 3600 },
      quota: { limit: 1_000_000_000_000, period: 'month' },
    }),
  });
  if (response.status !== 201) throw new Error(`issue failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { secret: string }).secret;
}

async function load(url: string, token: string, body: string, seconds = SECONDS): Promise<autocannon.Result> {
  return autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body,
  });
}

function row(target: string, result: autocannon.Result): Row {
  return {
    target,
    reqPerSec: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    ratio: null,
  };
}

async function measureVerify(label: string, env: Record<string, string>): Promise<{ verify: Row; check: string }> {
  // startService waits for the 'listening' info line; requests themselves are not logged.
  const service = await startService({ env: { KEYLEDGER_LOG_LEVEL: 'info', ...env } });
  try {
    const key = await issueKey(service);
    const body = JSON.stringify({ key, scopes: ['orders:read'] });
    const probe = await fetch(`${service.url}/v1/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${service.rootKey}`, 'content-type': 'application/json' },
      body,
    });
    const answer = (await probe.json()) as { code: string };
    if (answer.code !== 'VALID') throw new Error(`${label}: probe verify answered ${answer.code}`);
    await load(`${service.url}/v1/verify`, service.rootKey, body, 2); // warm-up
    const result = await load(`${service.url}/v1/verify`, service.rootKey, body);
    return { verify: row(label, result), check: answer.code };
  } finally {
    await service.stop();
  }
}

async function redisReachable(): Promise<boolean> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return true;
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const notes: string[] = [];

  const bare = await startBare();
  let bareRow: Row;
  try {
    const body = JSON.stringify({ key: 'kl_live_0000000000000000000000000000', scopes: ['orders:read'] });
    await load(bare.url, 'x', body, 2);
    bareRow = row('bare fastify route', await load(bare.url, 'x', body));
  } finally {
    bare.child.kill('SIGTERM');
  }
  rows.push(bareRow);

  rows.push((await measureVerify('verify, memory limiter (SQLite)', {})).verify);

  if (await redisReachable()) {
    const prefix = `klbench-${randomBytes(4).toString('hex')}:`;
    try {
      rows.push((await measureVerify('verify, Redis limiter (SQLite)', { KEYLEDGER_REDIS_URL: REDIS_URL, KEYLEDGER_REDIS_PREFIX: prefix })).verify);
    } finally {
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  } else {
    notes.push(`Redis run skipped: ${REDIS_URL} not reachable.`);
  }

  for (const r of rows) r.ratio = r === bareRow ? 1 : Number((r.reqPerSec / bareRow.reqPerSec).toFixed(2));

  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()} ${release()}, Node ${process.version}`;
  const header = ['target', 'req/s', 'p50 ms', 'p99 ms', 'x bare', 'errors', 'non-2xx'];
  const lines = rows.map((r) => [r.target, String(r.reqPerSec), String(r.p50Ms), String(r.p99Ms), r.ratio === null ? '' : r.ratio.toFixed(2), String(r.errors), String(r.non2xx)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const text = [header, ...lines].map((l) => l.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n');
  console.log(`\n${text}\n\n${machine}; ${CONNECTIONS} connections, ${SECONDS} s per target; autocannon in the bench process.`);
  for (const note of notes) console.log(note);

  const goal = 'verify >= 0.75x bare req/s and p99 <= 5 ms';
  const md = [
    '# Verify benchmark',
    '',
    `${machine}. autocannon, ${CONNECTIONS} connections, ${SECONDS} s per target after a 2 s warm-up; the service and the bare route each run in their own process, autocannon in the bench process, all on the same machine (so they compete for the same cores).`,
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...lines.map((l) => `| ${l.join(' | ')} |`),
    '',
    `Goal (issue 4): ${goal}.`,
    ...notes.map((n) => `\n${n}`),
    '',
    'Run: `pnpm build && npx tsx bench/verify.ts`.',
    '',
  ].join('\n');
  if (SECONDS >= 10 && CONNECTIONS === 50) {
    writeFileSync(`${RESULTS}verify.json`, `${JSON.stringify({ machine, connections: CONNECTIONS, seconds: SECONDS, goal, rows, notes, at: new Date().toISOString() }, null, 2)}\n`);
    writeFileSync(`${RESULTS}verify.md`, md);
  } else {
    console.log('(short or non-standard run: results not written)');
  }
}

await main();
