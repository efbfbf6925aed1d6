/**
 * Where the service spends its time under verify load: starts the built service with
 * `node --cpu-prof`, issues one key (no limits, or rate limit + quota), drives POST /v1/verify
 * with autocannon (50 connections) and prints the profile's self time by area and by function.
 * A helper for bench/README.md's profile section, not one of `pnpm bench`'s benchmarks.
 *
 *   pnpm build && npx tsx bench/profile-verify.ts [--limits none|limits] [--seconds 8] [--out file.md]
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startService } from '../test/support/service-process.js';
import { summariseProfile } from './lib/cpu-profile.js';

const { values } = parseArgs({ options: { limits: { type: 'string' }, seconds: { type: 'string' }, out: { type: 'string' } }, strict: true });
const withLimits = (values.limits ?? 'none') !== 'none';
const seconds = Number(values.seconds ?? 8);

const dir = mkdtempSync(join(tmpdir(), 'kl-prof-'));
const service = await startService({ nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
let result: autocannon.Result;
try {
  const response = await fetch(`${service.url}/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${service.rootKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      consumerId: 'bench',
      scopes: ['orders:*'],
      ...(withLimits ? { rateLimit: { limit: 1_000_000_000, windowSeconds: 3600 }, quota: { limit: 1_000_000_000_000, period: 'month' } } : {}),
    }),
  });
  const key = ((await response.json()) as { secret: string }).secret;
  const run = (duration: number) =>
    autocannon({
      url: `${service.url}/v1/verify`,
      method: 'POST',
      connections: 50,
      duration,
      headers: { authorization: `Bearer ${service.rootKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ key, scopes: ['orders:read'] }),
    });
  await run(2);
  result = await run(seconds);
} finally {
  await service.stop();
}
const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
if (!file) throw new Error('no profile written');
const summary = summariseProfile(join(dir, file), 30);
rmSync(dir, { recursive: true, force: true });
const lines = [
  `verify ${withLimits ? 'rate limit + quota (memory limiter)' : 'key without limits'}: ${Math.round(result.requests.average)} req/s, p99 ${result.latency.p99} ms; busy ${summary.busyMs} ms, idle ${summary.idleMs} ms (whole process life)`,
  '',
  '| area (self time) | % busy |',
  '|---|---:|',
  ...summary.areas.slice(0, 15).map((a) => `| ${a.area} | ${a.share} |`),
  '',
  '| function (self time) | where | % busy |',
  '|---|---|---:|',
  ...summary.functions.map((f) => `| ${f.name} | ${f.where} | ${f.share} |`),
  '',
];
console.log(lines.join('\n'));
if (values.out) writeFileSync(values.out, lines.join('\n'));
