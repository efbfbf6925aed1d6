#!/usr/bin/env node
// Runs benchmarks one after another: `node bench/run.mjs [name...]` (what `pnpm bench` calls).
// A benchmark is a `bench/<name>.ts` script; with no names, every one runs. Each runs in its own
// process under tsx so one benchmark's warm JIT, pools or leaks never colour the next.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Listed explicitly (not globbed) so helper scripts never run as benchmarks by accident. */
const BENCHMARKS = ['event-store', 'verifier', 'propagation', 'verify', 'forward-auth', 'multi-append', 'startup', 'tlog', 'limiter', 'memory', 'issue-throughput', 'emmett-consumer-check', 'audit', 'projection-rebuild'];
/** Node flags a benchmark needs (memory.ts measures after a full GC). */
const NODE_FLAGS = { memory: ['--expose-gc'] };

const require = createRequire(import.meta.url);
const tsxCli = require.resolve('tsx/cli');

const requested = process.argv.slice(2);
const unknown = requested.filter((name) => !BENCHMARKS.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${BENCHMARKS.join(', ')}`);
  process.exit(2);
}

let failed = 0;
for (const name of requested.length > 0 ? requested : BENCHMARKS) {
  const script = fileURLToPath(new URL(`./${name}.ts`, import.meta.url));
  if (!existsSync(script)) {
    console.error(`benchmark ${name}: ${script} is missing`);
    failed++;
    continue;
  }
  console.error(`\n== ${name} ==`);
  const { status, signal } = spawnSync(process.execPath, [tsxCli, ...(NODE_FLAGS[name] ?? []), script], { stdio: 'inherit' });
  if (status !== 0) {
    console.error(`benchmark ${name} failed (${signal ?? `exit ${status}`})`);
    failed++;
  }
}
process.exit(failed > 0 ? 1 : 0);
