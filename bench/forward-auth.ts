/**
 * Forward-auth benchmark: autocannon (50 connections) through real nginx (examples/nginx/nginx.conf,
 * one worker) to the example upstream, with auth_request asking keyledger (a real process, SQLite,
 * memory limiter) on every request, against the same nginx config with `auth_request off`, in the
 * same run. Reports req/s, p50, p99 and auth/no-auth.
 *
 *   pnpm build && npx tsx bench/forward-auth.ts [--seconds 10] [--connections 50]
 *
 * Goal from issue 15: nginx with auth_request to keyledger >= 0.5x the req/s of nginx without auth.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startService, type ServiceProcess } from '../test/support/service-process.js';
import { startNginx, startUpstream, type RunningProcess } from '../test/gateways/support/gateways.js';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, connections: { type: 'string' } }, strict: true });
const SECONDS = Number(values.seconds ?? 10);
const CONNECTIONS = Number(values.connections ?? 50);
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
const GOAL = 0.5;

interface Row {
  target: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  ratio: number | null;
}

async function issue(service: ServiceProcess, body: Record<string, unknown>): Promise<string> {
  const response = await fetch(`${service.url}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${service.rootKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (response.status !== 201) throw new Error(`issue failed: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { secret: string }).secret;
}

async function load(url: string, key: string, seconds = SECONDS): Promise<autocannon.Result> {
  return autocannon({ url, connections: CONNECTIONS, duration: seconds, headers: { authorization: `Bearer ${key}` } });
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

async function measure(label: string, gateway: RunningProcess, key: string): Promise<Row> {
  const url = `${gateway.url}/orders/1`;
  const probe = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  if (probe.status !== 200) throw new Error(`${label}: probe answered ${probe.status} ${await probe.text()}`);
  await load(url, key, 2); // warm-up
  return row(label, await load(url, key));
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!.toFixed(1);
  const service = await startService({ env: { KEYLEDGER_FORWARD_AUTH_SCOPES: JSON.stringify({ 'GET /orders/**': ['orders:read'] }) } });
  const upstream = await startUpstream();
  const gateways: RunningProcess[] = [];
  const rows: Row[] = [];
  try {
    const gatewayKey = await issue(service, { consumerId: 'gateway', permissions: ['keys:verify'] });
    // Limits that never bite during the run, so every request goes through scope, rate and quota checks.
    const key = await issue(service, {
      consumerId: 'bench',
      scopes: ['orders:*'],
      rateLimit: { limit: 1_000_000_000, windowSeconds: 3600 },
      quota: { limit: 1_000_000_000_000, period: 'month' },
    });
    const addresses = { keyledger: `127.0.0.1:${service.port}`, upstream: `127.0.0.1:${upstream.port}`, gatewayKey };
    const bare = await startNginx({ ...addresses, edit: (config) => config.replace('auth_request /_keyledger;', 'auth_request off;') });
    gateways.push(bare);
    const authed = await startNginx(addresses);
    gateways.push(authed);

    // The baseline must really skip keyledger, and the measured one must really ask it.
    const unauthenticated = await fetch(`${bare.url}/orders/1`);
    if (unauthenticated.status !== 200) throw new Error(`nginx without auth answered ${unauthenticated.status}`);
    const refused = await fetch(`${authed.url}/orders/1`);
    if (refused.status !== 401) throw new Error(`nginx with auth_request let a request without a key through (${refused.status})`);

    rows.push(await measure('nginx -> upstream (no auth)', bare, key));
    rows.push(await measure('nginx -> upstream, auth_request to keyledger', authed, key));
  } finally {
    for (const gateway of gateways) await gateway.stop();
    await upstream.stop();
    await service.stop();
  }

  const baseline = rows[0]!;
  for (const r of rows) r.ratio = Number((r.reqPerSec / baseline.reqPerSec).toFixed(2));
  const ratio = rows[1]!.ratio!;

  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ${platform()} ${release()}, Node ${process.version}`;
  const header = ['target', 'req/s', 'p50 ms', 'p99 ms', 'x no auth', 'errors', 'non-2xx'];
  const lines = rows.map((r) => [r.target, String(r.reqPerSec), String(r.p50Ms), String(r.p99Ms), r.ratio!.toFixed(2), String(r.errors), String(r.non2xx)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const text = [header, ...lines].map((l) => l.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')).join('\n');
  const verdict = `auth/no-auth = ${ratio.toFixed(2)} (goal >= ${GOAL}): ${ratio >= GOAL ? 'met' : 'NOT met'}`;
  console.log(`\n${text}\n\n${verdict}\n${machine}; ${CONNECTIONS} connections, ${SECONDS} s per target; autocannon in the bench process.`);

  const md = [
    '# Forward-auth benchmark (nginx auth_request)',
    '',
    `${machine}. nginx ${nginxVersion()} with examples/nginx/nginx.conf (1 worker, kept-alive upstream connections), the example upstream (node:http), keyledger (SQLite, memory limiter); autocannon, ${CONNECTIONS} connections, ${SECONDS} s per target after a 2 s warm-up, GET /orders/1 with a key that has a scope, a rate limit and a quota. Baseline: the same nginx config with \`auth_request off\`, same run. Everything runs on the same machine and competes for the same cores.`,
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...lines.map((l) => `| ${l.join(' | ')} |`),
    '',
    `Load average (1 min) when the run started: ${loadBefore} on ${cpus().length} cores shared with other work; figures from a busy machine move by tens of percent between runs.`,
    '',
    `Goal (issue 15): nginx with auth_request to keyledger >= ${GOAL}x the req/s of nginx without auth. This run: ${verdict}.`,
    '',
    'Run: `pnpm build && npx tsx bench/forward-auth.ts` (or `pnpm bench forward-auth`).',
    '',
  ].join('\n');
  if (SECONDS >= 10 && CONNECTIONS === 50) {
    writeFileSync(`${RESULTS}forward-auth.json`, `${JSON.stringify({ machine, connections: CONNECTIONS, seconds: SECONDS, goal: `auth/no-auth >= ${GOAL}`, rows, at: new Date().toISOString() }, null, 2)}\n`);
    writeFileSync(`${RESULTS}forward-auth.md`, md);
  } else {
    console.log('(short or non-standard run: results not written)');
  }
}

function nginxVersion(): string {
  const { stderr } = spawnSync('nginx', ['-v'], { encoding: 'utf8' });
  return /nginx\/(\S+)/.exec(stderr)?.[1] ?? 'unknown';
}

await main();
