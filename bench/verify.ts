/**
 * Verify benchmark: autocannon (50 connections, its own process) against POST /v1/verify of the
 * built service (a real process, SQLite) for a key without limits, a key with rate limit + quota
 * on the memory limiter and on the Redis limiter, and in the same run against a bare fastify
 * route (its own process, same machine) that parses the same JSON body and returns a small JSON
 * object. Rounds: every target once per round, targets taking turns; each row is the median
 * round (by req/s) with the range. Reports req/s, p50, p99 and x bare.
 *
 *   pnpm build && npx tsx bench/verify.ts [--seconds 8] [--rounds 3] [--connections 50]
 *
 * Env: KEYLEDGER_BENCH_REDIS_URL (default redis://127.0.0.1:6379/0); the Redis run is skipped,
 * and says so, when Redis is not reachable.
 * Goals (issue 12): no limits >= 0.8x bare, memory limiter >= 0.7x, Redis >= 0.5x, p99 <= 5 ms.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startService, type ServiceProcess } from '../test/support/service-process.js';


const { values } = parseArgs({ options: { seconds: { type: 'string' }, connections: { type: 'string' }, rounds: { type: 'string' }, 'skip-better-auth': { type: 'boolean' } }, strict: true });
const SECONDS = Number(values.seconds ?? 8);
const ROUNDS = Number(values.rounds ?? 3);
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
  /** Slowest and fastest round (req/s). */
  range: [number, number];
}

interface Load {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

/** The bare route: same body parsing and a small JSON answer, nothing else. */
const BARE_SERVER = `
import Fastify from 'fastify';
const app = Fastify({ logger: false });
app.post('/bare', async (request) => ({ ok: true, code: 'VALID', length: request.body.key.length }));
await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write('port=' + app.server.address().port + '\\n');
`;

/** autocannon in a process of its own, so the load generator never shares the bench's event loop. */
const LOADER = `
import autocannon from 'autocannon';
const options = JSON.parse(process.argv[1]);
const r = await autocannon(options);
process.stdout.write(JSON.stringify({ reqPerSec: r.requests.average, p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx }));
`;

export async function startChildServer(source: string, cwd = BENCH_DIR, env: Record<string, string> = {}): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], { cwd, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /port=(\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return { port, child };
}

async function issueKey(service: ServiceProcess, limits: boolean): Promise<string> {
  const response = await fetch(`${service.url}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${service.rootKey}`, 'content-type': 'application/json' },
    // Limits that never bite during the run, so every call goes through the limiter and answers VALID.
    body: JSON.stringify({
      consumerId: 'bench',
      scopes: ['orders:*'],
      ...(limits ? { rateLimit: { limit: 1_000_000_000, windowSeconds: 3600 }, quota: { limit: 1_000_000_000_000, period: 'month' } } : {}),
    }),
  });
  if (response.status !== 201) throw new Error(`issue failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { secret: string }).secret;
}

async function load(url: string, token: string, body: string, seconds = SECONDS): Promise<Load> {
  const options = {
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: seconds,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body,
  };
  const child = spawn(process.execPath, ['--input-type=module', '-e', LOADER, JSON.stringify(options)], { cwd: BENCH_DIR, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`autocannon exited with ${code}`);
  const r = JSON.parse(out) as Load;
  return { ...r, reqPerSec: Math.round(r.reqPerSec) };
}

/** A target to load: its URL, bearer and body, and how to stop it. */
interface Target {
  label: string;
  url: string;
  token: string;
  body: string;
  stop(): Promise<void>;
}

async function verifyTarget(label: string, env: Record<string, string>, limits: boolean): Promise<Target> {
  // startService waits for the 'listening' info line; requests themselves are not logged.
  const service = await startService({ env: { KEYLEDGER_LOG_LEVEL: 'info', ...env } });
  try {
    const key = await issueKey(service, limits);
    const body = JSON.stringify({ key, scopes: ['orders:read'] });
    const probe = await fetch(`${service.url}/v1/verify`, {
      method: 'POST',
      headers: { authorization: `Bearer ${service.rootKey}`, 'content-type': 'application/json' },
      body,
    });
    const answer = (await probe.json()) as { code: string; limits: { rate: unknown } };
    if (answer.code !== 'VALID') throw new Error(`${label}: probe verify answered ${answer.code}`);
    if ((answer.limits.rate !== null) !== limits) throw new Error(`${label}: the key's limits are not what the row says`);
    return { label, url: `${service.url}/v1/verify`, token: service.rootKey, body, stop: async () => void (await service.stop()) };
  } catch (error) {
    await service.stop();
    throw error;
  }
}

async function bareTarget(): Promise<Target> {
  const { port, child } = await startChildServer(BARE_SERVER);
  return {
    label: 'bare fastify route',
    url: `http://127.0.0.1:${port}/bare`,
    token: 'x',
    body: JSON.stringify({ key: 'kl_live_0000000000000000000000000000', scopes: ['orders:read'] }),
    stop: async () => void child.kill('SIGTERM'),
  };
}

/** better-auth 1.7 + its API key plugin on SQLite, `verifyApiKey` behind the same fastify route (bench/lib/better-auth-server.mjs). */
async function betterAuthTarget(rateLimit: boolean): Promise<Target> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./lib/better-auth-server.mjs', import.meta.url))], {
    cwd: BENCH_DIR,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_RATE_LIMIT: rateLimit ? '1' : '0' },
  });
  const { port, key } = await new Promise<{ port: number; key: string }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const port = /port=(\d+)/.exec(out);
      const key = /key=(\S+)/.exec(out);
      if (port && key) resolve({ port: Number(port[1]), key: key[1]! });
    });
    child.once('exit', (code) => reject(new Error(`better-auth server exited with ${code}`)));
  });
  return {
    label: `better-auth 1.7 verifyApiKey (SQLite), its rate limiter ${rateLimit ? 'on' : 'off'}`,
    url: `http://127.0.0.1:${port}/verify`,
    token: 'x',
    body: JSON.stringify({ key, scopes: ['orders:read'] }),
    stop: async () => void child.kill('SIGTERM'),
  };
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

/** Extra targets other modules add (bench/lib/better-auth-target.ts), each started once. */
export type TargetFactory = () => Promise<Target>;

async function main(extra: TargetFactory[] = []): Promise<void> {
  const notes: string[] = [];
  const targets: Target[] = [];
  const prefix = `klbench-${randomBytes(4).toString('hex')}:`;
  const withRedis = await redisReachable();
  try {
    targets.push(await bareTarget());
    targets.push(await verifyTarget('verify, key without limits (SQLite)', {}, false));
    targets.push(await verifyTarget('verify, rate limit + quota, memory limiter (SQLite)', {}, true));
    if (withRedis) targets.push(await verifyTarget('verify, rate limit + quota, Redis limiter (SQLite)', { KEYLEDGER_REDIS_URL: REDIS_URL, KEYLEDGER_REDIS_PREFIX: prefix }, true));
    else notes.push(`Redis run skipped: ${REDIS_URL} not reachable.`);
    for (const make of extra) targets.push(await make());

    for (const t of targets) await load(t.url, t.token, t.body, 2); // warm-up
    const rounds = new Map<string, Load[]>(targets.map((t) => [t.label, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const t of targets) {
        const result = await load(t.url, t.token, t.body);
        rounds.get(t.label)!.push(result);
        console.error(`round ${round + 1}/${ROUNDS} ${t.label}: ${result.reqPerSec} req/s, p99 ${result.p99Ms} ms`);
      }
    }
    const rows: Row[] = targets.map((t) => {
      const results = [...rounds.get(t.label)!].sort((a, b) => a.reqPerSec - b.reqPerSec);
      const median = results[Math.floor(results.length / 2)]!;
      return { target: t.label, ...median, ratio: null, range: [results[0]!.reqPerSec, results.at(-1)!.reqPerSec] };
    });
    const bareRow = rows[0]!;
    for (const r of rows) r.ratio = Number((r.reqPerSec / bareRow.reqPerSec).toFixed(2));
    report(rows, notes);
  } finally {
    for (const t of targets) await t.stop().catch(() => undefined);
    if (withRedis) {
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    }
  }
}

function report(rows: Row[], notes: string[]): void {
  const load1 = loadavg()[0]?.toFixed(1) ?? '?';
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()} ${release()}, Node ${process.version}`;
  const header = ['target', 'req/s', 'range (rounds)', 'p50 ms', 'p99 ms', 'x bare', 'errors', 'non-2xx'];
  const lines = rows.map((r) => [r.target, String(r.reqPerSec), `${r.range[0]}-${r.range[1]}`, String(r.p50Ms), String(r.p99Ms), r.ratio === null ? '' : r.ratio.toFixed(2), String(r.errors), String(r.non2xx)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const text = [header, ...lines].map((l) => l.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n');
  console.log(`\n${text}\n\n${machine}; ${CONNECTIONS} connections, median of ${ROUNDS} rounds of ${SECONDS} s; load average ${load1} at the end.`);
  for (const note of notes) console.log(note);

  const goal = 'no limits >= 0.8x bare, rate limit + quota on the memory limiter >= 0.7x, on Redis >= 0.5x; p99 <= 5 ms in every case';
  const md = [
    '# Verify benchmark',
    '',
    `${machine}. autocannon (its own process), ${CONNECTIONS} connections, ${ROUNDS} rounds of ${SECONDS} s after a 2 s warm-up per target, targets taking turns within a round; each row is the median round by req/s. The service, the bare route and autocannon each run in their own process on the same 2 cores, shared with other work (load average ${load1} at the end of the run), so compare ratios within this run, not absolute numbers across runs.`,
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...lines.map((l) => `| ${l.join(' | ')} |`),
    '',
    `Goals (issue 12): ${goal}.`,
    ...notes.map((n) => `\n${n}`),
    '',
    'Run: `pnpm build && npx tsx bench/verify.ts` (or `pnpm bench verify`).',
    '',
  ].join('\n');
  if (SECONDS >= 8 && ROUNDS >= 3 && CONNECTIONS === 50) {
    writeFileSync(`${RESULTS}verify.json`, `${JSON.stringify({ machine, connections: CONNECTIONS, seconds: SECONDS, rounds: ROUNDS, loadAverage: load1, goal, rows, notes, at: new Date().toISOString() }, null, 2)}\n`);
    writeFileSync(`${RESULTS}verify.md`, md);
  } else {
    console.log('(short or non-standard run: results not written)');
  }
}

// better-auth is a bench-only dev dependency; `--skip-better-auth` leaves its rows out.
await main(process.argv.includes('--skip-better-auth') ? [] : [() => betterAuthTarget(false), () => betterAuthTarget(true)]);
