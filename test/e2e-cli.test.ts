/**
 * The `keyledger` command as a user meets it (the built CLI in child processes, run from a folder
 * outside the repository): --version, openapi to stdout or --out, one-line errors without stacks,
 * the first start's root key (created only once the port is bound, printed as one block), and one
 * serving process per SQLite ledger while limits are counted in memory.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVICE_ENTRY, type ServiceProcess, startService } from './support/service-process.js';
import { REDIS_URL, skipWithoutRedis, uniqueName } from './support/services.js';

const outside = mkdtempSync(join(tmpdir(), 'keyledger-cli-'));
afterAll(() => rmSync(outside, { recursive: true, force: true }));

const VERSION = (JSON.parse(readFileSync(new URL('../packages/service/package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion in `outside` with only the given environment. */
function cli(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [SERVICE_ENTRY, ...args], { cwd: outside, env: { PATH: process.env.PATH ?? '', ...env }, timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

/** One line, starting `keyledger: `, and no stack trace anywhere. */
function oneLine(result: Result): string {
  const text = result.stderr.trimEnd();
  expect(text.split('\n'), result.stderr).toHaveLength(1);
  expect(result.stderr + result.stdout).not.toMatch(/\n\s+at /);
  expect(text).toMatch(/^keyledger: /);
  return text;
}

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

const ROOT_KEY_LINE = /^ {6}(kl_live_[0-9A-Za-z]{28})$/m;

describe('keyledger CLI basics', () => {
  it('--version prints the package version', async () => {
    const result = await cli(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(VERSION);
  });

  it('openapi writes the document to stdout, or to --out (relative to where it runs), from any folder', async () => {
    const toStdout = await cli(['openapi']);
    expect(toStdout.code).toBe(0);
    const document = JSON.parse(toStdout.stdout) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toContain('/v1/verify');

    const toFile = await cli(['openapi', '--out', 'openapi.json']);
    expect(toFile.code).toBe(0);
    expect(toFile.stdout).toBe('');
    expect(JSON.parse(readFileSync(join(outside, 'openapi.json'), 'utf8'))).toEqual(document);
  });

  it('user mistakes end in one line naming the problem, never a stack', async () => {
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [['--bogus'], {}, 1, /unknown option '--bogus'/],
      [['openapi', '--out', join(outside, 'missing-dir', 'x.json')], {}, 1, /no such file or directory: .*missing-dir/],
      [['serve'], { PORT: 'eighty', KEYLEDGER_LOG_LEVEL: 'loud' }, 2, /invalid configuration: .*PORT.*KEYLEDGER_LOG_LEVEL/],
      [['serve'], { KEYLEDGER_DATA_DIR: join(outside, 'd1'), KEYLEDGER_ROOT_KEY: 'kl_live_not-a-key', PORT: '0' }, 1, /KEYLEDGER_ROOT_KEY is not a well-formed keyledger key/],
      [['serve'], { KEYLEDGER_DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', PORT: '0' }, 1, /cannot reach 127\.0\.0\.1:1 \(ECONNREFUSED\)/],
    ];
    for (const [args, env, code, message] of cases) {
      const result = await cli(args, env);
      const line = oneLine(result);
      console.log(`keyledger ${args.join(' ')} ${JSON.stringify(env)} -> exit ${result.code}: ${line}`);
      expect(result.code).toBe(code);
      expect(line).toMatch(message);
    }
  });
});

describe('first start', () => {
  it('a port in use: one line, no root key created; the next start creates it and prints it as one block', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-first-'));
    const { port, server } = await occupiedPort();
    try {
      const failed = await cli(['serve'], { HOST: '127.0.0.1', PORT: String(port), KEYLEDGER_DATA_DIR: dataDir });
      expect(failed.code).toBe(1);
      expect(oneLine(failed)).toContain(`127.0.0.1:${port} is already in use`);
      expect(failed.stdout).not.toMatch(/kl_live_/);
    } finally {
      server.close();
    }

    const service = await startService({ dataDir, env: { KEYLEDGER_ROOT_KEY: '' } });
    try {
      const output = service.output();
      const rootKey = ROOT_KEY_LINE.exec(output)?.[1];
      expect(rootKey, output).toBeDefined();
      // The block: rules around a line that names it, the key alone on its line, where to go if lost.
      expect(output).toMatch(/={78}\n {2}keyledger root key \(admin permission\)[^\n]*\n\n {6}kl_live_\w+\n\n[^\n]*keyledger root-key reset[^\n]*\n={78}/);
      // Printed once: the key is nowhere else in the output (no log line carries it).
      expect(output.split(rootKey!).length - 1).toBe(1);
      const keys = await fetch(`${service.url}/v1/keys`, { headers: { authorization: `Bearer ${rootKey}` } });
      expect(keys.status).toBe(200);
    } finally {
      await service.stop();
    }

    // A restart on the same ledger prints no key.
    const again = await startService({ dataDir, env: { KEYLEDGER_ROOT_KEY: '' } });
    try {
      expect(again.output()).not.toMatch(ROOT_KEY_LINE);
    } finally {
      await again.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('one serving process per SQLite ledger with in-memory limits', () => {
  it('a second process on the same data directory refuses to start, in one line; kill -9 of the first releases the ledger', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-lock-'));
    let first: ServiceProcess | undefined = await startService({ dataDir });
    try {
      const second = await cli(['serve'], { HOST: '127.0.0.1', PORT: '0', KEYLEDGER_DATA_DIR: dataDir, KEYLEDGER_ROOT_KEY: first.rootKey });
      const line = oneLine(second);
      console.log(`second process: exit ${second.code}: ${line}`);
      expect(second.code).toBe(1);
      expect(line).toContain('another keyledger process is serving the ledger');
      expect(line).toContain('KEYLEDGER_REDIS_URL');
      // The first one is unaffected.
      expect((await fetch(`${first.url}/readyz`)).status).toBe(200);

      // A crash leaves no stale lock behind.
      await first.stop('SIGKILL');
      first = await startService({ dataDir, rootKey: first.rootKey });
      expect((await fetch(`${first.url}/readyz`)).status).toBe(200);
    } finally {
      await first?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it.skipIf(skipWithoutRedis)('with limits shared through Redis, two processes may serve one SQLite ledger', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyledger-lock-redis-'));
    const env = { KEYLEDGER_REDIS_URL: REDIS_URL!, KEYLEDGER_REDIS_PREFIX: `${uniqueName('kl_cli')}:` };
    const first = await startService({ dataDir, env });
    let second: ServiceProcess | undefined;
    try {
      second = await startService({ dataDir, env, rootKey: first.rootKey });
      for (const service of [first, second]) expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
    } finally {
      await second?.stop();
      await first.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

